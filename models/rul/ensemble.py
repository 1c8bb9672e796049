"""The trained predictor: normalisation, member networks, target clip and band; and its numpy reference output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from models.rul.band import Band
from models.rul.features import Normaliser, summarise, summary_basis
from models.rul.weights import NetworkWeights, forward

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RulEnsemble:
    """Everything the ONNX graph computes with."""

    normaliser: Normaliser
    members: tuple[NetworkWeights, ...]
    clip: float
    band: Band


def point_estimate(
    normaliser: Normaliser, members: tuple[NetworkWeights, ...], clip: float, windows: npt.NDArray[np.floating[Any]]
) -> Array:
    """The members' mean RUL for raw windows [N, W, 24], clipped to [0, clip] like the target."""
    z = normaliser.apply(windows)
    features = summarise(z, summary_basis(z.shape[1]))
    mean: Array = np.mean([forward(m, features) for m in members], axis=0)
    return np.clip(mean, 0.0, clip)


def reference_predict(e: RulEnsemble, windows: npt.NDArray[np.floating[Any]]) -> tuple[Array, Array, Array]:
    """(rul, rul_lower, rul_upper) computed in float64 numpy: what the artifact must reproduce."""
    rul = point_estimate(e.normaliser, e.members, e.clip, windows)
    lower, upper = e.band.apply(rul, e.clip)
    return rul, lower, upper
