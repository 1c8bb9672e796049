"""`python -m cloud provision-device|rotate-credentials|broker-config`: the operator's security commands.

Every path they print or write into a bundle or the broker's configuration is absolute: the
broker, the device and the next command run in other directories than this one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cloud.errors import CloudError, ConfigError
from cloud.registry.signing import public_key_pem
from cloud.security.broker_cli import add_broker_config_parser
from cloud.security.broker_config import CLOUD_PORT
from cloud.security.command_channel import parse_mqtts_url
from cloud.security.credentials import CredentialStore
from cloud.security.layout import SecurityLayout
from cloud.security.provisioning import BUNDLE_SIGNING_KEY, provision_device
from cloud.security.rotation_service import DAY_S, RotationService
from cloud.settings import CloudSettings, load_settings
from cloud.store.database import Database
from cloud.store.schema import ensure_schema
from contract.clock import SystemClock
from contract.wire import format_ts


def add_security_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    prov = subparsers.add_parser("provision-device", help="issue a device's broker credentials and write its bundle")
    prov.add_argument("--device-id", required=True)
    prov.add_argument("--tenant", required=True)
    prov.add_argument("--out", type=Path, help="bundle directory (default var/cloud/devices/DEVICE_ID)")
    prov.add_argument("--valid-days", type=float, help="credential lifetime (PAAS_CREDENTIAL_VALID_DAYS, 90)")
    prov.add_argument("--device-path", type=Path, help="where the bundle will live on the device (default: --out)")
    prov.add_argument("--rotate", action="store_true", help="replace an existing device's credentials (revokes them)")
    add_common(prov)
    prov.set_defaults(handler=_provision)
    rot = subparsers.add_parser(
        "rotate-credentials", help="send a device new credentials over TLS",
        description="The old credentials stay valid until the device is seen using the new ones (or until they "
        "expire); a rotation not yet proven is sent again by `cloud serve`, or by the next `--due`.",
    )
    target = rot.add_mutually_exclusive_group(required=True)
    target.add_argument("--device-id", help="rotate this device now")
    target.add_argument("--due", action="store_true",
                        help="one pass: rotate every device with < 20%% validity left, retry rotations not yet "
                        "proven, revoke expired superseded credentials (`cloud serve` does this every minute)")
    rot.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the device to use them")
    rot.add_argument("--broker", help="the broker's cloud listener, mqtts://HOST:PORT (PAAS_BROKER)")
    add_common(rot, bundle_url=False)
    rot.set_defaults(handler=_rotate)
    add_broker_config_parser(subparsers)


def add_common(parser: argparse.ArgumentParser, bundle_url: bool = True) -> None:
    parser.add_argument("--security-dir", type=Path, help="PAAS_SECURITY_DIR (default var/cloud/security)")
    parser.add_argument("--db", help="relational store URL (PAAS_DB)")
    if bundle_url:
        parser.add_argument("--broker-url", help="the broker's device listener written into the bundle "
                            "(PAAS_SECURE_BROKER_URL, mqtts://localhost:8883)")


def settings_of(args: argparse.Namespace) -> CloudSettings:
    return load_settings(db_url=args.db, security_dir=args.security_dir,
                         secure_broker_url=getattr(args, "broker_url", None),
                         broker_url=getattr(args, "broker", None),
                         credential_valid_days=getattr(args, "valid_days", None))


def _provision(args: argparse.Namespace) -> int:
    try:
        settings = settings_of(args)
        parse_mqtts_url(settings.secure_broker_url)
        layout, db, clock = SecurityLayout.from_settings(settings), Database(settings.db_url), SystemClock()
        try:
            ensure_schema(db)
            out = (args.out or Path("var/cloud/devices") / args.device_id).absolute()
            bundle = provision_device(
                CredentialStore(db, clock), layout, clock, tenant=args.tenant, device_id=args.device_id,
                out_dir=out, broker_url=settings.secure_broker_url, valid_s=settings.credential_valid_days * DAY_S,
                rotate=args.rotate, device_path=args.device_path, signing_key_pem=public_key_pem(settings),
            )
        finally:
            db.close()
    except CloudError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cred = bundle.credential
    print(f"provisioned {cred.device_id} (tenant {cred.tenant}): broker user {cred.username}, "
          f"valid until {format_ts(cred.expires_at)}")
    print(f"wrote {out}/edge.env, {out}/password, {out}/ca.pem and {out}/{BUNDLE_SIGNING_KEY} (mode 0600)")
    reloaded = "broker reloaded" if bundle.broker_reloaded else (
        f"no running broker found at the pid in {layout.pid_file} (PAAS_BROKER_PID_FILE): the device logs in "
        "once the broker has re-read them")
    print(f"broker password and ACL files updated in {layout.root} ({reloaded})")
    print(f"next: copy {out} to the device and run `set -a; . {out}/edge.env; set +a; python -m edge run`")
    return 0


def _rotate(args: argparse.Namespace) -> int:
    try:
        settings = settings_of(args)
        # The cloud user logs in on the cloud listener only: the same PAAS_BROKER as `cloud serve`.
        if not settings.broker_url.startswith("mqtts://"):
            raise ConfigError(f"PAAS_BROKER / --broker is {settings.broker_url!r}: rotation logs in as the cloud user "
                              f"on the broker's cloud listener, mqtts://HOST:{CLOUD_PORT} (see `broker-config`)")
        db, clock = Database(settings.db_url), SystemClock()
        try:
            ensure_schema(db)
            service = RotationService.for_command_line(settings, db, clock)
            service.open()
            try:
                _rotate_with(service, args)
            finally:
                service.stop()
        finally:
            db.close()
    except CloudError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _rotate_with(service: RotationService, args: argparse.Namespace) -> None:
    if args.due:
        rotated = service.rotator.sweep()
        print(f"rotated: {', '.join(rotated) or 'none due'}")
        return
    sent = service.rotate_now(args.device_id)
    print(f"rotated: {args.device_id} (new broker user {sent.username})")
    if sent.sent_at is None:
        print(f"{args.device_id}: not sent yet (see the error above); the old credentials stay valid and "
              "`cloud serve` (or `rotate-credentials --due`) tries again")
    elif service.settle(args.device_id, args.wait):
        print(f"{args.device_id} reconnected with its new credentials; the old ones are revoked")
    else:
        print(f"{args.device_id} has not been seen with its new credentials within {args.wait:g} s; its old ones "
              "stay valid until it is (or until they expire), and `cloud serve` sends the new ones again")
