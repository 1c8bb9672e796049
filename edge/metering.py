"""Usage metering: cumulative counters (operating hours, energy, cycles) that a service bills by.

Product-as-a-service is billed by use, so each reading feeds a `UsageMeter`:

- a pump counts `operating_hours` while it runs (motor `current` above
  `RUNNING_CURRENT_A` = 1 A: below it the motor only draws magnetising current) and
  `energy_kwh` = voltage x current x `POWER_FACTOR` x dt, with a single-phase supply
  and an assumed power factor of 0.85 (a typical small induction motor at load; the
  sensors measure neither phase angle nor real power);
- a turbofan counts `cycles` (one per reading: each reading is one flight cycle) and
  `operating_hours`;
- any other asset counts `operating_hours` of sampling.

dt is the time since the previous reading, capped at `MAX_STEP_S`: a longer gap (a
suspended device, a dead sensor) is not billed as use. The counters are cumulative
since the meter started and persisted in STATE_DIR/usage.json with every report
(written atomically, before the report is queued), so they survive restarts and never
go back; after a crash the use since the last report is not counted (under-billing,
never double billing). Reports go out in the outbox's never-dropped `usage` lane.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from contract.clock import Clock
from contract.wire import Usage
from edge.errors import MeteringError

USAGE_FILE = "usage.json"
RUNNING_CURRENT_A = 1.0
POWER_FACTOR = 0.85
MAX_STEP_S = 300.0
UNITS = {"operating_hours": "h", "energy_kwh": "kWh", "cycles": "1"}
METERS: dict[str, tuple[str, ...]] = {
    "pump": ("operating_hours", "energy_kwh"),
    "turbofan": ("cycles", "operating_hours"),
}


class UsageMeter:
    """One device's cumulative meters; `observe` each reading, `report` every usage interval."""

    def __init__(self, state_dir: Path, asset_kind: str, channels: Sequence[str], clock: Clock) -> None:
        self._path = Path(state_dir) / USAGE_FILE
        self._clock = clock
        self._kind = asset_kind
        self._current = channels.index("current") if "current" in channels else None
        self._voltage = channels.index("voltage") if "voltage" in channels else None
        self._lock = threading.Lock()
        self._last_ts: float | None = None
        names = METERS.get(asset_kind, ("operating_hours",))
        saved = read_usage(state_dir)
        try:
            self._seq = int(saved.get("seq", 0))
            stored = saved.get("counters", {})
            self._counters = {name: float(stored.get(name, 0.0)) for name in names}
            self._period_start = float(saved.get("period_end", clock.time()))
        except (TypeError, ValueError) as exc:
            raise MeteringError(f"{self._path} holds malformed usage counters: {exc}") from exc

    def observe(self, values: Sequence[float | None], ts: float) -> None:
        """Add the use since the previous reading (the values hold over that interval)."""
        with self._lock:
            dt = 0.0 if self._last_ts is None else ts - self._last_ts
            self._last_ts = ts
            if not 0.0 < dt <= MAX_STEP_S:
                dt = 0.0
            self._add(values, dt)

    def _add(self, values: Sequence[float | None], dt: float) -> None:
        c = self._counters
        if "cycles" in c:
            c["cycles"] += 1.0
        if self._kind != "pump":
            c["operating_hours"] += dt / 3600.0
            return
        current = _value(values, self._current)
        voltage = _value(values, self._voltage)
        if current is not None and current > RUNNING_CURRENT_A:
            c["operating_hours"] += dt / 3600.0
        if current is not None and voltage is not None and current > 0 and voltage > 0:
            c["energy_kwh"] += voltage * current * POWER_FACTOR * dt / 3.6e6

    def counters(self) -> dict[str, float]:
        with self._lock:
            return dict(self._counters)

    def report(self, tenant: str, device_id: str) -> Usage:
        """The next report; persisted first, so a report's seq and counters are never reused after a crash."""
        with self._lock:
            now = self._clock.time()
            usage = Usage(tenant=tenant, device_id=device_id, seq=self._seq + 1, ts=now,
                          period_start=min(self._period_start, now), period_end=now,
                          counters=dict(self._counters), units={n: UNITS[n] for n in self._counters})
            _write_atomically(self._path, {"seq": usage.seq, "counters": usage.counters, "period_end": now})
            self._seq, self._period_start = usage.seq, now
            return usage


def read_usage(state_dir: Path | str) -> dict[str, Any]:
    """The persisted meter state (`seq`, `counters`, `period_end`), or {} before the first report."""
    path = Path(state_dir) / USAGE_FILE
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise MeteringError(f"cannot read the usage counters {path}: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("counters"), dict):
        raise MeteringError(f"{path} is not a usage counter file")
    return raw


def _value(values: Sequence[float | None], index: int | None) -> float | None:
    value = None if index is None else values[index]
    return value if value is not None and math.isfinite(value) else None


def _write_atomically(path: Path, content: dict[str, object]) -> None:
    # Write, fsync, rename: a crash leaves the old file or the new one, never half of one.
    tmp = path.with_suffix(".tmp")
    try:
        with tmp.open("w") as out:
            json.dump(content, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise MeteringError(f"cannot persist the usage counters {path}: {exc.strerror}") from exc
