"""The window that ends at each sample: how a per-sample detector sees a recording.

The edge agent scores the latest W samples; to score every row of a recording the
same way, row t gets the window of rows t-W+1 .. t. The first W-1 rows have no full
history, so the first row stands in for the samples before the recording started
(the process was, as far as anyone knows, where it was at its first sample).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def trailing_windows(series: npt.NDArray[np.floating[Any]], window: int) -> npt.NDArray[np.float64]:
    """Windows [T, window, C] of a series [T, C]: window t ends at row t, rows before 0 repeat row 0."""
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1 or window < 1:
        raise ValueError(f"need a non-empty series [T, C] and window >= 1, got {x.shape} and {window}")
    padded = np.concatenate([np.repeat(x[:1], window - 1, axis=0), x])
    views = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)  # [T, C, window]
    return np.ascontiguousarray(views.transpose(0, 2, 1))
