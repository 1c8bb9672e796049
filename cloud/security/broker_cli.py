"""`python -m cloud broker-config`: the broker's configuration, production (a conf.d drop-in) or dev.

The production listeners follow the cloud's settings, so that one `cloud.env` describes the
broker and its clients alike: the device listener's port is that of `PAAS_SECURE_BROKER_URL`
(the URL written into device bundles) and its host is in the server certificate; the cloud
listener's port is that of `PAAS_BROKER` when it is an mqtts:// URL (the cloud's own login).
Options override both.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlsplit

from cloud.broker.config import dev_config
from cloud.errors import CloudError, ConfigError
from cloud.security.broker_config import CLOUD_PORT, DROP_IN_NAME, production_config
from cloud.security.credentials import CredentialStore
from cloud.security.layout import SecurityLayout
from cloud.security.pki import DEFAULT_HOSTNAMES, ensure_pki
from cloud.security.provisioning import sync_broker
from cloud.settings import CloudSettings, load_settings
from cloud.store.database import Database
from cloud.store.schema import ensure_schema
from contract.clock import SystemClock


def add_broker_config_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    conf = subparsers.add_parser(
        "broker-config", help="print the Mosquitto configuration (production: a conf.d drop-in; or a dev/test broker)",
        description="Both profiles have the same queue, in-flight, persistence and packet limits "
        "(cloud/broker/config.py); they differ in their listeners. The production profile is a drop-in for the "
        f"packaged broker's conf.d (/etc/mosquitto/conf.d/{DROP_IN_NAME}): pid file, persistence location and "
        "log stay the package's.",
    )
    conf.add_argument("--profile", choices=("production", "dev"), default="production",
                      help="production: TLS device and cloud listeners, per-listener credentials and ACLs "
                      "(writes the CA, certificate, password and ACL files); dev: one anonymous loopback listener")
    conf.add_argument("--data-dir", type=Path, help="dev: persistence and log (default var/cloud/mosquitto)")
    conf.add_argument("--port", type=int, default=1883, help="dev: the loopback listener's port")
    conf.add_argument("--tls-port", type=int,
                      help="production: the device listener's port (default: the port of PAAS_SECURE_BROKER_URL)")
    conf.add_argument("--bind", default="0.0.0.0", help="production: the device listener's address")
    conf.add_argument("--cloud-port", type=int,
                      help=f"production: the cloud listener's port (default: the port of PAAS_BROKER when it is "
                      f"mqtts://, else {CLOUD_PORT})")
    conf.add_argument("--cloud-bind", default="127.0.0.1",
                      help="production: the cloud listener's address (loopback: the cloud runs on the broker host)")
    conf.add_argument("--broker-url", help="production: the device listener's URL (PAAS_SECURE_BROKER_URL)")
    conf.add_argument("--security-dir", type=Path, help="PAAS_SECURITY_DIR (default var/cloud/security)")
    conf.add_argument("--db", help="relational store URL (PAAS_DB): the credentials the files are written from")
    conf.set_defaults(handler=_broker_config)


def _broker_config(args: argparse.Namespace) -> int:
    if args.profile == "dev":
        print(dev_config(args.port, args.data_dir or Path("var/cloud/mosquitto")), end="")
        return 0
    try:
        if args.data_dir is not None:
            raise ConfigError("--data-dir is for --profile dev: the production drop-in leaves persistence and log "
                              "to the packaged mosquitto.conf")
        settings = load_settings(security_dir=args.security_dir, db_url=args.db, secure_broker_url=args.broker_url)
        layout, clock = SecurityLayout.from_settings(settings), SystemClock()
        device_url = urlsplit(settings.secure_broker_url)
        config = production_config(layout, device_port=args.tls_port or device_url.port or 8883,
                                   device_bind=args.bind, cloud_port=args.cloud_port or _cloud_port(settings),
                                   cloud_bind=args.cloud_bind)
        ensure_pki(layout, clock, hostnames=_hostnames(device_url.hostname))
        db = Database(settings.db_url)
        try:
            ensure_schema(db)
            sync_broker(CredentialStore(db, clock), layout)
        finally:
            db.close()
    except CloudError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(config, end="")
    files = " ".join(str(f) for f in layout.broker_files)
    print(f"broker-config: Mosquitto reads these as its own user (chown them to it, see docs/security.md): {files}",
          file=sys.stderr)
    return 0


def _cloud_port(settings: CloudSettings) -> int:
    url = urlsplit(settings.broker_url)
    return (url.port or 8883) if url.scheme == "mqtts" else CLOUD_PORT


def _hostnames(device_host: str | None) -> list[str]:
    """The server certificate's names: the devices' host name, and the loopback names the cloud connects to."""
    return list(dict.fromkeys([*([device_host] if device_host else []), *DEFAULT_HOSTNAMES]))
