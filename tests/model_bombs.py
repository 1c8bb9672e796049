"""Hostile ONNX models for the intake and over-the-air tests, built with onnx.helper (nothing is stored as a binary).

- `folding_bomb()`: the issue's file, under 200 bytes: `ConstantOfShape` to 16,000 x 16,000 float32
  from a constant shape; onnxruntime with its default optimisations folds it at load (1 GB per copy).
- `platform_model(branch)`: a valid platform anomaly model (z-score of the pump's 8 channels, complete
  `paas.model` metadata) whose score also depends on a hostile `branch`, so every run of the score
  runs it, on a device as in any check:
  - `constant_branch()`: the folding bomb inside a real model (caught by the static caps);
  - `runtime_branch()`: a shape computed from the window's values (zeros give 20,000 x 20,000, 1.6 GB):
    no static reading can know it, only a memory limit stops it;
  - `cpu_branch()`: a `Loop` of 10**12 iterations: small in memory, endless in CPU time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
from onnx import NodeProto, TensorProto, helper, numpy_helper

from contract.channels import PUMP_CHANNELS

OPSET = 13
PUMP_CENTER = (0.2, 0.29, 2.2, 1.2, 89.0, 29.0, 232.0, 122.0)
Branch = tuple[list[NodeProto], list[TensorProto], str]  # nodes, initializers, the name of a float scalar output


def folding_bomb(side: int = 16_000) -> bytes:
    """The bare bomb: no metadata, one `ConstantOfShape` a default onnxruntime session folds at load."""
    graph = helper.make_graph(
        [helper.make_node("ConstantOfShape", ["s"], ["b"], value=helper.make_tensor("", TensorProto.FLOAT, [1], [1])),
         helper.make_node("Add", ["x", "b"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array([side, side], np.int64), "s")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="")
    model.ir_version = 8
    return bytes(model.SerializeToString())


def constant_branch(side: int = 16_000) -> Branch:
    shape = numpy_helper.from_array(np.array([side, side], np.int64), "bomb_shape")
    nodes = [helper.make_node("ConstantOfShape", ["bomb_shape"], ["bomb"],
                              value=helper.make_tensor("", TensorProto.FLOAT, [1], [0.0])),
             helper.make_node("ReduceSum", ["bomb"], ["bomb_sum"], keepdims=0)]
    return nodes, [shape], "bomb_sum"


def runtime_branch(side: int = 20_000) -> Branch:
    """side + max(window) (an int), squared: the shape exists only once the window's values are known."""
    nodes = [
        helper.make_node("ReduceMax", ["window"], ["peak"], keepdims=0),
        helper.make_node("Cast", ["peak"], ["peak_int"], to=TensorProto.INT64),
        helper.make_node("Add", ["peak_int", "bomb_side"], ["side"]),
        helper.make_node("Unsqueeze", ["side", "bomb_axis"], ["side_1"]),
        helper.make_node("Concat", ["side_1", "side_1"], ["bomb_shape"], axis=0),
        helper.make_node("ConstantOfShape", ["bomb_shape"], ["bomb"],
                         value=helper.make_tensor("", TensorProto.FLOAT, [1], [0.0])),
        helper.make_node("ReduceSum", ["bomb"], ["bomb_sum"], keepdims=0),
    ]
    constants = [numpy_helper.from_array(np.array(side, np.int64), "bomb_side"),
                 numpy_helper.from_array(np.array([0], np.int64), "bomb_axis")]
    return nodes, constants, "bomb_sum"


def cpu_branch(iterations: int = 10**12) -> Branch:
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond"], ["cond_out"]),
         helper.make_node("Add", ["v", "one"], ["v_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [])],
        [numpy_helper.from_array(np.array(1.0, np.float32), "one")],
    )
    nodes = [helper.make_node("Loop", ["loop_n", "loop_go", "loop_v0"], ["loop_sum"], body=body)]
    constants = [numpy_helper.from_array(np.array(iterations, np.int64), "loop_n"),
                 numpy_helper.from_array(np.array(True), "loop_go"),
                 numpy_helper.from_array(np.array(0.0, np.float32), "loop_v0")]
    return nodes, constants, "loop_sum"


def platform_model(branch: Branch | None = None, *, model_id: str = "pump-test", version: str = "1",
                   center: Sequence[float] = PUMP_CENTER, window: int = 10) -> bytes:
    """A registrable anomaly model; with `branch`, its score is `mean z^2 + 0 * branch` (the branch always runs)."""
    n = len(PUMP_CHANNELS)
    nodes = [
        helper.make_node("Sub", ["window", "center"], ["centered"]),
        helper.make_node("Div", ["centered", "scale"], ["z"]),
        helper.make_node("Mul", ["z", "z"], ["z2"]),
        helper.make_node("ReduceMean", ["z2"], ["contributions"], axes=[1], keepdims=0),
        helper.make_node("ReduceMean", ["contributions"], ["plain_score"], axes=[1], keepdims=0),
    ]
    initializers = [
        numpy_helper.from_array(np.asarray(center, np.float32), "center"),
        numpy_helper.from_array(np.asarray([0.05 * abs(c) for c in center], np.float32), "scale"),
    ]
    if branch is None:
        nodes.append(helper.make_node("Identity", ["plain_score"], ["score"]))
    else:
        extra_nodes, extra_constants, output = branch
        nodes += [*extra_nodes, helper.make_node("Mul", [output, "zero"], ["nothing"]),
                  helper.make_node("Add", ["plain_score", "nothing"], ["score"])]
        initializers += [*extra_constants, numpy_helper.from_array(np.array(0.0, np.float32), "zero")]
    graph = helper.make_graph(
        nodes, "hostile", [helper.make_tensor_value_info("window", TensorProto.FLOAT, ["N", window, n])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"]),
         helper.make_tensor_value_info("contributions", TensorProto.FLOAT, ["N", n])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    meta = {
        "id": model_id, "version": version, "kind": "anomaly", "asset_kind": "pump",
        "channels": [c.name for c in PUMP_CHANNELS], "units": [c.unit for c in PUMP_CHANNELS], "window": window,
        "threshold": 4.0, "created_at": "2027-01-15T08:00:00Z", "training_fingerprint": "test", "metrics": {},
        "normalisation": {"center": list(center)},
    }
    helper.set_model_props(model, {"paas.model": json.dumps(meta)})
    return bytes(model.SerializeToString())
