"""Static caps on an uploaded ONNX graph, checked with the `onnx` package before onnxruntime sees it.

A model is a program, and some of its sizes are written in the file: an initializer's dims,
a `Constant`, the shape a `ConstantOfShape` or `Expand` is given, the repeats of a `Tile`.
Those are read here, without allocating a byte of what they describe, and a model that asks
for more than a platform model ever needs is refused with the node that asks. What no static
reading can know (a shape computed at run time) is the sandbox's to bound
(cloud/registry/intake.py: the checks below run in it too, before the load).

The caps, and why (docs/security.md, "Model intake", has them as a table):

- `MAX_ELEMENTS` = 2**24 elements (64 MiB of float32) in one tensor: an initializer, a
  constant, a declared or inferred shape, the output a `ConstantOfShape`, `Expand`, `Tile`,
  `Resize`, `Upsample`, `Range`, `OneHot`, `Pad` or `Random*` is given from constants. The
  repository's models hold at most 16,384 values in one tensor (turbofan-rul) and a window
  [N, W, C] a few thousand: a thousandfold margin, while several such tensors still fit the
  sandbox's memory. One dimension has the same cap.
- `MAX_NODES` = 10,000 nodes over all graphs: turbofan-rul has 44, pump-baseline 19; tens of
  thousands are generated, not trained, and each costs load time.
- `MAX_DEPTH` = 4 levels of subgraphs (`If`, `Loop`, `Scan` bodies): no model of ours nests,
  and each level hides more from a static reading.
- `MAX_METADATA_BYTES` = 64 KiB of `metadata_props`: the `paas.model` object is 1.7-2.4 KB,
  and the registry returns it in listings.
- Operator domains `ai.onnx` (opset 7 to what the installed `onnx` knows) and `ai.onnx.ml`:
  vendor domains (`com.microsoft`) bring kernels outside the standard's review, and an opset
  newer than the checker's may hold operators it cannot read. The IR version likewise.
- No external data and no model-local functions: external data names a file on the loading
  host (onnxruntime would read a path chosen by the uploader); functions hide nodes from
  these counts. Platform artifacts use neither.

There is no per-operator allow-list: artifacts come from torch, scikit-learn and hand-made
graphs, whose operators change with every exporter, and an operator is dangerous through the
sizes it is given, which is what is capped. Shapes are also inferred (`onnx.shape_inference`
with data propagation), so a shape built from constants through `Concat` or `Mul` is
caught too.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, numpy_helper

from cloud.errors import InvalidArtifactError

_Values = npt.NDArray[Any]
MAX_ELEMENTS = 2**24
MAX_NODES = 10_000
MAX_DEPTH = 4
MAX_METADATA_BYTES = 64 * 1024
MIN_OPSET = 7
_SHAPE_VALUES = 64  # a shape-like constant longer than this is not a shape: not read
_OPSETS = {"": onnx.defs.onnx_opset_version(), "ai.onnx": onnx.defs.onnx_opset_version(),
           "ai.onnx.ml": onnx.defs.onnx_ml_opset_version()}


@dataclass(frozen=True)
class _Scope:
    """The small integer and float constants of the graphs seen so far, by name (shapes, repeats, scales)."""

    values: dict[str, _Values]


def check_graph(content: bytes) -> ModelProto:
    """The parsed model if every cap holds; `InvalidArtifactError` naming the first one that does not."""
    try:
        model = onnx.load_model_from_string(content)
    except Exception as exc:  # protobuf's DecodeError, and whatever a damaged file makes the parser say
        raise InvalidArtifactError(f"onnxruntime cannot load the artifact: it is not an ONNX model ({exc})") from None
    _check_model(model)
    scope = _Scope({})
    nodes = sum(_check_graph(model.graph, scope, depth=0))
    if nodes > MAX_NODES:
        raise InvalidArtifactError(f"the graph has {nodes} nodes; the cap is {MAX_NODES}")
    _check_inferred(model)
    return model


def _check_model(model: ModelProto) -> None:
    if model.ir_version > onnx.IR_VERSION:
        raise InvalidArtifactError(f"IR version {model.ir_version} is newer than this registry reads "
                                   f"({onnx.IR_VERSION})")
    for opset in model.opset_import:
        top = _OPSETS.get(opset.domain)
        if top is None:
            raise InvalidArtifactError(f"operator domain {opset.domain!r} is not accepted (only ai.onnx and "
                                       "ai.onnx.ml)")
        low = MIN_OPSET if opset.domain in ("", "ai.onnx") else 1
        if not low <= opset.version <= top:
            raise InvalidArtifactError(f"opset {opset.version} of {opset.domain or 'ai.onnx'} is outside "
                                       f"{low}..{top}")
    if model.functions:
        raise InvalidArtifactError("model-local functions are not accepted (export the graph flat)")
    metadata = sum(len(p.key.encode()) + len(p.value.encode()) for p in model.metadata_props)
    if metadata > MAX_METADATA_BYTES:
        raise InvalidArtifactError(f"the metadata holds {metadata} bytes; the cap is {MAX_METADATA_BYTES}")


def _check_graph(graph: GraphProto, scope: _Scope, depth: int) -> Iterator[int]:
    """Check one graph and its subgraphs; yields node counts."""
    if depth > MAX_DEPTH:
        raise InvalidArtifactError(f"subgraphs are nested deeper than {MAX_DEPTH}")
    for tensor in graph.initializer:
        _check_tensor(tensor, f"initializer {tensor.name!r}")
        _remember(scope, tensor.name, tensor)
    for sparse in graph.sparse_initializer:
        _check_dims(list(sparse.dims), f"sparse initializer {sparse.values.name!r}")
    for info in [*graph.input, *graph.output, *graph.value_info]:
        _check_declared(info)
    yield len(graph.node)
    for node in graph.node:
        if node.domain not in _OPSETS:
            raise InvalidArtifactError(f"node {_name(node)} is of domain {node.domain!r} (only ai.onnx and "
                                       "ai.onnx.ml)")
        for attribute in node.attribute:
            yield from _check_attribute(node, attribute, scope, depth)
        _check_amplifier(node, scope)


def _check_attribute(node: NodeProto, attribute: AttributeProto, scope: _Scope, depth: int) -> Iterator[int]:
    if attribute.type == AttributeProto.TENSOR:
        _check_tensor(attribute.t, f"node {_name(node)} attribute {attribute.name!r}")
        if node.op_type == "Constant" and node.output:
            _remember(scope, node.output[0], attribute.t)
    for tensor in attribute.tensors:
        _check_tensor(tensor, f"node {_name(node)} attribute {attribute.name!r}")
    if attribute.type == AttributeProto.GRAPH:
        yield from _check_graph(attribute.g, scope, depth + 1)
    for graph in attribute.graphs:
        yield from _check_graph(graph, scope, depth + 1)
    if node.op_type == "Constant" and node.output and attribute.name in ("value_ints", "value_floats"):
        values = attribute.ints if attribute.name == "value_ints" else attribute.floats
        if len(values) > MAX_ELEMENTS:
            raise InvalidArtifactError(f"node {_name(node)} holds {len(values)} values; the cap is {MAX_ELEMENTS}")
        if len(values) <= _SHAPE_VALUES:
            scope.values[node.output[0]] = np.asarray(list(values))


def _check_amplifier(node: NodeProto, scope: _Scope) -> None:
    """Ops whose output size comes straight from a constant input or attribute: the size, read, not made."""
    def const(index: int) -> _Values | None:
        return scope.values.get(node.input[index]) if len(node.input) > index else None

    op, sizes = node.op_type, []
    if op == "ConstantOfShape":
        sizes = [_product(const(0))]
    elif op == "Expand":
        sizes = [_product(const(1))]
    elif op == "Tile":
        sizes = [_product(const(1)) * _product(_shape_of(const(0)))]
    elif op == "Resize":
        sizes = [_product(const(3)), _product(const(2))]  # sizes, or scales (times an input of at least 1)
    elif op == "Upsample":
        sizes = [_product(const(1))]
    elif op == "Range":
        sizes = [_range_length(const(0), const(1), const(2))]
    elif op == "OneHot":
        sizes = [_product(const(1))]
    elif op == "Pad":
        pads = const(1)
        sizes = [_product(_pad_spans(pads)) if pads is not None else 1]
    elif op in ("RandomNormal", "RandomUniform"):
        shape = next((list(a.ints) for a in node.attribute if a.name == "shape"), [])
        sizes = [_product(np.asarray(shape))]
    biggest = max(sizes, default=0)
    if biggest > MAX_ELEMENTS:
        raise InvalidArtifactError(f"node {_name(node)} makes a tensor of at least {biggest:,.0f} elements "
                                   f"from constants; the cap is {MAX_ELEMENTS:,}")


def _check_inferred(model: ModelProto) -> None:
    """Shapes onnx infers from constants (data propagation through Shape, Concat, Mul, …), capped as declared ones."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except Exception:  # an inference the checker cannot do is onnxruntime's to judge (in the sandbox)
        return
    for info in [*inferred.graph.value_info, *inferred.graph.output]:
        _check_declared(info)


