"""The `Usage` message: a device's cumulative usage counters (operating hours, kWh, cycles).

Counters are cumulative since the device's meter started and never decrease, so a
lost or duplicated report is harmless: the cloud takes differences between reports.
Imported through `contract.wire`, which routes it by topic like every other message.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from contract.errors import ProtocolError
from contract.fields import ID_PATTERN, UNIT_PATTERN, Fields, is_number, seq_in_range
from contract.timestamps import format_ts, parse_ts

MAX_COUNTERS = 64


def _new_message_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Usage:
    """Report `seq` of a device's meter: cumulative `counters` (name -> value) in `units` (name -> unit)."""

    tenant: str
    device_id: str
    seq: int
    ts: float
    period_start: float
    period_end: float
    counters: dict[str, float]
    units: dict[str, str]
    message_id: str = field(default_factory=_new_message_id)
    install: str = ""  # the outbox that numbered `seq` (contract.wire)


def usage_body(msg: Usage) -> dict[str, Any]:
    """The fields of a Usage payload beyond the common ones (`v`, `type`, ids)."""
    return {
        "seq": msg.seq,
        "ts": format_ts(msg.ts),
        "period_start": format_ts(msg.period_start),
        "period_end": format_ts(msg.period_end),
        "counters": dict(msg.counters),
        "units": dict(msg.units),
    }


def decode_usage(body: Fields, common: dict[str, Any]) -> Usage:
    counters = body.get("counters", dict)
    units = body.get("units", dict)
    if not 0 < len(counters) <= MAX_COUNTERS:
        raise ProtocolError(f"counters: expected 1 to {MAX_COUNTERS}, got {len(counters)}")
    for name, value in counters.items():
        if not ID_PATTERN.match(name):
            raise ProtocolError(f"counters: {name[:80]!r} is not a counter name")
        # Cumulative meters start at zero and only grow: a negative value is a broken meter.
        if not is_number(value) or value < 0:
            raise ProtocolError(f"counters.{name}: expected a finite number >= 0")
    if set(units) != set(counters):
        raise ProtocolError("units: expected exactly one unit per counter")
    for name, unit in units.items():
        if not isinstance(unit, str) or not UNIT_PATTERN.match(unit):
            raise ProtocolError(f"units.{name}: {str(unit)[:20]!r} is not a unit symbol")
    start = parse_ts(body.get("period_start", str), "period_start")
    end = parse_ts(body.get("period_end", str), "period_end")
    if end < start:
        raise ProtocolError("period_end is before period_start")
    return Usage(
        seq=seq_in_range(body.get("seq", int), "seq"),
        ts=parse_ts(body.get("ts", str)),
        period_start=start,
        period_end=end,
        counters={k: float(v) for k, v in counters.items()},
        units={k: str(v) for k, v in units.items()},
        **common,
    )
