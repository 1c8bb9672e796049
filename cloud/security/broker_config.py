"""The production broker: a TLS listener for devices and one for the cloud, each with its own users.

Client ids are sessions: whoever connects with an id takes over (or, with a clean session,
wipes) the session of that id. So identities are bound to ids:

- the **device listener** (`--tls-port`, 8883, every interface) sets `use_username_as_clientid`:
  a device's client id is its own broker username, whatever it asks for, so it can neither
  take over the ingest's session (`paas-cloud-ingest`) nor kick another device off. Its
  password file and ACL hold device users only.
- the **cloud listener** (`--cloud-port`, 8884, loopback by default) has a password file with
  the cloud user (`paas-cloud`) alone: no device credential logs in there, and the cloud's
  clients keep choosing their ids (ingest, command publisher, security channel).

With `per_listener_settings true` every authentication setting belongs to its listener
(`cloud.broker.config.render_config`); the limits are the shared `BrokerLimits`.
"""

from __future__ import annotations

from pathlib import Path

from cloud.broker.config import LIMITS, BrokerLimits, Listener, ListenerAuth, TlsFiles, render_config
from cloud.errors import ConfigError
from cloud.security.layout import SecurityLayout

DEVICE_PORT, CLOUD_PORT = 8883, 8884


def production_config(
    layout: SecurityLayout, data_dir: Path, *, device_port: int = DEVICE_PORT, device_bind: str = "0.0.0.0",
    cloud_port: int = CLOUD_PORT, cloud_bind: str = "127.0.0.1", run_as: str | None = None,
    limits: BrokerLimits = LIMITS,
) -> str:
    """The complete production mosquitto.conf over the security directory's files."""
    if device_port == cloud_port:
        raise ConfigError(f"the device and the cloud listener need different ports (both {device_port})")
    tls = TlsFiles(layout.ca_cert, layout.server_cert, layout.server_key)
    devices = Listener(
        device_port, device_bind, "devices: TLS, device users only, client id = username",
        auth=ListenerAuth(layout.password_file, layout.acl_file), tls=tls, username_is_client_id=True,
    )
    cloud = Listener(
        cloud_port, cloud_bind, "the cloud (ingest, commands, rotation): TLS, the cloud user only",
        auth=ListenerAuth(layout.cloud_password_file, layout.cloud_acl_file), tls=tls,
    )
    return render_config([devices, cloud], data_dir, pid_file=layout.pid_file, run_as=run_as, limits=limits)
