"""One agent per state directory: an exclusive `flock` on `agent.lock`, released when the process ends.

A lock file rather than a pid file: the kernel drops the lock when the owner dies,
even by SIGKILL, so a crashed agent never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from edge.errors import QueueError

LOCK_NAME = "agent.lock"


def acquire_lock(state_dir: Path) -> IO[str]:
    """Hold `state_dir`'s lock until the returned file is closed; `QueueError` if another agent holds it."""
    path = state_dir / LOCK_NAME
    try:
        handle = path.open("a")
    except OSError as exc:
        raise QueueError(f"cannot create {path}: {exc.strerror}") from exc
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise QueueError(
            f"another agent already runs with state directory {path.parent}; stop it or pass another --state-dir"
        ) from None
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def is_locked(state_dir: Path | str) -> bool:
    """True while an agent owns `state_dir`."""
    path = Path(state_dir) / LOCK_NAME
    if not path.exists():
        return False
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
