"""Writing the security directory's files: atomically, durably, and without taking them from their owner.

Two kinds of file live there. Secrets only the cloud reads (the CA key, the cloud's own
password, a device bundle, a pending rotation) are written owner-only (0600) whatever they
were. Files the broker reads (its key, each listener's password and ACL file; and the
certificates, which are public, 0644) belong to whoever the operator gave them to: Mosquitto
drops to the `mosquitto` user before it reads them, at start and at every reload, so
`docs/security.md` has them chowned to that user. A rewrite keeps the existing file's owner,
group and mode; one that cannot (a cloud that may not chown to another user) fails before
the rename, leaving the broker's readable copy in place, instead of replacing it with one the
broker cannot read (every login would then fail at the next reload).

Both write a temporary file in the same folder, sync it, rename it over the old one and
sync the folder: a reader (Mosquitto re-reads at any SIGHUP) sees the old or the new file,
never half of one, and a power cut after the call keeps the new one.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from cloud.errors import BrokerError
from edge.updates.atomic_file import sync_dir

NEW_FILE_MODE = 0o600


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path`, readable by the owner only (0600), whatever the file was before."""
    _write(path, data, mode=NEW_FILE_MODE, owner=None)


def write_keeping_owner(path: Path, data: bytes, new_mode: int = NEW_FILE_MODE) -> None:
    """Replace `path` with `data`, keeping its owner, group and mode (a new file: this process's, `new_mode`).

    `BrokerError` when the owner cannot be kept (only root, or CAP_CHOWN, gives a file to another user);
    the old file is then left as it was.
    """
    try:
        before = path.stat()
    except FileNotFoundError:
        _write(path, data, mode=new_mode, owner=None)
        return
    _write(path, data, mode=stat.S_IMODE(before.st_mode), owner=(before.st_uid, before.st_gid))


def _write(path: Path, data: bytes, *, mode: int, owner: tuple[int, int] | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fchmod(out.fileno(), mode)  # before the chown: afterwards this process may no longer own it
            if owner is not None and owner != _owner_of(out.fileno()):
                _chown(out.fileno(), path, owner)
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    sync_dir(path.parent)


def _owner_of(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_uid, st.st_gid


def _chown(fd: int, path: Path, owner: tuple[int, int]) -> None:
    try:
        os.fchown(fd, *owner)
    except PermissionError as exc:
        raise BrokerError(
            f"cannot rewrite {path} as its owner (uid {owner[0]}, gid {owner[1]}): {exc.strerror}; the broker reads "
            "it as that user. Run the cloud's security commands as root (or with CAP_CHOWN), or give the file to "
            "this user with the broker's group (chmod 0640): see docs/security.md"
        ) from None
