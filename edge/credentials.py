"""The device's broker credentials: provisioned in a file, replaced by rotations kept in the state directory.

A rotation (`rotate_credentials` command, see docs/security.md) is written to
`STATE_DIR/credentials.json` atomically (temp file, fsync, rename, fsync of the directory) before
the agent reconnects with it, so a power cut leaves either the old or the new credentials, never
half of each. The password never appears in a log line or a repr.

At start the agent takes the newer of the two: the provisioned `--username`/`--password-file`
(the bundle) or the rotation's. Rotations descend from a bundle: credentials.json records the
username of the bundle the agent ran with (`provisioned_username`, written at the first start
with a bundle and carried forward by every rotation). A bundle with another username is a
re-provisioning (`provision-device --rotate`), which revoked every credential the device had
before, rotations included: it wins, and credentials.json is reset to it. Otherwise the
rotation's credentials win, also after a restart.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.errors import ProtocolError
from contract.wire import format_ts, parse_ts
from edge.errors import ConfigError

log = logging.getLogger("edge.credentials")

CREDENTIALS_FILE = "credentials.json"
PROVISIONED_KEY = "provisioned_username"  # the bundle the stored credentials descend from
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
    """The credentials to connect with: a rotation's (state dir) unless the bundle is a newer provisioning;
    None: anonymous."""
    path = state_credentials_path(state_dir)
    stored = _read_stored(path)
    rotated = stored is not None and "username" in stored
    if stored is not None and rotated and stored.get(PROVISIONED_KEY, username) == username:
        if PROVISIONED_KEY not in stored and username:
            _write(path, {**stored, PROVISIONED_KEY: username})  # from an older agent: descends from this bundle
        try:
            return Credentials.from_params(stored)
        except ConfigError as exc:
            raise ConfigError(f"{path} is unreadable ({exc}); delete it to fall back to --password-file") from None
    provisioned = _provisioned(username, password_file)
    if stored is not None and rotated:
        log.warning("event=credentials_reprovisioned stale_username=%s provisioned_username=%s", stored["username"],
                    username)
    if username and (stored is None or rotated or stored.get(PROVISIONED_KEY) != username):
        _write(path, {PROVISIONED_KEY: username})  # rotations from now on descend from this bundle
    return provisioned


def save_credentials(state_dir: Path, credentials: Credentials) -> Path:
    """Persist `credentials` atomically and durably, readable by the agent's user only (0600)."""
    path = state_credentials_path(state_dir)
    body: dict[str, Any] = {"username": credentials.username, "password": credentials.password}
    if credentials.expires_at is not None:
        body["expires_at"] = format_ts(credentials.expires_at)
    try:
        previous = _read_stored(path)
    except ConfigError:
        previous = None
    if previous is not None and isinstance(previous.get(PROVISIONED_KEY), str):
        body[PROVISIONED_KEY] = previous[PROVISIONED_KEY]
    _write(path, body)
    return path


def _provisioned(username: str, password_file: Path | None) -> Credentials | None:
    if password_file is None:
        return None
    try:
        password = Path(password_file).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the password file {password_file}: {exc.strerror}") from exc
    if not password:
        raise ConfigError(f"the password file {password_file} is empty")
    return Credentials(username, password)


def _read_stored(path: Path) -> dict[str, Any] | None:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is unreadable ({exc}); delete it to fall back to --password-file") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} is unreadable (not a JSON object); delete it to fall back to --password-file")
    return raw


def _write(path: Path, body: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
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
