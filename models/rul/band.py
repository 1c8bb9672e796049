"""The uncertainty band: split-conformal offsets from out-of-fold residuals, one pair per predicted-RUL bin.

Errors grow with the predicted RUL (a young engine shows little of its wear), so the
residuals are pooled by bin of the prediction (Mondrian conformal) and each bin gets
its own lower and upper offset. The lower bound is what a planner schedules on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

BIN_WIDTH = 25.0
BINS = 5  # [0, 25), [25, 50), [50, 75), [75, 100), [100, ...)


@dataclass(frozen=True)
class Band:
    """Per-bin offsets added to the prediction: lower <= 0 <= upper (in cycles), at `coverage` nominal."""

    lower: Array  # [BINS]
    upper: Array  # [BINS]
    coverage: float

    def apply(self, predicted: npt.ArrayLike, ceiling: float) -> tuple[Array, Array]:
        """(lower, upper) bounds for predictions, kept within [0, ceiling] like the target."""
        p = np.asarray(predicted, dtype=np.float64)
        b = bin_of(p)
        return np.clip(p + self.lower[b], 0.0, ceiling), np.clip(p + self.upper[b], 0.0, ceiling)


def bin_of(predicted: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The bin index of each prediction (the ONNX graph computes the same: floor, clip, cast)."""
    p = np.asarray(predicted, dtype=np.float64)
    return np.clip(np.floor(p / BIN_WIDTH), 0, BINS - 1).astype(np.int64)


def calibrate(predicted: npt.ArrayLike, truth: npt.ArrayLike, coverage: float = 0.9) -> Band:
    """Offsets such that truth - prediction falls inside them with probability >= `coverage` per bin."""
    p = np.asarray(predicted, dtype=np.float64)
    residual = np.asarray(truth, dtype=np.float64) - p
    bins = bin_of(p)
    tail = (1.0 - coverage) / 2.0
    lower, upper = np.zeros(BINS), np.zeros(BINS)
    for b in range(BINS):
        r = residual[bins == b]
        if r.size == 0:
            r = residual  # an empty bin borrows the pooled residuals rather than claiming no uncertainty
        lower[b] = min(0.0, -_conformal_upper(-r, tail))
        upper[b] = max(0.0, _conformal_upper(r, tail))
    return Band(lower=lower, upper=upper, coverage=coverage)


def _conformal_upper(values: Array, tail: float) -> float:
    """A bound v with P(x <= v) >= 1 - tail for a new exchangeable x: the ceil((n + 1)(1 - tail))-th smallest."""
    n = values.size
    rank = min(n, math.ceil((n + 1) * (1.0 - tail)))
    return float(np.sort(values)[rank - 1])


def coverage_of(band: Band, predicted: npt.ArrayLike, truth: npt.ArrayLike, ceiling: float) -> float:
    """The fraction of truths inside the band."""
    lo, hi = band.apply(predicted, ceiling)
    t = np.asarray(truth, dtype=np.float64)
    return float(np.mean((t >= lo - 1e-9) & (t <= hi + 1e-9)))
