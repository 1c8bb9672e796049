"""Predicting RUL with the committed artifact through onnxruntime alone (no torch, no training code).

`RulPredictor` loads a `kind: rul` artifact through the edge runtime (`edge.runtime.OnnxModel`,
one thread) and returns, for raw windows [N, W, 24], the artifact's three outputs
`rul`, `rul_lower`, `rul_upper` (float32 [N], flight cycles; see `models.rul.export`).
`predict_engines` builds each engine's window at its last cycle, padding a record
shorter than the window with its first sample (as training did).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

from contract.channels import TURBOFAN_CHANNELS
from edge.errors import ModelError
from edge.runtime import OnnxModel
from models.paths import DEFAULT_TURBOFAN_MODEL
from models.rul.cmapss import Engine
from models.rul.features import last_windows

DEFAULT_RUL_MODEL: Path = DEFAULT_TURBOFAN_MODEL
Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RulPrediction:
    unit: int
    rul: float
    lower: float
    upper: float


class RulPredictor:
    """A loaded turbofan RUL artifact, scored by the edge runtime (the same code path as on a device)."""

    def __init__(self, model: OnnxModel) -> None:
        self._model = model
        self.info = model.info

    @classmethod
    def load(cls, path: Path | str = DEFAULT_RUL_MODEL) -> RulPredictor:
        """Load and check an artifact; `ModelError` if it is missing, unreadable or not a turbofan RUL model."""
        file = Path(path)
        model = OnnxModel.load(file)  # ModelError if the file is missing or unreadable
        info = model.info
        if info.kind != "rul" or info.channels != tuple(c.name for c in TURBOFAN_CHANNELS):
            raise ModelError(f"{file} is a {info.kind} model for {list(info.channels)}, not a turbofan RUL model")
        return cls(model)

    def predict(self, windows: npt.NDArray[np.floating[Any]]) -> tuple[Array, Array, Array]:
        """(rul, rul_lower, rul_upper) for raw windows [N, W, 24]."""
        estimates = self._model.estimate_rul(windows)
        return (
            np.array([e.cycles for e in estimates], dtype=np.float64),
            np.array([e.lower for e in estimates], dtype=np.float64),
            np.array([e.upper for e in estimates], dtype=np.float64),
        )


def predict_engines(predictor: RulPredictor, engines: list[Engine]) -> list[RulPrediction]:
    """Each engine's RUL at its last observed cycle."""
    rul, lower, upper = predictor.predict(last_windows(engines, predictor.info.window))
    return [
        RulPrediction(e.unit, float(r), float(lo), float(hi))
        for e, r, lo, hi in zip(engines, rul, lower, upper, strict=True)
    ]


def write_predictions(out: TextIO, predictions: list[RulPrediction], band: bool = False) -> None:
    """CSV with header `unit,rul` (plus `rul_lower,rul_upper` when `band`), one row per unit."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["unit", "rul", "rul_lower", "rul_upper"] if band else ["unit", "rul"])
    for p in predictions:
        row = [str(p.unit), f"{p.rul:.2f}"]
        writer.writerow([*row, f"{p.lower:.2f}", f"{p.upper:.2f}"] if band else row)
