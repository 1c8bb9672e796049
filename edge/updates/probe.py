"""A candidate model tried in a sandboxed child before the agent loads it: load it, score one window, under limits.

The cloud checked the artifact before signing its manifest (a static check of the graph
with the `onnx` package, then the same load in a sandbox: cloud/registry/intake.py). The
device does not repeat the static check: it would need `onnx` (or a protobuf parser of our
own, more code on the device that parses hostile bytes, the very thing the hand-written
Ed25519 verifier was removed for), and it could only ever be a partial list of the ways a
graph can ask for memory. What guards the device is this probe: whatever the graph does,
it does it in a child limited to the device's budget (`--model-probe-memory-mb`,
`--model-probe-timeout`), with the options the agent loads with (no graph optimisations,
one thread, edge.runtime), and it scores the agent's current window (when it has the candidate's
length; else zeros of the model's shape) as the agent would next. A limit hit is `failed:resource_limit`; a model
onnxruntime refuses is `failed:load_failed`; the agent's own process never held it.

Run as `python -m edge.updates.probe MEMORY_BYTES CPU_S` with `{"path": …, "window": …}`
on stdin (edge.sandbox).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.errors import SandboxError, UpdateError
from edge.runtime import artifact_metadata, open_session
from edge.sandbox import SandboxLimits, child_main, run_sandboxed

MODULE = "edge.updates.probe"
MAX_WINDOW_VALUES = 2**24  # a zeros window beyond this is no probe of a platform model (and the cloud refused it)
# A Pi-class device: 1 GiB of RAM, onnxruntime imported in seconds, not milliseconds.
EDGE_LIMITS = SandboxLimits(memory_bytes=512 * 2**20, cpu_s=30, wall_s=60.0)


def probe_candidate(path: Path, window: npt.NDArray[np.floating[Any]] | None, limits: SandboxLimits) -> None:
    """Load `path` and score `window` (None: zeros) in a sandboxed child; `UpdateError` if it fails or hits a limit."""
    request = {"path": str(path.resolve()), "window": None if window is None else np.asarray(window).tolist()}
    try:
        run_sandboxed(MODULE, json.dumps(request).encode(), limits)
    except SandboxError as exc:
        if exc.limit:
            raise UpdateError("resource_limit", f"loading and scoring the candidate in a sandbox "
                                                f"({limits.describe()}) {exc}") from None
        raise UpdateError("load_failed", f"the candidate failed in the sandbox: {exc}") from None


def _probe(payload: bytes) -> dict[str, Any]:
    """The child's work: load as the agent does, then one score of the window."""
    request = json.loads(payload)
    session = open_session(Path(request["path"]).read_bytes())
    meta = artifact_metadata(session)
    shape = _zeros_shape(meta)
    if shape is None:
        return {"scored": False}  # no sane window to try: the agent's own checks refuse such metadata
    window = request.get("window")
    if window is not None and np.shape(window) == shape[1:]:
        batch = np.asarray(window, np.float32)[np.newaxis, :, :]  # the agent's own data, as it will score next
    else:
        batch = np.zeros(shape, np.float32)
    session.run(None, {"window": batch})
    return {"scored": True}


def _zeros_shape(meta: dict[str, Any]) -> tuple[int, int, int] | None:
    window, channels = meta.get("window"), meta.get("channels")
    if not (isinstance(window, int) and window >= 1 and isinstance(channels, list) and channels):
        return None
    if window * len(channels) > MAX_WINDOW_VALUES:
        raise ValueError(f"a window of {window} x {len(channels)} values is beyond the {MAX_WINDOW_VALUES} "
                         "an agent scores")
    return 1, window, len(channels)


if __name__ == "__main__":
    child_main(_probe)
