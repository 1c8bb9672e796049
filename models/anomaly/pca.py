"""A PCA residual detector on window means, with a Hotelling T² term and a stalled-sensor term.

Per window of W samples x C channels:
    z   = (mean over the window - mean) / scale             standardised window mean
    r   = z (I - P Pᵀ)                                       residual off the k principal axes P
    Q   = Σ r²                                               squared prediction error
    T²  = Σ (z P)² / λ                                       distance along the principal axes
    L_c = w · relu(1 - mad_c / ref_c)²                       mad_c = mean |x[t+1] - x[t]| of channel c
    score = Q + g T² + Σ L_c,   contributions_c = r_c² + L_c

Window means alone cannot see a frozen sensor (its mean stays plausible), so the
liveness term L watches the sample-to-sample movement every real sensor's noise
gives: it is zero unless a channel moves far less than it ever did in training.
It is one-sided, so the large movements of a speed change never count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

DEFAULT_LIVENESS_WEIGHT = 100.0  # a stalled channel alone scores far above any healthy window
LIVENESS_FRACTION = 0.5  # ref = this x the 0.1 % quantile of a channel's healthy movement
_TINY = 1e-12


@dataclass(frozen=True)
class PcaDetector:
    """The fitted parameters; `score` is the reference the exported ONNX graph must reproduce."""

    mean: Array  # [C] training mean of the window means
    scale: Array  # [C] training standard deviation of the window means
    components: Array  # [C, k] principal axes, as columns
    variances: Array  # [k] variance of the standardised data along each axis
    t2_weight: float
    liveness_ref: Array  # [C] per-channel mean |step| below which a channel counts as stalled
    liveness_weight: float

    @property
    def channels(self) -> int:
        """How many channels (C) a window has."""
        return int(self.mean.shape[0])

    @property
    def residual_projector(self) -> Array:
        """I - P Pᵀ: maps a standardised vector to its part off the principal axes."""
        projector: Array = np.eye(self.channels) - self.components @ self.components.T
        return projector

    def score(self, windows: npt.NDArray[np.floating[Any]]) -> tuple[Array, Array]:
        """Scores [N] and per-channel contributions [N, C] of windows [N, W, C] (float64 reference)."""
        x = np.asarray(windows, dtype=np.float64)
        z = (x.mean(axis=1) - self.mean) / self.scale
        residual = z @ self.residual_projector
        projected = z @ self.components
        t2 = (projected * projected / self.variances).sum(axis=1)
        contributions = residual * residual + self.liveness(x)
        return contributions.sum(axis=1) + self.t2_weight * t2, contributions

    def liveness(self, windows: Array) -> Array:
        """The stalled-sensor term per window and channel [N, C]."""
        movement = np.abs(np.diff(windows, axis=1)).mean(axis=1)
        deficit: Array = np.maximum(0.0, 1.0 - movement / self.liveness_ref)
        return self.liveness_weight * deficit * deficit


def fit_pca(
    windows: npt.NDArray[np.floating[Any]],
    components: int,
    liveness_weight: float = DEFAULT_LIVENESS_WEIGHT,
    t2_share: float = 0.15,
) -> PcaDetector:
    """Fit on healthy windows [N, W, C]; the T² weight g makes g·T² at its 99.99 % quantile `t2_share` of Q's."""
    x = np.asarray(windows, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] < 2 or not 0 < components < x.shape[2]:
        raise ValueError(f"need windows [N, W>=2, C] and 0 < components < C, got {x.shape} and {components}")
    means = x.mean(axis=1)
    mean = means.mean(axis=0)
    scale = np.maximum(means.std(axis=0), _TINY)
    z = (means - mean) / scale
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(z, rowvar=False))
    order = np.argsort(eigenvalues)[::-1][:components]
    axes = eigenvectors[:, order]
    # An eigenvector's sign is arbitrary; fixing it keeps a rebuild byte-identical across LAPACKs.
    axes = axes * np.where(axes[np.abs(axes).argmax(axis=0), np.arange(components)] < 0, -1.0, 1.0)
    movement = np.abs(np.diff(x, axis=1)).mean(axis=1)
    ref = np.maximum(LIVENESS_FRACTION * np.quantile(movement, 0.001, axis=0), _TINY)
    detector = PcaDetector(mean, scale, axes, eigenvalues[order], 0.0, ref, liveness_weight)
    q, _ = detector.score(x)
    projected = z @ axes
    t2 = (projected * projected / detector.variances).sum(axis=1)
    gamma = t2_share * float(np.quantile(q, 0.9999)) / max(float(np.quantile(t2, 0.9999)), _TINY)
    return PcaDetector(mean, scale, axes, detector.variances, gamma, ref, liveness_weight)
