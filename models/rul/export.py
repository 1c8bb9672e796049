"""The RUL artifact: an ensemble of networks and its conformal band in one ONNX graph, built with `onnx.helper`.

Input `window` float32 [N, W, 24]: raw samples of all `TURBOFAN_CHANNELS` in their
canonical units, oldest first, the last row being the cycle predicted for. The graph
selects the 14 informative channels, z-scores them, runs every member network,
averages them and clips to [0, clip]. Outputs, all float32 [N] and in flight cycles:
`rul` (the point estimate), `rul_lower` and `rul_upper` (the conformal band at the
coverage recorded in the metadata; `rul_lower` is the pessimistic side to plan on).
In between, a MatMul with `features.summary_basis` turns each channel's window into
its summaries, and each member is a chain of Gemm + Relu.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models.export import ArtifactInfo, f32, serialize
from models.rul.band import BIN_WIDTH, BINS
from models.rul.ensemble import RulEnsemble
from models.rul.features import INFORMATIVE_INDEX, summary_basis
from models.rul.weights import NetworkWeights

OUTPUTS = ("rul", "rul_lower", "rul_upper")


def export_rul(ensemble: RulEnsemble, info: ArtifactInfo, extra: dict[str, Any] | None = None) -> bytes:
    """The serialized ONNX model of `ensemble`, with `info` and `extra` as its `paas.model` metadata."""
    extra = {
        "outputs": {
            "rul": "point estimate of remaining flight cycles, clipped to [0, rul_clip]",
            "rul_lower": "lower bound of the conformal band (plan on this)",
            "rul_upper": "upper bound of the conformal band",
        },
        "rul_clip": ensemble.clip,
        "band": {
            "coverage_nominal": ensemble.band.coverage,
            "bin_width": BIN_WIDTH,
            "lower": ensemble.band.lower.tolist(),
            "upper": ensemble.band.upper.tolist(),
        },
        "members": len(ensemble.members),
        # The input schema's normalisation (the graph applies it): z-scores of the informative channels.
        "normalisation": {
            "channels": [info.channels[i].name for i in INFORMATIVE_INDEX],
            "mean": ensemble.normaliser.mean.tolist(),
            "scale": ensemble.normaliser.scale.tolist(),
        },
        **(extra or {}),
    }
    return serialize(_graph(ensemble, info.window, len(info.channels), info.id), info, extra)



def _graph(e: RulEnsemble, window: int, channels: int, name: str) -> onnx.GraphProto:
    initializers = [
        numpy_helper.from_array(np.asarray(INFORMATIVE_INDEX, dtype=np.int64), "informative"),
        f32("mean", e.normaliser.mean),
        f32("inv_scale", 1.0 / e.normaliser.scale),
        f32("summary_basis", summary_basis(window)),
        f32("zero", 0.0),
        f32("ceiling", e.clip),
        f32("bin_width", BIN_WIDTH),
        f32("last_bin", float(BINS - 1)),
        f32("band_lower", e.band.lower),
        f32("band_upper", e.band.upper),
    ]
    nodes = [
        helper.make_node("Gather", ["window", "informative"], ["picked"], axis=2),
        helper.make_node("Sub", ["picked", "mean"], ["centred"]),
        helper.make_node("Mul", ["centred", "inv_scale"], ["z"]),
        helper.make_node("Transpose", ["z"], ["z_channels_first"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["z_channels_first", "summary_basis"], ["summaries"]),
        helper.make_node("Flatten", ["summaries"], ["features"], axis=1),
    ]
    outputs = []
    for m, member in enumerate(e.members):
        member_nodes, member_inits, out = _member(member, f"m{m}", "features")
        nodes += member_nodes
        initializers += member_inits
        outputs.append(out)
    nodes += [
        helper.make_node("Concat", outputs, ["member_rul"], axis=1),
        helper.make_node("ReduceMean", ["member_rul"], ["rul_mean"], axes=[1], keepdims=0),
        helper.make_node("Clip", ["rul_mean", "zero", "ceiling"], ["rul"]),
        *_band_nodes(),
    ]
    return helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("window", TensorProto.FLOAT, ["N", window, channels])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, ["N"]) for o in OUTPUTS],
        initializers,
    )


def _member(w: NetworkWeights, p: str, source: str) -> tuple[list[onnx.NodeProto], list[TensorProto], str]:
    """One network's nodes: Gemm + ReLU per hidden layer, then the output layer [N, 1] in cycles."""
    nodes: list[onnx.NodeProto] = []
    inits: list[TensorProto] = []
    h = source
    last = len(w.layers) - 1
    for i, layer in enumerate(w.layers):
        # The output layer is scaled to cycles here so the graph needs no separate multiply.
        scale = w.target_scale if i == last else 1.0
        inits += [f32(f"{p}_w{i}", layer.weight * scale), f32(f"{p}_b{i}", layer.bias * scale)]
        nodes.append(helper.make_node("Gemm", [h, f"{p}_w{i}", f"{p}_b{i}"], [f"{p}_pre{i}"], transB=1))
        if i < last:
            nodes.append(helper.make_node("Relu", [f"{p}_pre{i}"], [f"{p}_act{i}"]))
            h = f"{p}_act{i}"
    return nodes, inits, f"{p}_pre{last}"


def _band_nodes() -> list[onnx.NodeProto]:
    """rul_lower/upper = clip(rul + offset[bin(rul)], 0, ceiling), as `Band.apply` computes them."""
    return [
        helper.make_node("Div", ["rul", "bin_width"], ["bin_real"]),
        helper.make_node("Floor", ["bin_real"], ["bin_floor"]),
        helper.make_node("Clip", ["bin_floor", "zero", "last_bin"], ["bin_clipped"]),
        helper.make_node("Cast", ["bin_clipped"], ["bin"], to=TensorProto.INT64),
        helper.make_node("Gather", ["band_lower", "bin"], ["lower_offset"], axis=0),
        helper.make_node("Gather", ["band_upper", "bin"], ["upper_offset"], axis=0),
        helper.make_node("Add", ["rul", "lower_offset"], ["lower_raw"]),
        helper.make_node("Add", ["rul", "upper_offset"], ["upper_raw"]),
        helper.make_node("Clip", ["lower_raw", "zero", "ceiling"], ["rul_lower"]),
        helper.make_node("Clip", ["upper_raw", "zero", "ceiling"], ["rul_upper"]),
    ]
