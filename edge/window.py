"""A fixed-size sliding window over the latest readings, as the model wants it: [W, C] float32.

Missing values (`None`, or NaN from a driver) are replaced by the channel's last
known value (carry forward). Why: the model needs a fully numeric window; a zero
would look like a sensor failure and a NaN would poison the whole score, while a
sample dropped by a flaky bus is best approximated by the value just before it.
The window counts how many values it carried so a caller can see a dead sensor
(a channel carried for the whole window). A channel that has never had a value
keeps the window from being `full`: there is nothing honest to carry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt

_T = TypeVar("_T", bound=np.generic)


class SlidingWindow:
    """The last `size` readings of `n_channels` channels in a numpy ring buffer."""

    def __init__(self, size: int, n_channels: int) -> None:
        if size < 1 or n_channels < 1:
            raise ValueError(f"a window needs size >= 1 and channels >= 1, got {size} x {n_channels}")
        self.size = size
        self.n_channels = n_channels
        self._values = np.zeros((size, n_channels), dtype=np.float32)
        self._carried = np.zeros((size, n_channels), dtype=bool)
        self._ts = np.full(size, math.nan, dtype=np.float64)
        self._last = np.full(n_channels, math.nan, dtype=np.float32)
        self._next = 0  # the slot the next push writes; also the oldest slot once full
        self._count = 0

    def push(self, values: Sequence[float | None], ts: float | None = None) -> None:
        """Append one reading (one value per channel, `None` where missing) taken at `ts`."""
        if len(values) != self.n_channels:
            raise ValueError(f"a reading of {len(values)} values for a window of {self.n_channels} channels")
        row = np.array([math.nan if v is None else v for v in values], dtype=np.float32)
        missing = np.isnan(row)
        row[missing] = self._last[missing]
        self._last = np.where(missing, self._last, row)
        self._values[self._next] = row
        self._carried[self._next] = missing
        self._ts[self._next] = math.nan if ts is None else ts
        self._next = (self._next + 1) % self.size
        self._count = min(self._count + 1, self.size)

    @property
    def samples(self) -> int:
        """How many readings the window holds (at most `size`)."""
        return self._count

    @property
    def full(self) -> bool:
        """True once `size` readings are held and every channel has a value in all of them."""
        return self._count == self.size and not bool(np.isnan(self._values).any())

    def array(self) -> npt.NDArray[np.float32]:
        """A copy of the held readings, oldest first: shape [samples, C]."""
        return self._ordered(self._values)

    def carried(self) -> npt.NDArray[np.bool_]:
        """Which values of `array()` were carried forward rather than measured."""
        return self._ordered(self._carried)

    def dead_channels(self) -> tuple[int, ...]:
        """Channels with no measured value in the whole (full) window."""
        if self._count < self.size:
            return ()
        return tuple(int(i) for i in np.flatnonzero(self._carried.all(axis=0)))

    @property
    def start_ts(self) -> float | None:
        """When the oldest held reading was taken (None if unknown or empty)."""
        return self._ts_at(0)

    @property
    def end_ts(self) -> float | None:
        """When the newest held reading was taken (None if unknown or empty)."""
        return self._ts_at(self._count - 1)

    def _ts_at(self, index: int) -> float | None:
        if self._count == 0:
            return None
        value = float(self._ordered(self._ts)[index])
        return None if math.isnan(value) else value

    def _ordered(self, ring: npt.NDArray[_T]) -> npt.NDArray[_T]:
        if self._count < self.size:
            return ring[: self._count].copy()
        return np.roll(ring, -self._next, axis=0)
