"""Model intake: hostile uploads are refused in a sandbox, the API process stays small, the service stays up.

Against the running service (real Mosquitto, real HTTP) for what an operator's upload does to
it, and against the intake and the static caps directly for each limit and cap.
"""

from __future__ import annotations

import json
import resource
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest
from authtest_support import RoleClients
from cloudtest_support import Publisher, telemetry
from model_bombs import Branch, cpu_branch, folding_bomb, platform_model, runtime_branch
from onnx import NodeProto, TensorProto, ValueInfoProto, helper, numpy_helper

from cloud.auth.roles import Role
from cloud.errors import BusyError, InvalidArtifactError
from cloud.registry.artifacts import describe_artifact
from cloud.registry.graph_caps import MAX_ELEMENTS, MAX_NODES, check_graph
from cloud.registry.intake import Intake, IntakeLimits
from cloud.server import CloudService
from edge.sandbox import SandboxLimits

MiB = 2**20
REPOSITORY = Path(__file__).resolve().parents[2]


class PeakRss:
    """The highest resident set size of this process (the API's: the service runs in the test process) while open."""

    def __init__(self) -> None:
        self._process, self._stop = psutil.Process(), threading.Event()
        self.start_rss = self.peak = self._process.memory_info().rss
        self.start_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def growth(self) -> int:
        """How far above the start the process went (sampled, and the kernel's own high-water mark)."""
        kernel = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - self.start_maxrss
        return max(self.peak - self.start_rss, kernel)


def upload(client: httpx.Client, content: bytes) -> httpx.Response:
    return client.post("/models", content=content, headers={"content-type": "application/octet-stream"})


@pytest.fixture
def operator(clients: RoleClients) -> httpx.Client:
    return clients(Role.OPERATOR)


def test_the_folding_bomb_is_refused_quickly_and_the_api_process_stays_small(operator: httpx.Client) -> None:
    bomb = folding_bomb()
    assert len(bomb) < 200  # the file: a few bytes that onnxruntime folds into 1 GB at load
    with PeakRss() as rss:
        started = time.monotonic()
        refused = upload(operator, bomb)
        took = time.monotonic() - started
    assert rss.growth < 100 * MiB, f"the API process grew by {rss.growth / MiB:.0f} MiB"
    assert refused.status_code == 422, refused.text
    assert "ConstantOfShape" in refused.json()["detail"] and "the cap is 16,777,216" in refused.json()["detail"]
    assert took < 10
    assert operator.get("/models").json() == []


def test_bombs_in_parallel_do_not_take_the_service_down(
    cloud: CloudService, operator: httpx.Client, publisher: Publisher
) -> None:
    """Six uploads at once: the memory bomb a static reading cannot see and the folding one, while readings arrive."""
    bombs = [platform_model(runtime_branch(), version=f"r{i}") for i in range(3)] + [folding_bomb()] * 3
    answers: list[int] = []
    with httpx.Client(base_url=cloud.api_url, timeout=10) as health, PeakRss() as rss, \
            ThreadPoolExecutor(len(bombs)) as pool:
        futures = [pool.submit(upload, operator, bomb) for bomb in bombs]
        seq = 0
        while not all(f.done() for f in futures):
            publisher.message(telemetry("pump-9", seq, 10))  # the ingest, in this same process
            seq += 10
            answers.append(health.get("/healthz").status_code)
            time.sleep(0.05)
        refusals = [f.result() for f in futures]
    assert [r.status_code for r in refusals] == [422] * len(bombs), [r.text for r in refusals]
    assert all("memory limit" in r.json()["detail"] for r in refusals[:3])
    assert answers and set(answers) == {200}
    assert rss.growth < 150 * MiB, f"the API process grew by {rss.growth / MiB:.0f} MiB"
    def stored() -> int:
        return int(operator.get("/assets/pump-9").json().get("readings_stored", 0))

    deadline = time.monotonic() + 10
    while stored() < seq and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stored() == seq  # every reading sent during the uploads was stored
    good = upload(operator, platform_model(version="ok"))
    assert good.status_code == 201, good.text  # and a valid model is still accepted


