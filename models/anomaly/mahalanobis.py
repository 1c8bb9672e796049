"""A Mahalanobis detector on short rolling means, fitted on one asset's own calibration.

Per window of W = F + S - 1 samples x C channels (F: feature length, S: smoothing):
    z      = (x - mean) / scale                     standardised by the calibration
    f_s    = mean of z over samples s .. s+F-1      s = 0 .. S-1: the last S rolling means
    d_s    = f_s - m                                m: mean of the calibration's rolling means
    D²_s   = d_s P d_sᵀ                             P: shrunk inverse covariance of those means
    score  = mean_s D²_s,   contributions_c = mean_s d_sc (d_s P)_c     (they sum to the score)

Rolling means over F samples cut the sensor noise, so a small steady shift (a valve
half closed) stands out; averaging the distance over the last S positions smooths
the score without any state outside the window. Channels marked unused (slow
thermal states that drift through a run whatever the pump does) get zero rows and
columns in P: they neither score nor contribute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from models.anomaly.trailing import trailing_windows

Array = npt.NDArray[np.float64]

RELATIVE_SCALE_FLOOR = 1e-3  # a channel flat in calibration still gets a scale: 0.1 % of its level
_TINY = 1e-9


@dataclass(frozen=True)
class WindowedMahalanobis:
    """The fitted parameters; `score` is the float64 reference the exported ONNX graph reproduces."""

    mean: Array  # [C] calibration mean per channel
    scale: Array  # [C] calibration standard deviation per channel (floored)
    feature_mean: Array  # [C] mean of the calibration's rolling means, in z units
    precision: Array  # [C, C] shrunk inverse covariance of those; zero rows/columns for unused channels
    feature_window: int  # F
    smoothing: int  # S

    @property
    def window(self) -> int:
        """Samples one window must hold: F + S - 1."""
        return self.feature_window + self.smoothing - 1

    @property
    def channels(self) -> int:
        """How many channels (C) a window has."""
        return int(self.mean.shape[0])

    def averaging(self) -> Array:
        """The [S, W] matrix whose row s averages samples s .. s+F-1 of a window."""
        matrix = np.zeros((self.smoothing, self.window))
        for s in range(self.smoothing):
            matrix[s, s : s + self.feature_window] = 1.0 / self.feature_window
        return matrix

    def score(self, windows: npt.NDArray[np.floating[Any]]) -> tuple[Array, Array]:
        """Scores [N] and per-channel contributions [N, C] of windows [N, W, C]."""
        x = np.asarray(windows, dtype=np.float64)
        if x.ndim != 3 or x.shape[1:] != (self.window, self.channels):
            raise ValueError(f"need windows [N, {self.window}, {self.channels}], got {x.shape}")
        d = self.averaging() @ ((x - self.mean) / self.scale) - self.feature_mean  # [N, S, C]
        contributions: Array = (d * (d @ self.precision)).mean(axis=1)
        return contributions.sum(axis=1), contributions


def fit_windowed_mahalanobis(
    calibration: npt.NDArray[np.floating[Any]],
    used: Sequence[bool],
    feature_window: int,
    smoothing: int,
    shrinkage: float,
) -> WindowedMahalanobis:
    """Fit on a calibration series [T, C] of normal operation; `used[c]` false leaves channel c out of the score."""
    x = np.asarray(calibration, dtype=np.float64)
    mask = np.asarray(used, dtype=bool)
    if x.ndim != 2 or x.shape[0] < 2 or mask.shape != (x.shape[1],) or not mask.any():
        raise ValueError(f"need calibration [T>=2, C] and C flags with one set, got {x.shape} and {mask.shape}")
    if feature_window < 1 or smoothing < 1 or not 0.0 <= shrinkage <= 1.0:
        raise ValueError(f"need F >= 1, S >= 1, 0 <= shrinkage <= 1; got {feature_window}, {smoothing}, {shrinkage}")
    mean = x.mean(axis=0)
    scale = np.maximum(x.std(axis=0), np.maximum(RELATIVE_SCALE_FLOOR * np.abs(mean), _TINY))
    features = trailing_windows((x - mean) / scale, feature_window).mean(axis=1)  # [T, C]
    feature_mean = np.where(mask, features.mean(axis=0), 0.0)
    used_features = features[:, mask]
    k = used_features.shape[1]
    covariance = np.cov(used_features, rowvar=False).reshape(k, k)
    # Shrinking toward a scaled identity keeps P well-conditioned on 400 correlated rows.
    target = max(float(np.trace(covariance)) / k, _TINY) * np.eye(k)
    shrunk = (1.0 - shrinkage) * covariance + shrinkage * target
    precision = np.zeros((x.shape[1], x.shape[1]))
    inverse = np.linalg.inv(shrunk + _TINY * np.eye(k))
    precision[np.ix_(mask, mask)] = (inverse + inverse.T) / 2.0  # exactly symmetric, whatever LAPACK rounds
    return WindowedMahalanobis(mean, scale, feature_mean, precision, feature_window, smoothing)
