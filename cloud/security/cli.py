"""`python -m cloud provision-device|rotate-credentials|broker-config`: the operator's security commands."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from cloud.errors import CloudError
from cloud.security.broker_auth import secure_config
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
    _add_common(rot)
    rot.set_defaults(handler=_rotate)
    conf = subparsers.add_parser("broker-config", help="print the Mosquitto settings of the secure listener")
    conf.add_argument("--tls-port", type=int, default=8883)
    conf.add_argument("--bind", default="0.0.0.0")
    conf.add_argument("--security-dir", type=Path, help="PAAS_SECURITY_DIR (default var/cloud/security)")
    conf.add_argument("--db", help="relational store URL (PAAS_DB): the credentials the files are written from")
    conf.set_defaults(handler=_broker_config)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--security-dir", type=Path, help="PAAS_SECURITY_DIR (default var/cloud/security)")
    parser.add_argument("--db", help="relational store URL (PAAS_DB)")
    parser.add_argument("--broker-url", help="the broker's TLS URL (PAAS_SECURE_BROKER_URL, mqtts://localhost:8883)")


def _settings(args: argparse.Namespace) -> CloudSettings:
    return load_settings(db_url=args.db, security_dir=args.security_dir,
                         secure_broker_url=getattr(args, "broker_url", None),
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

        channel = SecureCommandChannel(settings.secure_broker_url, layout, on_state=on_state)
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
    try:
        settings = load_settings(security_dir=args.security_dir, db_url=args.db)
        layout, clock = SecurityLayout(settings.security_dir), SystemClock()
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
    print(secure_config(layout, args.tls_port, args.bind), end="")
    return 0
