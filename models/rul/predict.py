"""Predicting RUL with the committed artifact through onnxruntime alone (no torch, no training code).

`RulPredictor` loads a `kind: rul` artifact with the edge runtime's session settings
(one thread) and returns, for raw windows [N, W, 24], the artifact's three outputs
`rul`, `rul_lower`, `rul_upper` (float32 [N], flight cycles; see `models.rul.export`).
`predict_engines` builds each engine's window at its last cycle, padding a record
shorter than the window with its first sample (as training did).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

from contract.channels import TURBOFAN_CHANNELS
from edge.errors import ModelError
from edge.runtime import METADATA_KEY, ModelInfo
from models.paths import artifacts_dir
from models.rul.cmapss import Engine
from models.rul.export import OUTPUTS
from models.rul.features import last_windows

DEFAULT_RUL_MODEL: Path = artifacts_dir() / "turbofan-rul.onnx"
Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RulPrediction:
    unit: int
    rul: float
    lower: float
    upper: float


class RulPredictor:
    """A loaded RUL artifact."""

    def __init__(self, session: Any, info: ModelInfo) -> None:
        self._session = session
        self.info = info

    @classmethod
    def load(cls, path: Path | str = DEFAULT_RUL_MODEL) -> RulPredictor:
        """Load and check an artifact; `ModelError` if it is missing, unreadable or not a turbofan RUL model."""
        import onnxruntime as ort  # imported here, as in edge.runtime: not every CLI path needs it

        file = Path(path)
        if not file.is_file():
            raise ModelError(f"model file {file} does not exist")
        data = file.read_bytes()
        options = ort.SessionOptions()
        # One thread, as on the edge: latency is quoted per prediction on one core.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            session = ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
            meta = json.loads(session.get_modelmeta().custom_metadata_map[METADATA_KEY])
        except Exception as exc:  # onnxruntime raises its own untyped errors; a missing key or bad JSON too
            raise ModelError(f"cannot load {file} as a platform artifact: {exc!r}") from exc
        info = ModelInfo.from_metadata(meta, hashlib.sha256(data).hexdigest())
        if info.kind != "rul" or info.channels != tuple(c.name for c in TURBOFAN_CHANNELS):
            raise ModelError(f"{file} is a {info.kind} model for {list(info.channels)}, not a turbofan RUL model")
        return cls(session, info)

    def predict(self, windows: npt.NDArray[np.floating[Any]]) -> tuple[Array, Array, Array]:
        """(rul, rul_lower, rul_upper) for raw windows [N, W, 24]."""
        batch = np.asarray(windows, dtype=np.float32)
        expected = (self.info.window, len(self.info.channels))
        if batch.ndim != 3 or batch.shape[1:] != expected:
            raise ModelError(f"window shape {batch.shape[1:]} does not match the model's {expected}")
        try:
            outputs = self._session.run(list(OUTPUTS), {"window": batch})
        except Exception as exc:
            raise ModelError(f"model {self.info.id} failed to predict: {exc}") from exc
        rul, lower, upper = (np.asarray(o, dtype=np.float64) for o in outputs)
        if not all(math.isfinite(v) for v in rul.tolist()):
            raise ModelError(f"model {self.info.id} produced a non-finite RUL")
        return rul, lower, upper


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
