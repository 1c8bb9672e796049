"""Secrets the service keeps in files (the token-signing secret, the model-signing key): created for a developer,
private always.

`PAAS_ENV=local` creates a missing secret so `cloud serve` and the demo start with no set-up;
staging and production never do (a silently new secret invalidates every token, or every
device's trust in the signing key), and the callers refuse to start instead.

A created file is owner-only from its first byte: written to a temporary file opened with
O_EXCL and mode 0600, synced, then hard-linked into place, so no other user can read it
even between create and chmod, and a second process starting at the same moment either
finds the whole file or none (never one half written). Its folder, when created here, is 0700.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from pathlib import Path

from cloud.errors import ConfigError
from cloud.settings import Environment
from edge.updates.atomic_file import sync_dir

log = logging.getLogger(__name__)

OTHERS_BITS = 0o077  # group and world: a secret file needs none of them


def create_private(path: Path, content: bytes, what: str) -> bool:
    """Write `content` as a new owner-only file at `path`; False when the file already exists (it is kept)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot create {what} {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.link(temporary, path)  # fails, atomically, when another process made the file first
    except FileExistsError:
        return False
    except OSError as exc:
        raise ConfigError(f"cannot create {what} {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()
    sync_dir(path.parent)  # the new name survives a power cut (the bytes were synced before it got the name)
    return True


def check_private(path: Path, env: Environment, what: str) -> None:
    """Refuse (production) or warn (elsewhere) when group or world have any access to the file."""
    if os.name != "posix":
        return
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if not mode & OTHERS_BITS:
        return
    problem = f"{what} {path} is open to other users (mode {mode:04o}); chmod 600 it"
    if env is Environment.PRODUCTION:
        raise ConfigError(f"{problem} (PAAS_ENV=production refuses to start with it)")
    log.warning("%s", problem)

