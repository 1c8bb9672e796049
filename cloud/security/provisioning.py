"""Provision a device: issue its broker credentials, open the broker to it, write its bundle.

The bundle is what an installer copies to the device (e.g. to /etc/paas-edge/): `edge.env`
(PAAS_EDGE_* settings for the systemd unit), `password` and `ca.pem`, all 0600. The password
exists in clear only there; the cloud keeps its hash.
"""

from __future__ import annotations

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
from cloud.security.layout import SecurityLayout, write_private
from cloud.security.pki import ensure_pki
from contract.clock import Clock
from contract.errors import ProtocolError
from contract.wire import Topic, TopicKind, format_ts

BUNDLE_ENV, BUNDLE_PASSWORD, BUNDLE_CA = "edge.env", "password", "ca.pem"


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
    """Rewrite the listeners' password and ACL files from the credential table; True if the broker reloaded."""
    cloud = BrokerUser(CLOUD_USERNAME, hash_password(cloud_password(layout)))
    write_broker_files(layout, store.broker_users(), cloud)
    return reload_broker(layout)


def provision_device(
    store: CredentialStore, layout: SecurityLayout, clock: Clock, *, tenant: str, device_id: str, out_dir: Path,
    broker_url: str, valid_s: float, rotate: bool = False, device_path: Path | None = None,
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
    credential = store.issue(tenant, device_id, valid_s)
    _write_bundle(out_dir, layout, credential, broker_url, device_path or out_dir.resolve())
    return DeviceBundle(out_dir, credential, sync_broker(store, layout))


def _write_bundle(out_dir: Path, layout: SecurityLayout, cred: IssuedCredential, broker_url: str,
                  device_path: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    out_dir.chmod(0o700)
    write_private(out_dir / BUNDLE_PASSWORD, cred.password.encode() + b"\n")
    write_private(out_dir / BUNDLE_CA, layout.ca_cert.read_bytes())
    env = (
        f"# Written by `python -m cloud provision-device`; credentials valid until {format_ts(cred.expires_at)}\n"
        "# and then rotated by the cloud over TLS (the agent keeps them in its state dir).\n"
        f"PAAS_EDGE_DEVICE_ID={cred.device_id}\n"
        f"PAAS_EDGE_TENANT={cred.tenant}\n"
        f"PAAS_EDGE_BROKER_URL={broker_url}\n"
        f"PAAS_EDGE_USERNAME={cred.username}\n"
        f"PAAS_EDGE_PASSWORD_FILE={device_path / BUNDLE_PASSWORD}\n"
        f"PAAS_EDGE_CA_FILE={device_path / BUNDLE_CA}\n"
    )
    write_private(out_dir / BUNDLE_ENV, env.encode())



def _check_ids(tenant: str, device_id: str) -> None:
    try:
        Topic.parse(str(Topic(tenant, device_id, TopicKind.STATE)))
    except ProtocolError as exc:
        raise ConfigError(f"invalid tenant or device id: {exc}") from None
