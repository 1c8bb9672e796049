"""The ONNX graph of `WindowedMahalanobis`, as a platform artifact `edge.runtime.OnnxModel` loads.

Input `window` float32 [N, W, C] of raw values; outputs `score` float32 [N] and
`contributions` float32 [N, C]. The standardisation is folded into the constants:
because every row of the averaging matrix A sums to one,
    A·((x - mean)/scale) - m  =  (A·x)/scale - (mean/scale + m),
so the graph is one MatMul to the rolling means, one affine step, one MatMul by P.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models.anomaly.mahalanobis import WindowedMahalanobis
from models.export import ArtifactInfo, f32, serialize


def export_windowed_mahalanobis(
    detector: WindowedMahalanobis, info: ArtifactInfo, extra: dict[str, Any] | None = None
) -> bytes:
    """The serialized ONNX model of `detector`, with `info` and `extra` as its `paas.model` metadata."""
    if detector.channels != len(info.channels) or detector.window != info.window:
        raise ValueError(
            f"detector has {detector.channels} channels and window {detector.window}, "
            f"the artifact says {len(info.channels)} and {info.window}"
        )
    meta = {
        "method": "windowed-mahalanobis",
        "feature_window": detector.feature_window,
        "smoothing": detector.smoothing,
        "normalisation": {"mean": detector.mean.tolist(), "scale": detector.scale.tolist()},
        **(extra or {}),
    }
    return serialize(_graph(detector, info.id), info, meta)



def _graph(d: WindowedMahalanobis, name: str) -> onnx.GraphProto:
    inv_scale = 1.0 / d.scale
    initializers = [
        f32("averaging", d.averaging()),
        f32("inv_scale", inv_scale),
        f32("offset", d.mean * inv_scale + d.feature_mean),
        f32("precision", d.precision),
        numpy_helper.from_array(np.asarray([1], dtype=np.int64), "channel_axis"),
    ]
    nodes = [
        helper.make_node("MatMul", ["averaging", "window"], ["rolling_means"]),  # [S, W] @ [N, W, C] -> [N, S, C]
        helper.make_node("Mul", ["rolling_means", "inv_scale"], ["scaled_means"]),
        helper.make_node("Sub", ["scaled_means", "offset"], ["deviation"]),
        helper.make_node("MatMul", ["deviation", "precision"], ["weighted"]),
        helper.make_node("Mul", ["deviation", "weighted"], ["parts"]),
        helper.make_node("ReduceMean", ["parts"], ["contributions"], axes=[1], keepdims=0),
        helper.make_node("ReduceSum", ["contributions", "channel_axis"], ["score"], keepdims=0),
    ]
    return helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("window", TensorProto.FLOAT, ["N", d.window, d.channels])],
        [
            helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"]),
            helper.make_tensor_value_info("contributions", TensorProto.FLOAT, ["N", d.channels]),
        ],
        initializers,
    )
