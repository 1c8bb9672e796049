"""Rotations on their way: a new credential the device has not yet been seen using, kept so that it can be sent again.

A rotation is a command over MQTT; commands are not retained and a device offline at that
moment never gets it. Sending the **same** credential again (rather than issuing another one
at each try) is what lets a device that did receive it, but has not shown it yet, keep
working: nothing it may hold is ever revoked before it proves the newest one in use.
So the password stays here, in clear, from its issue until that proof (or until the credential
is revoked or replaced), in the security directory's `rotations/` folder: 0700, one 0600 file
per rotation, never in the database (which keeps hashes only).

The file exists before the command is first sent: a credential that is newer than the
device's others but has no file here was never sent (the cloud stopped in between) and is
simply superseded by a fresh rotation.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cloud.security.credentials import IssuedCredential
from cloud.security.files import write_private
from edge.updates.atomic_file import sync_dir

log = logging.getLogger("cloud.security")


@dataclass(frozen=True)
class PendingRotation:
    """A credential sent (or to be sent) to its device, and when to try again."""

    tenant: str
    device_id: str
    username: str
    password: str = field(repr=False)
    expires_at: float
    attempts: int = 0  # tries so far (a failed reload or send counts)
    tried_at: float | None = None  # the last try
    sent_at: float | None = None  # the last time the broker took the command
    next_at: float = 0.0  # the next try, at the latest (a device seen on its old login gets it sooner)
    broker_has_it: bool = False  # the broker was reloaded with it (no need to reload at each try)

    @classmethod
    def of(cls, credential: IssuedCredential) -> PendingRotation:
        return cls(credential.tenant, credential.device_id, credential.username, credential.password,
                   credential.expires_at)


class PendingRotations:
    """The `rotations/` folder: one JSON file per pending rotation, named after its username."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory

    def put(self, rotation: PendingRotation) -> None:
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(self._path(rotation.username), json.dumps(asdict(rotation)).encode())

    def get(self, username: str) -> PendingRotation | None:
        path = self._path(username)
        try:
            return PendingRotation(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            # Atomic writes make this a disk fault; the caller treats the rotation as unsendable, never as unsent.
            log.error("event=rotation_unreadable file=%s error=%r", path, str(exc))
            return None

    def exists(self, username: str) -> bool:
        return self._path(username).exists()

    def all(self) -> list[PendingRotation]:
        if not self._dir.is_dir():
            return []
        found = (self.get(path.stem) for path in sorted(self._dir.glob("*.json")))
        return [rotation for rotation in found if rotation is not None]

    def remove(self, username: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(username).unlink()
            sync_dir(self._dir)

    def _path(self, username: str) -> Path:
        if not username or "/" in username or username.startswith("."):
            raise ValueError(f"username {username!r} cannot name a file")
        return self._dir / f"{username}.json"