def _check_tensor(tensor: TensorProto, what: str) -> None:
    if tensor.data_location == TensorProto.EXTERNAL or tensor.external_data:
        raise InvalidArtifactError(f"{what} refers to external data (a file on the loading host); "
                                   "artifacts must be self-contained")
    _check_dims(list(tensor.dims), what)


def _check_declared(info: onnx.ValueInfoProto) -> None:
    if info.type.HasField("tensor_type") and info.type.tensor_type.HasField("shape"):
        dims = [d.dim_value for d in info.type.tensor_type.shape.dim if d.HasField("dim_value")]
        _check_dims(dims, f"tensor {info.name!r}")


def _check_dims(dims: list[int], what: str) -> None:
    if any(d < 0 or d > MAX_ELEMENTS for d in dims):
        raise InvalidArtifactError(f"{what} has a dimension outside 0..{MAX_ELEMENTS:,}: {dims[:8]}")
    elements = math.prod(dims)
    if elements > MAX_ELEMENTS:
        raise InvalidArtifactError(f"{what} has {elements:,} elements ({dims[:8]}); the cap is {MAX_ELEMENTS:,}")


def _remember(scope: _Scope, name: str, tensor: TensorProto) -> None:
    """Keep a small numeric constant (a shape, repeats, scales) for the amplifier checks; big ones are not read."""
    if math.prod(tensor.dims) > _SHAPE_VALUES or tensor.data_type not in _READABLE:
        return
    try:
        scope.values[name] = numpy_helper.to_array(tensor).reshape(-1)
    except Exception:  # a malformed constant: onnxruntime refuses it at load
        return


