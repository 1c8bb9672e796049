"""The `Confirm` message: what the cloud has committed for one device, so the device may forget it.

The broker's PUBACK only says the broker has a message; a broker crash, a lost session
or a failover can still lose it. So the cloud confirms, after its transaction commits,
on the device's own `confirm` topic: the reading seqs it holds (inclusive ranges, new
or already stored) and the message ids of the events and usage reports it holds. The
agent keeps every row until it is confirmed and re-sends what stays unconfirmed; the
cloud dedupes, so a re-send is harmless and is confirmed again.

`install` names the device's outbox (a new one after the state directory was lost):
seqs are numbered per outbox, so a confirmation speaks only for the outbox it names.
Imported through `contract.wire`, which routes it by topic like every other message.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from contract.errors import ProtocolError
from contract.fields import Fields, check_id, optional_id, seq_in_range
from contract.timestamps import format_ts, parse_ts

MAX_RANGES = 1000
MAX_IDS = 1000


@dataclass(frozen=True)
class Confirm:
    """Rows of `install` the cloud has stored for a device: reading seq ranges, event and usage message ids."""

    tenant: str
    device_id: str
    ts: float
    install: str = ""
    readings: tuple[tuple[int, int], ...] = ()
    events: tuple[str, ...] = ()
    usage: tuple[str, ...] = ()
    message_id: str = field(default_factory=lambda: uuid.uuid4().hex)


def confirm_body(msg: Confirm) -> dict[str, Any]:
    """The fields of a Confirm payload beyond the common ones (`v`, `type`, ids)."""
    return {
        "ts": format_ts(msg.ts),
        "install": msg.install,
        "readings": [[first, last] for first, last in msg.readings],
        "events": list(msg.events),
        "usage": list(msg.usage),
    }


def decode_confirm(body: Fields, common: dict[str, Any]) -> Confirm:
    ranges = body.raw.get("readings") or []
    if not isinstance(ranges, list) or len(ranges) > MAX_RANGES:
        raise ProtocolError(f"readings: expected a list of at most {MAX_RANGES} [first, last] seq ranges")
    readings = []
    for i, pair in enumerate(ranges):
        if not (isinstance(pair, list) and len(pair) == 2 and all(type(s) is int for s in pair)):
            raise ProtocolError(f"readings[{i}]: expected [first, last]")
        first, last = (seq_in_range(s, f"readings[{i}]") for s in pair)
        if last < first:
            raise ProtocolError(f"readings[{i}]: last {last} is before first {first}")
        readings.append((first, last))
    return Confirm(
        ts=parse_ts(body.get("ts", str)),
        install=optional_id(body, "install"),
        readings=tuple(readings),
        events=_ids(body, "events"),
        usage=_ids(body, "usage"),
        **common,
    )


def _ids(body: Fields, key: str) -> tuple[str, ...]:
    values = body.raw.get(key) or []
    if not isinstance(values, list) or len(values) > MAX_IDS:
        raise ProtocolError(f"{key}: expected a list of at most {MAX_IDS} message ids")
    for value in values:
        if not isinstance(value, str):
            raise ProtocolError(f"{key}: {value!r} is not a message id")
        check_id(key, value)
    return tuple(values)
