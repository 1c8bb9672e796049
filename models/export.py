"""Export a fitted detector as a platform artifact: one ONNX file that `edge.runtime.OnnxModel` loads.

The graph is built node by node with `onnx.helper`, so no training framework is needed
on either side. Input `window` float32 [N, W, C] (raw values, canonical units); outputs
`score` float32 [N] and `contributions` float32 [N, C]. The description the runtime
reads is JSON under the metadata key `paas.model`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from contract.channels import Channel
from models.anomaly.pca import PcaDetector

METADATA_KEY = "paas.model"  # must equal edge.runtime.METADATA_KEY
OPSET = 17
IR_VERSION = 8  # what onnxruntime >= 1.15 loads; a Pi's packaged runtime may be old
PRODUCER = "paas-platform models"


@dataclass(frozen=True)
class ArtifactInfo:
    """What the artifact says about itself (everything in `paas.model` except the graph's own parameters)."""

    id: str
    version: str
    asset_kind: str
    channels: tuple[Channel, ...]
    window: int
    threshold: float
    created_at: str  # ISO-8601 UTC; passed in so a seeded rebuild is byte-identical
    training_fingerprint: str
    metrics: dict[str, float] = field(default_factory=dict)
    kind: str = "anomaly"

    def metadata(self, extra: dict[str, Any]) -> dict[str, Any]:
        """The JSON object stored under `paas.model`."""
        return {
            "id": self.id,
            "version": self.version,
            "kind": self.kind,
            "asset_kind": self.asset_kind,
            "channels": [c.name for c in self.channels],
            "units": [c.unit for c in self.channels],
            "window": self.window,
            "threshold": self.threshold,
            "created_at": self.created_at,
            "training_fingerprint": self.training_fingerprint,
            "metrics": dict(sorted(self.metrics.items())),
            **extra,
        }


def serialize(graph: onnx.GraphProto, info: ArtifactInfo, extra: dict[str, Any]) -> bytes:
    """A checked, serialized artifact: `graph` with `info` and `extra` as its `paas.model` metadata."""
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER,
        ir_version=IR_VERSION,
    )
    helper.set_model_props(model, {METADATA_KEY: json.dumps(info.metadata(extra), sort_keys=True)})
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def f32(name: str, value: npt.ArrayLike) -> TensorProto:
    """A float32 initializer (every exporter's constants are float32, as the edge feeds float32)."""
    return numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)


def fingerprint(training: npt.NDArray[np.floating[Any]]) -> str:
    """sha256 of the training array's bytes (float64, little-endian, C order)."""
    return hashlib.sha256(np.ascontiguousarray(training, dtype="<f8").tobytes()).hexdigest()


def export_pca(detector: PcaDetector, info: ArtifactInfo, extra: dict[str, Any] | None = None) -> bytes:
    """The serialized ONNX model of `detector` with `info` (and any `extra` keys) as its metadata."""
    if detector.channels != len(info.channels):
        raise ValueError(f"detector has {detector.channels} channels, the artifact names {len(info.channels)}")
    extra = {
        "normalisation": {"mean": detector.mean.tolist(), "scale": detector.scale.tolist()},
        "method": "pca-q+t2+liveness",
        "components": int(detector.components.shape[1]),
        "t2_weight": detector.t2_weight,
        "liveness": {"ref": detector.liveness_ref.tolist(), "weight": detector.liveness_weight},
        **(extra or {}),
    }
    return serialize(_pca_graph(detector, info.window, info.id), info, extra)



def _i64(name: str, value: list[int]) -> TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=np.int64), name)


def _pca_graph(d: PcaDetector, window: int, name: str) -> onnx.GraphProto:
    """The graph of `PcaDetector.score`, in float32; the constants are folded where it saves a node."""
    c = d.channels
    # Folded: g·Σ(zP)²/λ = Σ(z · P·sqrt(g/λ))², and w·relu(1 - m/ref)² = relu(√w - m·√w/ref)².
    root_w = float(np.sqrt(d.liveness_weight))
    initializers = [
        f32("mean", d.mean),
        f32("inv_scale", 1.0 / d.scale),
        f32("residual_projector", d.residual_projector),
        f32("t2_axes", d.components * np.sqrt(d.t2_weight / d.variances)),
        f32("root_weight", root_w),
        f32("movement_gain", root_w / d.liveness_ref),
        _i64("one", [1]),
        _i64("zero", [0]),
        _i64("last", [window]),
        _i64("before_last", [window - 1]),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["window"], ["window_mean"], axes=[1], keepdims=0),
        helper.make_node("Sub", ["window_mean", "mean"], ["centred"]),
        helper.make_node("Mul", ["centred", "inv_scale"], ["z"]),
        helper.make_node("MatMul", ["z", "residual_projector"], ["residual"]),
        helper.make_node("Mul", ["residual", "residual"], ["q_parts"]),
        helper.make_node("MatMul", ["z", "t2_axes"], ["t2_coordinates"]),
        helper.make_node("ReduceSumSquare", ["t2_coordinates"], ["t2_scaled"], axes=[1], keepdims=0),
        # Liveness: mean |x[t+1] - x[t]| per channel, against what healthy sensors always show.
        helper.make_node("Slice", ["window", "one", "last", "one"], ["later"]),
        helper.make_node("Slice", ["window", "zero", "before_last", "one"], ["earlier"]),
        helper.make_node("Sub", ["later", "earlier"], ["steps"]),
        helper.make_node("Abs", ["steps"], ["step_size"]),
        helper.make_node("ReduceMean", ["step_size"], ["movement"], axes=[1], keepdims=0),
        helper.make_node("Mul", ["movement", "movement_gain"], ["scaled_movement"]),
        helper.make_node("Sub", ["root_weight", "scaled_movement"], ["deficit_raw"]),
        helper.make_node("Relu", ["deficit_raw"], ["deficit"]),
        helper.make_node("Mul", ["deficit", "deficit"], ["liveness"]),
        helper.make_node("Add", ["q_parts", "liveness"], ["contributions"]),
        helper.make_node("ReduceSum", ["contributions", "one"], ["parts_total"], keepdims=0),
        helper.make_node("Add", ["parts_total", "t2_scaled"], ["score"]),
    ]
    return helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("window", TensorProto.FLOAT, ["N", window, c])],
        [
            helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"]),
            helper.make_tensor_value_info("contributions", TensorProto.FLOAT, ["N", c]),
        ],
        initializers,
    )
