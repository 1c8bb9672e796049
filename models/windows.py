"""Cutting a multichannel series into the fixed-length windows a model scores."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def sliding_windows(series: npt.NDArray[np.floating[Any]], window: int, hop: int) -> npt.NDArray[np.float64]:
    """Windows [N, window, C] of a series [T, C], one every `hop` samples, starting at the first sample."""
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 2 or window < 1 or hop < 1:
        raise ValueError(f"need a series [T, C], window >= 1 and hop >= 1, got {x.shape}, {window}, {hop}")
    if x.shape[0] < window:
        return np.empty((0, window, x.shape[1]))
    starts = np.arange(0, x.shape[0] - window + 1, hop)
    return np.stack([x[s : s + window] for s in starts])


def window_ends(samples: int, window: int, hop: int) -> npt.NDArray[np.int64]:
    """How many samples had been taken when each window of `sliding_windows` was complete."""
    if samples < window:
        return np.empty(0, dtype=np.int64)
    return np.arange(0, samples - window + 1, hop, dtype=np.int64) + window
