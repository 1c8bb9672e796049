"""The `TelemetryBatch` message: readings of a device's channels, in the order its outbox numbered them.

Imported through `contract.wire`, which routes it by topic like every other message.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from contract.errors import ProtocolError
from contract.fields import UNIT_PATTERN, Fields, check_id, is_number, seq_in_range
from contract.timestamps import format_ts, parse_ts

MAX_BATCH_READINGS = 1000
MAX_CHANNELS = 64


def _new_message_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class ChannelRef:
    """A channel as sent on the wire: its name and the unit of its values."""

    name: str
    unit: str


@dataclass(frozen=True)
class Reading:
    """One timestamped sample of all of a batch's channels; `None` marks a missing value."""

    seq: int
    ts: float
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class TelemetryBatch:
    tenant: str
    device_id: str
    channels: tuple[ChannelRef, ...]
    readings: tuple[Reading, ...]
    sent_at: float
    message_id: str = field(default_factory=_new_message_id)
    install: str = ""


def telemetry_body(msg: TelemetryBatch) -> dict[str, Any]:
    """The fields of a telemetry payload beyond the common ones (`v`, `type`, ids, `install`)."""
    return {
        "sent_at": format_ts(msg.sent_at),
        "channels": [{"name": c.name, "unit": c.unit} for c in msg.channels],
        "readings": [{"seq": r.seq, "ts": format_ts(r.ts), "values": list(r.values)} for r in msg.readings],
    }


def decode_telemetry(body: Fields, common: dict[str, Any]) -> TelemetryBatch:
    channels = tuple(_channel(c, f"channels[{i}]") for i, c in enumerate(body.get("channels", list)))
    if not 0 < len(channels) <= MAX_CHANNELS:
        raise ProtocolError(f"channels: expected 1 to {MAX_CHANNELS}, got {len(channels)}")
    if len({c.name for c in channels}) != len(channels):
        raise ProtocolError("channels: a channel name appears twice")
    rows = body.get("readings", list)
    if not 0 < len(rows) <= MAX_BATCH_READINGS:
        raise ProtocolError(f"readings: expected 1 to {MAX_BATCH_READINGS}, got {len(rows)}")
    readings: list[Reading] = []
    for i, row in enumerate(rows):
        fields = Fields(row, f"readings[{i}]")
        seq = seq_in_range(fields.get("seq", int), f"readings[{i}].seq")
        if readings and seq <= readings[-1].seq:
            raise ProtocolError(f"readings[{i}].seq {seq} does not increase")
        values = fields.get("values", list)
        if len(values) != len(channels):
            raise ProtocolError(f"readings[{i}].values: {len(values)} values for {len(channels)} channels")
        for value in values:
            if value is not None and not is_number(value):
                raise ProtocolError(f"readings[{i}].values: {value!r} is not a number or null")
        ts = parse_ts(fields.get("ts", str), f"readings[{i}].ts")
        readings.append(Reading(seq, ts, tuple(None if v is None else float(v) for v in values)))
    sent_at = parse_ts(body.get("sent_at", str), "sent_at")
    return TelemetryBatch(channels=channels, readings=tuple(readings), sent_at=sent_at, **common)


def _channel(raw: object, path: str) -> ChannelRef:
    fields = Fields(raw, path)
    name, unit = fields.get("name", str), fields.get("unit", str)
    check_id(f"{path}.name", name)
    if not UNIT_PATTERN.match(unit):
        raise ProtocolError(f"{path}.unit: {unit[:20]!r} is not a unit symbol")
    return ChannelRef(name, unit)
