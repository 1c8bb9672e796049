"""`python -m cloud provision-device|rotate-credentials|broker-config`: the operator's security commands."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from cloud.broker.config import dev_config
from cloud.errors import CloudError, ConfigError
from cloud.security.broker_config import CLOUD_PORT, DEVICE_PORT, production_config
from cloud.security.command_channel import SecureCommandChannel, parse_mqtts_url
from cloud.security.credentials import CredentialStore
from cloud.security.layout import SecurityLayout
from cloud.security.pki import ensure_pki
from cloud.security.provisioning import provision_device, sync_broker
from cloud.security.rotation import CredentialRotator
from cloud.settings import CloudSettings, load_settings
from cloud.store.database import Database
from cloud.store.schema import ensure_schema
from contract.clock import SystemClock
from contract.wire import DeviceState, format_ts

_DAY_S = 86400.0


def add_security_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    prov = subparsers.add_parser("provision-device", help="issue a device's broker credentials and write its bundle")
    prov.add_argument("--device-id", required=True)
    prov.add_argument("--tenant", required=True)
    prov.add_argument("--out", type=Path, help="bundle directory (default var/cloud/devices/DEVICE_ID)")
    prov.add_argument("--valid-days", type=float, help="credential lifetime (PAAS_CREDENTIAL_VALID_DAYS, 90)")
    prov.add_argument("--device-path", type=Path, help="where the bundle will live on the device (default: --out)")
    prov.add_argument("--rotate", action="store_true", help="replace an existing device's credentials (revokes them)")
    _add_common(prov)
    prov.set_defaults(handler=_provision)
    rot = subparsers.add_parser("rotate-credentials", help="send a device new credentials over TLS")
    target = rot.add_mutually_exclusive_group(required=True)
    target.add_argument("--device-id", help="rotate this device now")
    target.add_argument("--due", action="store_true", help="rotate every device with < 20%% validity left")
    rot.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the device to reconnect")
    rot.add_argument("--broker", help="the broker's cloud listener, mqtts://HOST:PORT (PAAS_BROKER)")
    _add_common(rot, bundle_url=False)
    rot.set_defaults(handler=_rotate)
    _add_broker_config_parser(subparsers)


def _add_broker_config_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    conf = subparsers.add_parser(
        "broker-config", help="print a complete Mosquitto configuration (production, or a dev/test broker)",
        description="Both profiles have the same queue, in-flight, persistence and packet limits "
        "(cloud/broker/config.py); they differ in their listeners.",
    )
    conf.add_argument("--profile", choices=("production", "dev"), default="production",
                      help="production: TLS device and cloud listeners, per-listener credentials and ACLs "
                      "(writes the CA, certificate, password and ACL files); dev: one anonymous loopback listener")
    conf.add_argument("--data-dir", type=Path,
                      help="persistence and log (default /var/lib/mosquitto; dev: var/cloud/mosquitto)")
    conf.add_argument("--port", type=int, default=1883, help="dev: the loopback listener's port")
    conf.add_argument("--tls-port", type=int, default=DEVICE_PORT, help="production: the device listener's port")
    conf.add_argument("--bind", default="0.0.0.0", help="production: the device listener's address")
    conf.add_argument("--cloud-port", type=int, default=CLOUD_PORT,
                      help="production: the cloud listener's port (the cloud's PAAS_BROKER=mqtts://HOST:PORT)")
    conf.add_argument("--cloud-bind", default="127.0.0.1",
                      help="production: the cloud listener's address (loopback: the cloud runs on the broker host)")
    conf.add_argument("--security-dir", type=Path, help="PAAS_SECURITY_DIR (default var/cloud/security)")
    conf.add_argument("--db", help="relational store URL (PAAS_DB): the credentials the files are written from")
    conf.set_defaults(handler=_broker_config)


def _add_common(parser: argparse.ArgumentParser, bundle_url: bool = True) -> None:
    parser.add_argument("--security-dir", type=Path, help="PAAS_SECURITY_DIR (default var/cloud/security)")
    parser.add_argument("--db", help="relational store URL (PAAS_DB)")
    if bundle_url:
        parser.add_argument("--broker-url", help="the broker's device listener written into the bundle "
                            "(PAAS_SECURE_BROKER_URL, mqtts://localhost:8883)")


def _settings(args: argparse.Namespace) -> CloudSettings:
    return load_settings(db_url=args.db, security_dir=args.security_dir,
                         secure_broker_url=getattr(args, "broker_url", None),
                         broker_url=getattr(args, "broker", None),
                         credential_valid_days=getattr(args, "valid_days", None))


def _provision(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
        parse_mqtts_url(settings.secure_broker_url)
        layout, db, clock = SecurityLayout(settings.security_dir), Database(settings.db_url), SystemClock()
        try:
            ensure_schema(db)
            out = args.out or Path("var/cloud/devices") / args.device_id
            bundle = provision_device(
                CredentialStore(db, clock), layout, clock, tenant=args.tenant, device_id=args.device_id,
                out_dir=out, broker_url=settings.secure_broker_url, valid_s=settings.credential_valid_days * _DAY_S,
                rotate=args.rotate, device_path=args.device_path,
            )
        finally:
            db.close()
    except CloudError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cred = bundle.credential
    print(f"provisioned {cred.device_id} (tenant {cred.tenant}): broker user {cred.username}, "
          f"valid until {format_ts(cred.expires_at)}")
    print(f"wrote {out}/edge.env, {out}/password and {out}/ca.pem (mode 0600)")
    reloaded = "broker reloaded" if bundle.broker_reloaded else (
        "no running broker found: start it with the settings of `python -m cloud broker-config`")
    print(f"broker password and ACL files updated in {layout.root} ({reloaded})")
    print(f"next: copy {out} to the device and run `set -a; . {out}/edge.env; set +a; python -m edge run`")
    return 0


def _rotate(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
        layout, db, clock = SecurityLayout(settings.security_dir), Database(settings.db_url), SystemClock()
        ensure_schema(db)
        store = CredentialStore(db, clock)
        proved = threading.Event()
        rotator: CredentialRotator | None = None

        def on_state(state: DeviceState) -> None:
            if rotator is not None and rotator.on_state(state):
                proved.set()

        # The cloud user logs in on the cloud listener only: the same PAAS_BROKER as `cloud serve`.
        if not settings.broker_url.startswith("mqtts://"):
            raise ConfigError(f"PAAS_BROKER / --broker is {settings.broker_url!r}: rotation logs in as the cloud user "
                              f"on the broker's cloud listener, mqtts://HOST:{CLOUD_PORT} (see `broker-config`)")
        channel = SecureCommandChannel(settings.broker_url, layout, on_state=on_state)
        rotator = CredentialRotator(store, layout, channel.send, clock, valid_s=settings.credential_valid_days * _DAY_S,
                                    grace_s=settings.credential_grace_s)
        channel.open()
        try:
            rotated = [rotator.rotate(args.device_id).device_id] if args.device_id else rotator.sweep()
            print(f"rotated: {', '.join(rotated) or 'none due'}")
            if args.device_id and not proved.wait(args.wait):
                print(f"{args.device_id} has not reconnected with its new credentials within {args.wait:g} s; "
                      f"its old ones stay valid for {settings.credential_grace_s:g} s (then `--due` revokes them)")
            elif args.device_id:
                print(f"{args.device_id} reconnected with its new credentials; the old ones are revoked")
        finally:
            channel.close()
            db.close()
    except CloudError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _broker_config(args: argparse.Namespace) -> int:
    if args.profile == "dev":
        print(dev_config(args.port, args.data_dir or Path("var/cloud/mosquitto")), end="")
        return 0
    try:
        settings = load_settings(security_dir=args.security_dir, db_url=args.db)
        # Absolute paths: Mosquitto resolves relative ones against its own working directory.
        layout, clock = SecurityLayout(settings.security_dir.absolute()), SystemClock()
        config = production_config(layout, args.data_dir or Path("/var/lib/mosquitto"),
                                   device_port=args.tls_port, device_bind=args.bind, cloud_port=args.cloud_port,
                                   cloud_bind=args.cloud_bind)
        ensure_pki(layout, clock)
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
    return 0
