"""Operating regimes: when an operator or controller changes a pump's speed setpoint, and to what."""

from __future__ import annotations

import numpy as np

# Setpoints as a fraction of rated speed; operators pick round values, and below ~60 %
# a centrifugal pump of this kind runs too far from its best-efficiency point.
SETPOINTS: tuple[float, ...] = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)
DWELL_S: tuple[float, float] = (120.0, 360.0)  # how long a setpoint holds: a few minutes
RAMP_PER_S = 0.04  # a VFD's acceleration limit, in rated speed per second


class SpeedSchedule:
    """A seeded sequence of speed setpoints, each held for a few minutes, and the ramped speed that follows it."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self.setpoint = float(rng.choice(SETPOINTS))
        self.speed = self.setpoint
        self._next_change_s = self._dwell()
        self.changes = 0

    def step(self, elapsed_s: float, dt_s: float) -> float:
        """Speed (fraction of rated) at `elapsed_s`, after moving towards the setpoint for `dt_s`."""
        while elapsed_s >= self._next_change_s:
            choices = [s for s in SETPOINTS if s != self.setpoint]
            self.setpoint = float(self._rng.choice(choices))
            self._next_change_s += self._dwell()
            self.changes += 1
        limit = RAMP_PER_S * dt_s
        gap = self.setpoint - self.speed
        # Land exactly on the setpoint, so "at setpoint" is an equality, not a tolerance.
        self.speed = self.setpoint if abs(gap) <= limit else self.speed + (limit if gap > 0 else -limit)
        return self.speed

    def _dwell(self) -> float:
        return float(self._rng.uniform(*DWELL_S))
