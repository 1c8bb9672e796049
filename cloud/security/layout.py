"""Where the security directory keeps each file: the CA, the broker certificate, each listener's password and ACL.

Also where the broker's pid file is (the target of the reload signal): Debian's packaged
`mosquitto.conf` writes `/run/mosquitto/mosquitto.pid` (`PAAS_BROKER_PID_FILE`); a broker the
project starts itself (tests, development) writes `mosquitto.pid` in the security directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cloud.settings import CloudSettings


@dataclass(frozen=True)
class SecurityLayout:
    """The files of one security directory (`PAAS_SECURITY_DIR`), named once here."""

    root: Path
    broker_pid_file: Path | None = None  # None: mosquitto.pid in `root`

    @classmethod
    def from_settings(cls, settings: CloudSettings) -> SecurityLayout:
        """Absolute paths: they are printed into the broker's configuration and bundles, and must not
        depend on the directory a command happens to run in."""
        pid = settings.broker_pid_file
        return cls(settings.security_dir.absolute(), pid.absolute() if pid is not None else None)

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
        return self.broker_pid_file or self.root / "mosquitto.pid"

    @property
    def broker_files(self) -> tuple[Path, ...]:
        """What the broker reads as the user it runs as (`mosquitto`) and nobody else should: the files to give
        to that user. The certificates (`ca.pem`, `server.pem`) are public, 0644, and the cloud reads `ca.pem`."""
        return (self.server_key, self.password_file, self.acl_file, self.cloud_password_file, self.cloud_acl_file)

    @property
    def rotations_dir(self) -> Path:
        """Rotations sent but not yet proven in use (`cloud.security.pending`): the cloud's alone (0700)."""
        return self.root / "rotations"

    @property
    def lock_file(self) -> Path:
        """Held while the broker's files are rewritten from the credential table (one writer at a time)."""
        return self.root / ".broker-files.lock"
