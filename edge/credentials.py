"""The device's broker credentials: provisioned in a file, replaced by rotations kept in the state directory.

At start the agent uses `STATE_DIR/credentials.json` when it exists (the newest credentials a
rotation delivered), else the provisioned `--username` and `--password-file`. A rotation
(`rotate_credentials` command, see docs/security.md) is written there atomically (temp file,
fsync, rename, fsync of the directory) before the agent reconnects with it, so a power cut
leaves either the old or the new credentials, never half of each. The password never appears
in a log line or a repr.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.errors import ProtocolError
from contract.wire import format_ts, parse_ts
from edge.errors import ConfigError

CREDENTIALS_FILE = "credentials.json"
ROTATE_COMMAND = "rotate_credentials"
# The birth and heartbeats report the username the connection authenticated with: the cloud revokes
# the previous credentials once it sees the new one in use.
HEALTH_USERNAME_KEY = "mqtt_username"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    expires_at: float | None = None

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Credentials:
        """From a `rotate_credentials` command's params; `ConfigError` saying what is wrong."""
        username, password, expires = params.get("username"), params.get("password"), params.get("expires_at")
        if not isinstance(username, str) or not username or not isinstance(password, str) or not password:
            raise ConfigError("rotate_credentials needs a non-empty username and password")
        try:
            expires_at = parse_ts(expires, "expires_at") if expires is not None else None
        except ProtocolError as exc:
            raise ConfigError(str(exc)) from None
        return cls(username, password, expires_at)


def state_credentials_path(state_dir: Path) -> Path:
    return Path(state_dir) / CREDENTIALS_FILE


def load_credentials(state_dir: Path, username: str, password_file: Path | None) -> Credentials | None:
    """The credentials to connect with: a rotation's (state dir) over the provisioned ones; None: anonymous."""
    stored = state_credentials_path(state_dir)
    if stored.exists():
        try:
            raw = json.loads(stored.read_text())
            return Credentials.from_params(raw)
        except (OSError, ValueError, ConfigError) as exc:
            raise ConfigError(f"{stored} is unreadable ({exc}); delete it to fall back to --password-file") from exc
    if password_file is None:
        return None
    try:
        password = Path(password_file).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the password file {password_file}: {exc.strerror}") from exc
    if not password:
        raise ConfigError(f"the password file {password_file} is empty")
    return Credentials(username, password)


def save_credentials(state_dir: Path, credentials: Credentials) -> Path:
    """Persist `credentials` atomically and durably, readable by the agent's user only (0600)."""
    path = state_credentials_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    body: dict[str, Any] = {"username": credentials.username, "password": credentials.password}
    if credentials.expires_at is not None:
        body["expires_at"] = format_ts(credentials.expires_at)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(body, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself must survive a power cut
    finally:
        os.close(dir_fd)
    return path
