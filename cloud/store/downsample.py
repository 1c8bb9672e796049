"""Mean per time bucket, vectorised: one `bincount` per chunk of readings, all channels at once.

Missing values (NaN) are left out of a bucket's mean; a bucket with no value for a
channel has a NaN mean, and buckets without any reading are dropped. Readings can be
added in chunks, so a long range is downsampled in bounded memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
MAX_BUCKETS = 100_000


@dataclass(frozen=True)
class Buckets:
    """Non-empty buckets: start times, readings per bucket and the per-channel means [bucket, channel]."""

    starts: FloatArray
    counts: IntArray
    means: FloatArray


class BucketMeans:
    """Accumulates sums and counts per (bucket, channel) for `[start, end)` in `step`-second buckets."""

    def __init__(self, start: float, end: float, step: float, n_channels: int) -> None:
        if not (math.isfinite(start) and math.isfinite(end) and end > start and step > 0):
            raise ValueError(f"bad range: start={start} end={end} step={step}")
        self.start, self.step, self.n_channels = start, step, n_channels
        self.n_buckets = math.ceil((end - start) / step)
        if self.n_buckets > MAX_BUCKETS:
            raise ValueError(f"{self.n_buckets} buckets is more than {MAX_BUCKETS}; use a larger step")
        size = self.n_buckets * n_channels
        self._sums = np.zeros(size)
        self._counts = np.zeros(size)
        self._rows = np.zeros(self.n_buckets, dtype=np.int64)

    def add(self, ts: FloatArray, values: FloatArray) -> None:
        """Add readings at times `ts` with `values` [reading, channel]; readings outside the range are ignored."""
        index = np.floor((ts - self.start) / self.step).astype(np.int64)
        inside = (index >= 0) & (index < self.n_buckets)
        index, values = index[inside], values[inside]
        if index.size == 0:
            return
        present = ~np.isnan(values)
        # One flat bin per (bucket, channel) pair, so sums and counts take one pass each.
        flat = (index[:, None] * self.n_channels + np.arange(self.n_channels, dtype=np.int64)).ravel()
        size = self._sums.size
        self._sums += np.bincount(flat, weights=np.where(present, values, 0.0).ravel(), minlength=size)
        self._counts += np.bincount(flat, weights=present.ravel().astype(np.float64), minlength=size)
        self._rows += np.bincount(index, minlength=self.n_buckets)

    def add_totals(self, starts: FloatArray, readings: IntArray, counts: FloatArray, sums: FloatArray) -> None:
        """Add pre-summed buckets (a rollup's): each lies in the query bucket its start falls in."""
        index = np.floor((starts - self.start) / self.step).astype(np.int64)
        inside = (index >= 0) & (index < self.n_buckets)
        index, readings, counts, sums = index[inside], readings[inside], counts[inside], sums[inside]
        if index.size == 0:
            return
        flat = (index[:, None] * self.n_channels + np.arange(self.n_channels, dtype=np.int64)).ravel()
        size = self._sums.size
        self._sums += np.bincount(flat, weights=sums.ravel(), minlength=size)
        self._counts += np.bincount(flat, weights=counts.ravel(), minlength=size)
        self._rows += np.bincount(index, weights=readings, minlength=self.n_buckets).astype(np.int64)

    def result(self) -> Buckets:
        with np.errstate(invalid="ignore", divide="ignore"):
            means = (self._sums / self._counts).reshape(self.n_buckets, self.n_channels)
        keep = self._rows > 0
        starts = self.start + self.step * np.arange(self.n_buckets, dtype=np.float64)
        return Buckets(starts[keep], self._rows[keep], means[keep])


def pack_rows(values: FloatArray) -> list[bytes]:
    """Each reading's values [reading, channel] as little-endian float64 bytes (NaN for missing)."""
    matrix = np.ascontiguousarray(values, dtype="<f8")
    return [row.tobytes() for row in matrix]


def unpack_rows(blobs: list[bytes], n_channels: int) -> FloatArray:
    """Stack packed readings into [reading, channel]; older, shorter rows are padded with NaN."""
    out = np.full((len(blobs), n_channels), np.nan)
    if not blobs:
        return out
    widths = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs)) // 8
    # Rows only differ in width when a device added channels; decode each width in one go.
    for width in np.unique(widths):
        rows = np.flatnonzero(widths == width)
        joined = b"".join(blobs) if rows.size == len(blobs) else b"".join([blobs[i] for i in rows])
        block = np.frombuffer(joined, dtype="<f8").reshape(rows.size, int(width))
        usable = min(int(width), n_channels)
        out[rows, :usable] = block[:, :usable]
    return out