_READABLE = {TensorProto.INT64, TensorProto.INT32, TensorProto.FLOAT, TensorProto.DOUBLE}


def _product(values: _Values | None) -> float:
    """The product of a shape's values (a value below 1 counts as 1: broadcast, or a dimension kept); 1 if unknown."""
    if values is None or not np.all(np.isfinite(values)):
        return 1.0
    return float(math.prod(max(1.0, float(v)) for v in values.reshape(-1)))


def _shape_of(values: _Values | None) -> _Values | None:
    return None if values is None else np.asarray([values.size])


def _range_length(start: _Values | None, limit: _Values | None, delta: _Values | None) -> float:
    if start is None or limit is None or delta is None or start.size != 1 or limit.size != 1 or delta.size != 1:
        return 0.0
    step = float(delta[0])
    if step == 0 or not math.isfinite(step):
        return math.inf  # onnxruntime would run forever or refuse: neither is a model
    return max(0.0, math.ceil((float(limit[0]) - float(start[0])) / step))


def _pad_spans(pads: _Values) -> _Values:
    """Per axis, the elements a pad adds (begin + end), from the [b1, …, bn, e1, …, en] layout."""
    half = pads.size // 2
    return np.asarray([float(pads[i]) + float(pads[i + half]) for i in range(half)])


def _name(node: NodeProto) -> str:
    label = node.name or (node.output[0] if node.output else "")
    return f"{label!r} ({node.op_type})"
