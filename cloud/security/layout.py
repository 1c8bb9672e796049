"""Where the security directory keeps each file: the CA, the broker certificate, each listener's password and ACL."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SecurityLayout:
    """The files of one security directory (`PAAS_SECURITY_DIR`), named once here."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.root / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.root / "server.key"

    @property
    def password_file(self) -> Path:
        """The device listener's password file: device users only."""
        return self.root / "mosquitto.passwd"

    @property
    def acl_file(self) -> Path:
        """The device listener's ACL: each device its own topics."""
        return self.root / "mosquitto.acl"

    @property
    def cloud_password_file(self) -> Path:
        """The cloud listener's password file: the cloud user only, so no device credential logs in there."""
        return self.root / "cloud.passwd"

    @property
    def cloud_acl_file(self) -> Path:
        """The cloud listener's ACL: the cloud user's topics."""
        return self.root / "cloud.acl"

    @property
    def cloud_password(self) -> Path:
        """The cloud's own broker password (plain text, 0600): the cloud must present it."""
        return self.root / "cloud.password"

    @property
    def pid_file(self) -> Path:
        """Written by Mosquitto (`pid_file`); the target of the reload signal."""
        return self.root / "mosquitto.pid"


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically, readable by the owner only (0600), durable before the rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
