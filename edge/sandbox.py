"""Run untrusted work (loading and running an ONNX model) in a child process under memory, CPU and time limits.

Loading an ONNX file runs a program: onnxruntime allocates whatever the graph declares,
and a 188-byte `ConstantOfShape` asks for gigabytes. Done in the agent's or the API's own
process, that memory is theirs, and the kernel's OOM killer takes them down with it. Here
the work runs in a fresh `python -m <module>` that sets its own limits before it reads a
byte of input: address space (`RLIMIT_AS`: an allocation beyond it fails), CPU time
(`RLIMIT_CPU`: SIGXCPU, then SIGKILL a second later), no core dumps (a dump of a
gigabyte-sized process fills the disk), no file writes. The parent waits at most the
wall-clock limit (a child blocked without burning CPU) and kills it after.

Whatever happens in the child is an answer, never a crash of the caller: one JSON object
on stdout (the result, or `{"error": …, "limit": …}`), a death by signal, or a timeout all
end as a result or a `SandboxError` that says which limit was hit.

The child gets a scrubbed environment (no secret of the parent's: passwords, keys, tokens)
and an empty temporary working directory, so a model's external-data path resolves to
nothing the process could read.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.errors import SandboxError

_MiB = 2**20
_ANSWER_CHARS = 500  # an error text from the child, as shown to people
_STDERR_TAIL = 300
# Threads each reserve address space (stacks, malloc arenas): one of each keeps the limit about the model.
_CHILD_ENV = {
    "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2",
    "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8",
}
# What onnxruntime and numpy say when an allocation fails (the address-space limit).
_MEMORY_WORDS = ("bad_alloc", "bad allocation", "failed to allocate", "cannot allocate", "out of memory",
                 "unable to allocate")


@dataclass(frozen=True)
class SandboxLimits:
    """What one sandboxed child may use; the interpreter, numpy and onnxruntime alone take ~210 MiB of address space."""

    memory_bytes: int = 768 * _MiB
    cpu_s: int = 10
    wall_s: float = 30.0

    def __post_init__(self) -> None:
        if self.memory_bytes < 256 * _MiB or self.cpu_s < 1 or not self.wall_s > 0:
            raise ValueError(f"sandbox limits too small to start onnxruntime: {self}")

    def describe(self) -> str:
        return f"{self.memory_bytes // _MiB} MiB, {self.cpu_s} s of CPU, {self.wall_s:g} s"


def run_sandboxed(module: str, payload: bytes, limits: SandboxLimits) -> dict[str, Any]:
    """The answer of `python -m module` fed `payload` under `limits`; `SandboxError` if it refused or hit a limit."""
    command = [sys.executable, "-m", module, str(limits.memory_bytes), str(limits.cpu_s)]
    with tempfile.TemporaryDirectory(prefix="paas-sandbox-") as empty:
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 cwd=empty, env=_child_env(), start_new_session=True)
        try:
            out, err = child.communicate(payload, timeout=limits.wall_s)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            raise SandboxError(f"took longer than the {limits.wall_s:g} s time limit", limit=True) from None
    return _answer(child.returncode, out, err, limits)


def child_main(work: Callable[[bytes], dict[str, Any]]) -> None:
    """The child's side: limits first, then `work(stdin)`, then one JSON line on stdout; every failure is an answer."""
    memory_bytes, cpu_s = int(sys.argv[1]), int(sys.argv[2])
    apply_limits(memory_bytes, cpu_s)
    payload = sys.stdin.buffer.read()
    try:
        answer = work(payload)
    except MemoryError:
        answer = {"error": f"exceeded the {memory_bytes // _MiB} MiB memory limit", "limit": True}
    except Exception as exc:  # every refusal of onnxruntime, onnx or numpy is an answer, whatever its type
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:_ANSWER_CHARS]
        if is_memory_failure(text):  # onnxruntime's text (an arena's source line, a byte count) tells no more
            answer = {"error": f"exceeded the {memory_bytes // _MiB} MiB memory limit", "limit": True}
        else:
            answer = {"error": text, "limit": False}
    sys.stdout.write(json.dumps(answer, allow_nan=False) + "\n")
    sys.stdout.flush()


def apply_limits(memory_bytes: int, cpu_s: int) -> None:
    """Limit this process (the child): address space, CPU seconds, no core dump, no file written."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


def is_memory_failure(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _MEMORY_WORDS)


def _answer(returncode: int, out: bytes, err: bytes, limits: SandboxLimits) -> dict[str, Any]:
    if returncode < 0:
        raise SandboxError(_death(-returncode, limits), limit=True)
    lines = out.decode("utf-8", "replace").strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict):
        tail = err.decode("utf-8", "replace").strip()[-_STDERR_TAIL:]
        if is_memory_failure(tail):
            raise SandboxError(f"exceeded the {limits.memory_bytes // _MiB} MiB memory limit", limit=True)
        raise SandboxError(f"the checker ended without an answer (exit status {returncode}): {tail}", limit=False)
    if "error" in answer:
        raise SandboxError(str(answer["error"])[:_ANSWER_CHARS], limit=bool(answer.get("limit")))
    return answer


def _death(number: int, limits: SandboxLimits) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    if name == "SIGXCPU":
        return f"exceeded the {limits.cpu_s} s CPU-time limit"
    if name == "SIGKILL":
        # The hard CPU limit, or the kernel's OOM killer (the limits keep the child within bounds, the host may not).
        return f"was killed (SIGKILL): over the {limits.cpu_s} s CPU-time limit or out of memory"
    # An allocation failing inside native code often ends in abort() rather than an exception.
    return f"crashed ({name}), most likely on the {limits.memory_bytes // _MiB} MiB memory limit"


def _child_env() -> dict[str, str]:
    """Only what an interpreter needs: the parent's secrets (passwords, keys, tokens) stay with the parent."""
    package_root = Path(__file__).resolve().parent.parent  # holds `edge` (and `cloud`, `contract` where installed)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(package_root), **_CHILD_ENV}
    if "LD_LIBRARY_PATH" in os.environ:  # where onnxruntime's native libraries may have been installed
        env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
    return env