@pytest.mark.parametrize(("branch", "limits", "refusal"), [
    (runtime_branch, SandboxLimits(768 * MiB, cpu_s=10, wall_s=30), "exceeded the 768 MiB memory limit"),
    (cpu_branch, SandboxLimits(768 * MiB, cpu_s=1, wall_s=30), "exceeded the 1 s CPU-time limit"),
    (cpu_branch, SandboxLimits(768 * MiB, cpu_s=30, wall_s=1.5), "took longer than the 1.5 s time limit"),
])
def test_a_limit_hit_in_the_sandbox_is_a_refusal(
    branch: Callable[[], Branch], limits: SandboxLimits, refusal: str
) -> None:
    """What no static cap can see (a shape from the window's values, a loop) is stopped by the sandbox's limits."""
    content = platform_model(branch())
    check_graph(content)  # the static caps let it through: only the limits stop it
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    with PeakRss() as rss, pytest.raises(InvalidArtifactError, match=refusal):
        describe_artifact(content, Intake(IntakeLimits(limits)))
    assert rss.growth < 50 * MiB
    # The child itself stayed within its address-space limit (its resident set is below it).
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 <= max(children_before, limits.memory_bytes)


def test_valid_models_are_accepted_as_before() -> None:
    for path in sorted((REPOSITORY / "models" / "artifacts").glob("*.onnx")):
        description = describe_artifact(path.read_bytes())
        assert description.model_id in ("pump-pca-baseline", "turbofan-rul")
    plain = describe_artifact(platform_model(version="7"))
    assert (plain.model_id, plain.version, plain.window, len(plain.channels)) == ("pump-test", "7", 10, 8)


def test_uploads_beyond_the_concurrency_wait_then_are_told_to_come_back() -> None:
    intake = Intake(IntakeLimits(SandboxLimits(768 * MiB, cpu_s=30, wall_s=3), concurrency=1, queue_timeout_s=0.5))
    slow = platform_model(cpu_branch())
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(intake.inspect, slow)
        time.sleep(0.5)  # the slow check holds the one slot
        with pytest.raises(BusyError) as busy:
            intake.inspect(platform_model())
        with pytest.raises(InvalidArtifactError, match="time limit"):
            running.result()
    assert busy.value.retry_after_s >= 1
    assert intake.inspect(platform_model()).metadata["id"] == "pump-test"  # the slot was given back


def _graph(nodes: list[NodeProto], initializers: list[TensorProto] | None = None,
           inputs: list[ValueInfoProto] | None = None, opset: tuple[str, int] = ("", 13),
           **model_fields: object) -> bytes:
    graph = helper.make_graph(nodes, "g", inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializers or [])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(*opset)], **model_fields)
    model.ir_version = 8
    return bytes(model.SerializeToString())


def _ints(name: str, values: list[int]) -> TensorProto:
    return numpy_helper.from_array(np.array(values, np.int64), name)


def _external() -> bytes:
    weights = helper.make_tensor("w", TensorProto.FLOAT, [4], [0.0] * 4)
    weights.ClearField("float_data")
    weights.data_location = TensorProto.EXTERNAL
    weights.external_data.add(key="location", value="/etc/passwd")
    return _graph([helper.make_node("Add", ["x", "w"], ["y"])], [weights])


def _metadata(size: int) -> bytes:
    content = _graph([helper.make_node("Identity", ["x"], ["y"])])
    from onnx import load_model_from_string

    model = load_model_from_string(content)
    helper.set_model_props(model, {"paas.model": json.dumps({"pad": "x" * size})})
    return bytes(model.SerializeToString())


def _nested(depth: int) -> bytes:
    body = helper.make_graph([helper.make_node("Identity", ["x"], ["y_in"])], "b", [],
                             [helper.make_tensor_value_info("y_in", TensorProto.FLOAT, [1])])
    for _ in range(depth):
        node = helper.make_node("If", ["c"], ["y_in"], then_branch=body, else_branch=body)
        body = helper.make_graph([node], "b", [], [helper.make_tensor_value_info("y_in", TensorProto.FLOAT, [1])])
    return _graph([*body.node, helper.make_node("Identity", ["y_in"], ["y"])],
                  [numpy_helper.from_array(np.array(True), "c")])


