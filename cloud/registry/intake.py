"""Model intake: an uploaded ONNX file is checked in a sandboxed child process, never loaded in the API's own.

One 188-byte upload (`ConstantOfShape` to 16,000 x 16,000, folded by onnxruntime at load)
once took the API process to 2.1 GB, and the API process also runs the ingest. Now the
bytes go to a child (edge.sandbox: address-space and CPU-time limits, a wall-clock timeout,
a scrubbed environment, an empty working directory) that:

1. checks the graph's static caps with `onnx` (cloud/registry/graph_caps.py), before
   onnxruntime sees a byte;
2. loads it as a device will (edge.runtime: graph optimisations off, one thread);
3. reads the `paas.model` metadata and the declared inputs;
4. scores one window of zeros of the shape the metadata and graph agree on, so a model
   whose run-time shapes explode is refused here, not on a device.

It answers the metadata and inputs, or a refusal; a limit hit is a refusal too
(`InvalidArtifactError`, 422). At most `concurrency` children run at once (a semaphore), so
simultaneous uploads cannot take more than `concurrency` x `memory_bytes` of the host; an
upload that waits longer than `queue_timeout_s` for its turn is answered 429 with
Retry-After (`BusyError`). Detector fitting registers through the same path.

Run as `python -m cloud.registry.intake MEMORY_BYTES CPU_S` with the artifact on stdin.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cloud.errors import BusyError, InvalidArtifactError
from edge.errors import SandboxError
from edge.runtime import artifact_metadata, open_session
from edge.sandbox import SandboxLimits, child_main, run_sandboxed

MODULE = "cloud.registry.intake"
MAX_ELEMENTS = 2**24  # as cloud.registry.graph_caps (not imported here: the API process need not load onnx)
INPUT_NAME = "window"
_FLOAT = "tensor(float)"


@dataclass(frozen=True)
class IntakeLimits:
    """What checking one upload may cost, and how many checks run at once."""

    # 768 MiB of address space: ~210 MiB is the interpreter with numpy, onnx and onnxruntime; the rest holds a
    # 64 MiB artifact (the largest PAAS_MAX_ARTIFACT_BYTES allows) parsed and loaded, and a few capped tensors.
    sandbox: SandboxLimits = field(default_factory=lambda: SandboxLimits(768 * 2**20, cpu_s=10, wall_s=30.0))
    concurrency: int = 2
    queue_timeout_s: float = 30.0


@dataclass(frozen=True)
class Inspection:
    """What the sandbox read from an artifact: its metadata and its inputs (name -> shape, type)."""

    metadata: dict[str, Any]
    inputs: dict[str, tuple[list[int | str | None], str]]


class Intake:
    """Checks uploads in sandboxed children, at most `limits.concurrency` at a time."""

    def __init__(self, limits: IntakeLimits | None = None) -> None:
        self.limits = limits or IntakeLimits()
        self._slots = threading.BoundedSemaphore(self.limits.concurrency)

    def inspect(self, content: bytes) -> Inspection:
        """The artifact's metadata and inputs; `InvalidArtifactError` if it is refused or exceeds a limit."""
        if not self._slots.acquire(timeout=self.limits.queue_timeout_s):
            raise BusyError(f"{self.limits.concurrency} model uploads are being checked; try again "
                                       "shortly", retry_after_s=max(1.0, self.limits.sandbox.wall_s))
        try:
            answer = run_sandboxed(MODULE, content, self.limits.sandbox)
        except SandboxError as exc:
            if exc.limit:
                raise InvalidArtifactError(f"checking the artifact ({self.limits.sandbox.describe()}) {exc}") from None
            raise InvalidArtifactError(str(exc)) from None
        finally:
            self._slots.release()
        return _inspection(answer)


def _inspection(answer: dict[str, Any]) -> Inspection:
    metadata, inputs = answer.get("metadata"), answer.get("inputs")
    if not isinstance(metadata, dict) or not isinstance(inputs, dict):
        raise InvalidArtifactError("the artifact checker gave no metadata")
    return Inspection(metadata, {str(k): (list(v[0]), str(v[1])) for k, v in inputs.items()})


def _inspect(content: bytes) -> dict[str, Any]:
    """The child's work (see the module docstring); any exception is the refusal's reason."""
    from cloud.registry.graph_caps import check_graph  # onnx is imported in the child only (~0.2 s)

    check_graph(content)
    session = open_session(content)
    metadata = artifact_metadata(session)
    inputs = {i.name: (list(i.shape), str(i.type)) for i in session.get_inputs()}
    shape = _window_shape(metadata, inputs)
    if shape is not None:
        try:
            session.run(None, {INPUT_NAME: np.zeros(shape, np.float32)})
        except Exception as exc:  # onnxruntime's own errors; a memory failure is recognised by the sandbox
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise RuntimeError(f"the model cannot score a window of zeros {list(shape)}: {first}") from None
    return {"metadata": metadata, "inputs": inputs}


def _window_shape(metadata: dict[str, Any], inputs: dict[str, Any]) -> tuple[int, int, int] | None:
    """[1, W, C] when the metadata and the graph's `window` input agree on it; else None (the registry refuses)."""
    window, channels = metadata.get("window"), metadata.get("channels")
    if INPUT_NAME not in inputs or inputs[INPUT_NAME][1] != _FLOAT:
        return None
    if not (isinstance(window, int) and not isinstance(window, bool) and window >= 1):
        return None
    if not (isinstance(channels, list) and channels):
        return None
    if window * len(channels) > MAX_ELEMENTS:
        raise ValueError(f"a window of {window} x {len(channels)} values is over the {MAX_ELEMENTS:,}-element cap")
    dims = inputs[INPUT_NAME][0]
    shape = (1, window, len(channels))
    if len(dims) != 3 or any(isinstance(d, int) and d != want for d, want in zip(dims[1:], shape[1:], strict=True)):
        return None
    return shape


if __name__ == "__main__":
    child_main(_inspect)
