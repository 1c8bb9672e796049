"""The ONNX model runtime: load an artifact, check it fits the sensors, score windows.

An artifact is one `.onnx` file whose metadata (key `paas.model`, a JSON object in
the ONNX `metadata_props`) describes it: id, version, kind, the input schema
(channel names, units, window length, normalisation) and the threshold. Its graph
takes `window` float32 [N, W, C] (raw values in the schema's units, the graph
normalises); an `anomaly` model returns `score` float32 [N] and `contributions`
float32 [N, C], a `rul` model `rul`, `rul_lower` and `rul_upper` float32 [N] (cycles).

Scoring is separate from deciding: the model returns a score and per-channel
contributions; `Score.is_anomaly` is the one decision taken here (score against the
artifact's threshold), and the cloud decides what a run of anomalies means.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from contract.wire import RulEstimate
from edge.errors import ModelError

METADATA_KEY = "paas.model"


@dataclass(frozen=True)
class ModelInfo:
    """What an artifact is and what input it expects."""

    id: str
    version: str
    kind: str  # "anomaly" or "rul"
    asset_kind: str
    channels: tuple[str, ...]
    units: tuple[str, ...]
    window: int
    threshold: float
    sha256: str
    created_at: str = ""
    training_fingerprint: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_metadata(cls, meta: dict[str, Any], sha256: str) -> ModelInfo:
        try:
            channels = tuple(str(c) for c in meta["channels"])
            units = tuple(str(u) for u in meta["units"])
            info = cls(
                id=str(meta["id"]),
                version=str(meta["version"]),
                kind=str(meta["kind"]),
                asset_kind=str(meta.get("asset_kind", "")),
                channels=channels,
                units=units,
                window=int(meta["window"]),
                threshold=float(meta["threshold"]),
                sha256=sha256,
                created_at=str(meta.get("created_at", "")),
                training_fingerprint=str(meta.get("training_fingerprint", "")),
                metrics={str(k): float(v) for k, v in dict(meta.get("metrics", {})).items()},
                extra={k: v for k, v in meta.items() if k not in _KNOWN_KEYS},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model metadata is incomplete or malformed: {exc!r}") from exc
        if len(channels) != len(units) or not channels or info.window < 1:
            raise ModelError("model metadata: channels and units must be non-empty and of equal length")
        return info


_KNOWN_KEYS = {
    "id", "version", "kind", "asset_kind", "channels", "units", "window", "threshold",
    "created_at", "training_fingerprint", "metrics",
}


@dataclass(frozen=True)
class Score:
    """One window's output: the score, the decision against the threshold, and why."""

    score: float
    threshold: float
    is_anomaly: bool
    contributions: dict[str, float]


class OnnxModel:
    """An ONNX artifact loaded into onnxruntime, ready to score windows."""

    def __init__(self, session: Any, info: ModelInfo) -> None:
        self._session = session
        self.info = info

    @classmethod
    def load(cls, path: Path | str) -> OnnxModel:
        """Load an artifact; `ModelError` if it is unreadable or its metadata is missing."""
        file = Path(path)
        if not file.is_file():
            raise ModelError(f"model file {path} does not exist")
        data = file.read_bytes()
        session = open_session(data, str(path))
        meta = artifact_metadata(session, str(path))
        return cls(session, ModelInfo.from_metadata(meta, hashlib.sha256(data).hexdigest()))

    def check_inputs(self, channels: tuple[str, ...], units: tuple[str, ...]) -> None:
        """Refuse a model whose input schema does not match the device's sensors."""
        if tuple(channels) != self.info.channels or tuple(units) != self.info.units:
            raise ModelError(
                f"model {self.info.id} v{self.info.version} expects channels {list(self.info.channels)} "
                f"in {list(self.info.units)}, the sensors give {list(channels)} in {list(units)}"
            )

    def score(self, window: npt.NDArray[np.floating[Any]]) -> Score:
        """Score one window of shape [W, C] (W = info.window, C = len(info.channels))."""
        batch = np.asarray(window, dtype=np.float32)[np.newaxis, :, :]
        return self.score_batch(batch)[0]

    def score_batch(self, windows: npt.NDArray[np.floating[Any]]) -> list[Score]:
        """Score windows of shape [N, W, C] with an anomaly model."""
        scores, contributions = self._run(("score", "contributions"), windows)
        out: list[Score] = []
        for value, contrib in zip(scores, contributions, strict=True):
            score = float(value)
            out.append(
                Score(
                    score=score,
                    threshold=self.info.threshold,
                    is_anomaly=score > self.info.threshold,
                    contributions={c: float(v) for c, v in zip(self.info.channels, contrib, strict=True)},
                )
            )
        return out

    def estimate_rul(self, windows: npt.NDArray[np.floating[Any]]) -> list[RulEstimate]:
        """Remaining useful life (cycles, pessimistic lower and upper bound) for windows [N, W, C]."""
        if self.info.kind != "rul":
            raise ModelError(f"model {self.info.id} is a {self.info.kind!r} model, not a RUL model")
        rul, lower, upper = self._run(("rul", "rul_lower", "rul_upper"), windows)
        return [
            RulEstimate(float(r), float(lo), float(up)) for r, lo, up in zip(rul, lower, upper, strict=True)
        ]

    def _run(self, outputs: tuple[str, ...], windows: npt.NDArray[np.floating[Any]]) -> list[npt.NDArray[Any]]:
        """The named outputs for windows [N, W, C]; `ModelError` for a wrong shape, a failure or a non-finite value."""
        batch = np.asarray(windows, dtype=np.float32)
        expected = (self.info.window, len(self.info.channels))
        if batch.ndim != 3 or batch.shape[1:] != expected:
            raise ModelError(f"window shape {batch.shape[1:]} does not match the model's {expected}")
        try:
            results = [np.asarray(r) for r in self._session.run(list(outputs), {"window": batch})]
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"model {self.info.id} failed on a window: {exc}") from exc
        # The first output is the one decisions are taken on: it must be a number.
        if not np.all(np.isfinite(results[0])):
            raise ModelError(f"model {self.info.id} produced a non-finite {outputs[0]}")
        return results


def open_session(data: bytes, source: str = "the artifact") -> Any:
    """An onnxruntime session over artifact bytes; `ModelError` if onnxruntime refuses them."""
    import onnxruntime as ort  # imported here: a 0.3 s import not every CLI path needs

    options = ort.SessionOptions()
    # One thread: a Pi-class device runs other work, and tiny graphs gain nothing from more.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    # No graph optimisations: constant folding runs the graph's constant part at load time, so a 188-byte
    # ConstantOfShape becomes a gigabyte before any check could look at it. Platform graphs are tiny: a score
    # costs at most ~15 us more without them (turbofan-rul: 40 -> 55 us). The sandboxed checks (edge.sandbox)
    # load with these same options, so what they measured is what the agent then does.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"onnxruntime cannot load {source}: {first}") from exc


def artifact_metadata(session: Any, source: str = "the artifact") -> dict[str, Any]:
    """The `paas.model` metadata of a loaded artifact; `ModelError` if it is missing or not a JSON object."""
    raw = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    if raw is None:
        raise ModelError(f"{source} has no '{METADATA_KEY}' metadata; it is not a platform artifact")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ModelError(f"{source}: the '{METADATA_KEY}' metadata is not JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise ModelError(f"{source}: the '{METADATA_KEY}' metadata is not a JSON object")
    return meta