STATIC_BOMBS: dict[str, tuple[Callable[[], bytes], str]] = {
    "expand": (lambda: _graph([helper.make_node("Expand", ["x", "s"], ["y"])], [_ints("s", [8192, 8192])]),
               "(Expand) makes a tensor of at least 67,108,864"),
    "tile": (lambda: _graph([helper.make_node("Tile", ["x", "r"], ["y"])], [_ints("r", [100_000_000])]),
             "(Tile) makes a tensor of at least 100,000,000"),
    "range": (lambda: _graph([helper.make_node("Range", ["a", "b", "d"], ["y"])],
                             [numpy_helper.from_array(np.array(0, np.int64), "a"),
                              numpy_helper.from_array(np.array(10**9, np.int64), "b"),
                              numpy_helper.from_array(np.array(1, np.int64), "d")]),
              "(Range) makes a tensor of at least 1,000,000,000"),
    "constant_node": (lambda: _graph([
        helper.make_node("Constant", [], ["s"], value=helper.make_tensor("", TensorProto.INT64, [2], [9000, 9000])),
        helper.make_node("ConstantOfShape", ["s"], ["y"])]), "(ConstantOfShape) makes a tensor of at least 81,000,000"),
    "inferred": (lambda: _graph([
        helper.make_node("Concat", ["a", "a"], ["s"], axis=0),
        helper.make_node("ConstantOfShape", ["s"], ["y"])], [_ints("a", [9000])]), "81,000,000 elements"),
    "initializer_dims": (lambda: _graph([helper.make_node("Add", ["x", "w"], ["y"])],
                                        [TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[100_000, 100_000])]),
                         "initializer 'w' has 10,000,000,000 elements"),
    "declared_input": (lambda: _graph([helper.make_node("Identity", ["x"], ["y"])], inputs=[
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [50_000, 50_000])]), "tensor 'x' has 2,500,000,000"),
    "external_data": (_external, "external data"),
    "vendor_domain": (lambda: _graph([helper.make_node("Gelu", ["x"], ["y"], domain="com.microsoft")],
                                     opset=("com.microsoft", 1)), "domain 'com.microsoft' is not accepted"),
    "functions": (lambda: _graph([helper.make_node("F", ["x"], ["y"], domain="local")], opset=("", 13),
                                 functions=[helper.make_function("local", "F", ["a"], ["b"], [
                                     helper.make_node("Identity", ["a"], ["b"])], [helper.make_opsetid("", 13)])]),
                  "functions are not accepted"),
    "metadata": (lambda: _metadata(70_000), "the metadata holds"),
    "nodes": (lambda: _graph([helper.make_node("Identity", ["x"], ["y"])]
                             + [helper.make_node("Identity", ["x"], [f"n{i}"]) for i in range(MAX_NODES)]),
              f"nodes; the cap is {MAX_NODES}"),
    "nesting": (lambda: _nested(6), "nested deeper than 4"),
    "future_opset": (lambda: _graph([helper.make_node("Identity", ["x"], ["y"])], opset=("", 99)),
                     "opset 99 of ai.onnx is outside"),
}


@pytest.mark.parametrize("case", sorted(STATIC_BOMBS))
def test_each_static_cap_refuses_with_its_reason(case: str) -> None:
    build, reason = STATIC_BOMBS[case]
    with pytest.raises(InvalidArtifactError) as refused:
        check_graph(build())
    assert reason in str(refused.value)


def test_the_caps_leave_room_for_the_repositorys_models() -> None:
    for path in sorted((REPOSITORY / "models" / "artifacts").glob("*.onnx")):
        check_graph(path.read_bytes())
    assert MAX_ELEMENTS >= 1000 * 16_384  # turbofan-rul's largest tensor, a thousandfold


@pytest.fixture(autouse=True)
def _no_leftover_children() -> Iterator[None]:
    """Every sandboxed child is reaped: none outlives its check (a killed one included)."""
    yield
    leftovers = [p for p in psutil.Process().children(recursive=True) if "cloud.registry.intake" in " ".join(
        p.cmdline())]
    assert leftovers == []
