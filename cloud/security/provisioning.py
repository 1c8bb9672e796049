"""Provision a device: issue its broker credentials, open the broker to it, write its bundle.

The bundle is what an installer copies to the device (e.g. to /etc/paas-edge/): `edge.env`
(PAAS_EDGE_* settings for the systemd unit), `password`, `ca.pem` and, when given, the
cloud's model-signing public key `signing-key.pem`, all 0600. The password exists in clear
only there; the cloud keeps its hash.

A re-provisioned device (`rotate`) gets a new username in its `edge.env`: the agent takes a
bundle whose username differs from the one its rotated credentials descend from as the newer
of the two (`edge.credentials`), so a stale `STATE_DIR/credentials.json` does not keep it out.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cloud.errors import ConfigError, ConflictError
from cloud.security.broker_auth import (
    CLOUD_USERNAME,
    BrokerUser,
    hash_password,
    new_password,
    reload_broker,
    write_broker_files,
)
from cloud.security.credentials import CredentialStore, IssuedCredential
from cloud.security.files import write_private
from cloud.security.layout import SecurityLayout
from cloud.security.pending import PendingRotations
from cloud.security.pki import ensure_pki
from contract.clock import Clock
from contract.errors import ProtocolError
from contract.wire import Topic, TopicKind, format_ts

BUNDLE_ENV, BUNDLE_PASSWORD, BUNDLE_CA, BUNDLE_SIGNING_KEY = "edge.env", "password", "ca.pem", "signing-key.pem"


@dataclass(frozen=True)
class DeviceBundle:
    directory: Path
    credential: IssuedCredential
    broker_reloaded: bool


def cloud_password(layout: SecurityLayout) -> str:
    """The cloud's own broker password, created (0600) on first use."""
    if not layout.cloud_password.exists():
        write_private(layout.cloud_password, new_password().encode())
    return layout.cloud_password.read_text().strip()


def sync_broker(store: CredentialStore, layout: SecurityLayout) -> bool:
    """Rewrite the listeners' password and ACL files from the credential table, keeping each file's owner and
    mode, and reload the broker; True if it was signalled. One writer at a time (a lock file): two writers
    could otherwise leave the older table's files last."""
    with _locked(layout):
        cloud = BrokerUser(CLOUD_USERNAME, hash_password(cloud_password(layout)))
        write_broker_files(layout, store.broker_users(), cloud)
        return reload_broker(layout)


def provision_device(
    store: CredentialStore, layout: SecurityLayout, clock: Clock, *, tenant: str, device_id: str, out_dir: Path,
    broker_url: str, valid_s: float, rotate: bool = False, device_path: Path | None = None,
    signing_key_pem: str | None = None,
) -> DeviceBundle:
    """Issue credentials for a new device (or, with `rotate`, replace a device's at once) and write its bundle."""
    _check_ids(tenant, device_id)
    if not broker_url.startswith("mqtts://"):
        raise ConfigError(f"devices must connect over TLS: {broker_url!r} is not an mqtts:// URL")
    existing = store.active(device_id)
    if existing and not rotate:
        raise ConflictError(
            f"device {device_id!r} is already provisioned (user {existing[-1].username}, valid until "
            f"{format_ts(existing[-1].expires_at)}); pass --rotate to replace its credentials, which revokes "
            "the current ones at once"
        )
    if existing and existing[-1].tenant != tenant:
        raise ConflictError(f"device {device_id!r} belongs to tenant {existing[-1].tenant!r}, not {tenant!r}")
    ensure_pki(layout, clock)
    if rotate:
        store.revoke_all(device_id)  # re-provisioning means a re-installed device: the old bundle is void
        pending = PendingRotations(layout.rotations_dir)
        for info in existing:
            pending.remove(info.username)  # and so is any rotation on its way to it
    credential = store.issue(tenant, device_id, valid_s)
    _write_bundle(out_dir, layout, credential, broker_url, device_path or out_dir.resolve(), signing_key_pem)
    return DeviceBundle(out_dir, credential, sync_broker(store, layout))


def _write_bundle(out_dir: Path, layout: SecurityLayout, cred: IssuedCredential, broker_url: str,
                  device_path: Path, signing_key_pem: str | None) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    out_dir.chmod(0o700)
    write_private(out_dir / BUNDLE_PASSWORD, cred.password.encode() + b"\n")
    write_private(out_dir / BUNDLE_CA, layout.ca_cert.read_bytes())
    env = [
        f"# Written by `python -m cloud provision-device`; credentials valid until {format_ts(cred.expires_at)}",
        "# and then rotated by the cloud over TLS (the agent keeps them in its state dir until a bundle with",
        "# another PAAS_EDGE_USERNAME, a re-provisioning, replaces them).",
        f"PAAS_EDGE_DEVICE_ID={cred.device_id}",
        f"PAAS_EDGE_TENANT={cred.tenant}",
        f"PAAS_EDGE_BROKER_URL={broker_url}",
        f"PAAS_EDGE_USERNAME={cred.username}",
        f"PAAS_EDGE_PASSWORD_FILE={device_path / BUNDLE_PASSWORD}",
        f"PAAS_EDGE_CA_FILE={device_path / BUNDLE_CA}",
    ]
    if signing_key_pem is not None:
        write_private(out_dir / BUNDLE_SIGNING_KEY, signing_key_pem.encode())
        env.append(f"PAAS_EDGE_SIGNING_KEY_FILE={device_path / BUNDLE_SIGNING_KEY}")
    write_private(out_dir / BUNDLE_ENV, ("\n".join(env) + "\n").encode())


@contextmanager
def _locked(layout: SecurityLayout) -> Iterator[None]:
    layout.root.mkdir(parents=True, exist_ok=True)
    with open(layout.lock_file, "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _check_ids(tenant: str, device_id: str) -> None:
    try:
        Topic.parse(str(Topic(tenant, device_id, TopicKind.STATE)))
    except ProtocolError as exc:
        raise ConfigError(f"invalid tenant or device id: {exc}") from None
