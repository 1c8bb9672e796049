"""Seeded random processes for simulated signals: white noise and slow random wander."""

from __future__ import annotations

import math

import numpy as np

_BLOCK_ROWS = 512


class NormalStream:
    """Rows of independent standard normal draws, generated in blocks (one numpy call per block, not per sample)."""

    def __init__(self, rng: np.random.Generator, width: int) -> None:
        self._rng = rng
        self._width = width
        self._block: list[list[float]] = []
        self._next = 0

    def row(self) -> list[float]:
        """The next `width` draws."""
        if self._next >= len(self._block):
            self._block = self._rng.standard_normal((_BLOCK_ROWS, self._width)).tolist()
            self._next = 0
        row = self._block[self._next]
        self._next += 1
        return row


class Wander:
    """An Ornstein-Uhlenbeck process: zero-mean wander with standard deviation `sd` and time constant `tau_s`.

    Discretised exactly, so its statistics do not depend on the step size.
    """

    def __init__(self, sd: float, tau_s: float, start: float = 0.0) -> None:
        self.sd = sd
        self.tau_s = tau_s
        self.value = start

    def step(self, dt_s: float, z: float) -> float:
        """Advance by `dt_s` given one standard normal draw `z`; returns the new value."""
        decay = math.exp(-dt_s / self.tau_s)
        self.value = self.value * decay + self.sd * math.sqrt(1.0 - decay * decay) * z
        return self.value


def first_order(value: float, target: float, dt_s: float, tau_s: float) -> float:
    """One step of a first-order lag (a thermal mass, a filter) towards `target`."""
    return target + (value - target) * math.exp(-dt_s / tau_s)
