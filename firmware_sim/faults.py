"""Injected faults: what goes wrong in a simulated device, from when, and how badly.

A fault is written as text so a command line or a fleet plan can carry it:

    KIND[@ONSET][:CHANNEL][,ramp=SECONDS][,severity=LEVEL]

e.g. ``bearing_wear``, ``cavitation@30``, ``sensor_drift@10:pressure`` or
``valve_closure@12.5,ramp=8,severity=0.6``. `str(spec)` writes the same form, so a
spec survives a round trip through text unchanged.

Every fault ramps linearly from nothing at its onset to `severity` after `ramp_s`,
except a stuck sensor: it freezes at its onset, whatever the ramp (severity 0 is no fault).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum


class FaultKind(StrEnum):
    """The faults a simulator can inject."""

    BEARING_WEAR = "bearing_wear"
    CAVITATION = "cavitation"
    VALVE_CLOSURE = "valve_closure"
    SENSOR_STUCK = "sensor_stuck"
    SENSOR_DRIFT = "sensor_drift"


# Faults of one sensor, not of the machine: only these name a channel.
SENSOR_FAULTS: frozenset[FaultKind] = frozenset({FaultKind.SENSOR_STUCK, FaultKind.SENSOR_DRIFT})

_SYNTAX = "KIND[@ONSET][:CHANNEL][,ramp=SECONDS][,severity=LEVEL]"
_HEAD = re.compile(r"^(?P<kind>[a-z_]+)(?:@(?P<onset>[^:,]+))?(?::(?P<channel>[A-Za-z0-9_]+))?$")


@dataclass(frozen=True)
class FaultSpec:
    """One fault to inject: its kind, onset, ramp to full severity and (sensor faults) channel."""

    kind: FaultKind
    onset_s: float = 15.0  # simulated seconds after start when the fault begins
    ramp_s: float = 20.0  # seconds from onset to full severity
    severity: float = 1.0
    channel: str | None = None  # sensor faults only; None means the simulator's default channel

    def __post_init__(self) -> None:
        # Coerce so a spec built from a plain string kind compares equal to a parsed one.
        object.__setattr__(self, "kind", FaultKind(self.kind))
        for name in ("onset_s", "ramp_s", "severity"):
            value = float(getattr(self, name))
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"fault {name} must be a finite number >= 0, got {value!r}")
            object.__setattr__(self, name, value)
        if self.channel is not None and self.kind not in SENSOR_FAULTS:
            raise ValueError(f"fault {self.kind.value} affects the machine, not one channel; drop ':{self.channel}'")

    def level(self, elapsed_s: float) -> float:
        """Severity reached at `elapsed_s`: 0 before onset, ramping linearly to `severity`."""
        if elapsed_s < self.onset_s:
            return 0.0
        if self.ramp_s <= 0:
            return self.severity
        return self.severity * min(1.0, (elapsed_s - self.onset_s) / self.ramp_s)

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """Read a spec written as KIND[@ONSET][:CHANNEL][,ramp=S][,severity=X]; ValueError if malformed."""
        head, *options = [part.strip() for part in text.strip().split(",")]
        match = _HEAD.match(head)
        if match is None or match["kind"] not in {k.value for k in FaultKind}:
            kinds = ", ".join(k.value for k in FaultKind)
            raise ValueError(f"cannot read fault {text!r}: expected {_SYNTAX} with KIND one of {kinds}")
        fields: dict[str, float] = {}
        if match["onset"] is not None:
            fields["onset_s"] = _number(text, "onset", match["onset"])
        for option in options:
            name, sep, value = option.partition("=")
            if not sep or name not in {"ramp", "severity"}:
                raise ValueError(f"cannot read fault {text!r}: unknown option {option!r} (use ramp=S, severity=X)")
            fields["ramp_s" if name == "ramp" else "severity"] = _number(text, name, value)
        return cls(FaultKind(match["kind"]), channel=match["channel"], **fields)

    def __str__(self) -> str:
        text = f"{self.kind.value}@{_fmt(self.onset_s)}"
        if self.channel is not None:
            text += f":{self.channel}"
        defaults = FaultSpec(FaultKind.BEARING_WEAR)
        if self.ramp_s != defaults.ramp_s:
            text += f",ramp={_fmt(self.ramp_s)}"
        if self.severity != defaults.severity:
            text += f",severity={_fmt(self.severity)}"
        return text


def _number(text: str, name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"cannot read fault {text!r}: {name} {value!r} is not a number") from None


def _fmt(value: float) -> str:
    # repr is the shortest text that reads back as the same float; whole numbers drop the ".0".
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
