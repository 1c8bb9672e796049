"""A trained network as plain arrays, and its forward pass in numpy: the reference the ONNX graph must match.

Keeping the weights framework-free lets the export and the tests run without torch;
only training needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Dense:
    """y = x @ weight.T + bias (torch's Linear layout: weight [out, in])."""

    weight: Array
    bias: Array


@dataclass(frozen=True)
class NetworkWeights:
    """A multilayer perceptron: ReLU after every layer but the last, whose one output is in `target_scale` units."""

    layers: tuple[Dense, ...]
    target_scale: float

    def parameter_count(self) -> int:
        return sum(int(d.weight.size + d.bias.size) for d in self.layers)


def forward(weights: NetworkWeights, features: npt.NDArray[np.floating[Any]]) -> Array:
    """RUL in cycles (unclipped) for feature rows [N, F]."""
    h = np.asarray(features, dtype=np.float64)
    for i, layer in enumerate(weights.layers):
        h = h @ layer.weight.T + layer.bias
        if i < len(weights.layers) - 1:
            h = np.maximum(h, 0.0)
    return np.asarray(h[:, 0] * weights.target_scale, dtype=np.float64)
