"""`python -m cloud profiles create|list`: device profiles registered by an operator on the service's host.

The file `create` reads is the body of `POST /api/v1/profiles` (without `tenant`, given as
`--tenant`): `{"kind": …, "description": …, "model_id": …, "channels": [{"name": …,
"unit": …, "label": …}, …]}`. Like the account commands, it writes straight to the
service's database (`--db`, default the same as `serve`) and records the change in the
audit trail as `cli:<user>`. Exit codes: 0 done, 2 refused (the message says why).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from string import Template
from typing import Any, TypeAlias

from sqlalchemy.orm import Session

from cloud.audit.trail import Change, record
from cloud.auth.account_changes import operator
from cloud.command_line import add_db_option
from cloud.errors import ConfigError, InvalidProfileError
from cloud.settings import load_settings
from cloud.store.database import Database
from cloud.store.profiles import DeviceProfile, audited_fields, create_profile, list_profiles, registered
from cloud.store.schema import ensure_schema
from cloud.store.scope import Scope
from contract.channels import AssetProfile, Channel
from contract.clock import SystemClock

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
CLIENT = "cli"
MAX_FILE_BYTES = 256 * 1024

CREATED = Template("registered profile $kind in tenant $tenant: $channels channel(s), $devices device(s) of this kind")
HEADER = f"{'KIND':<24} {'SOURCE':<10} {'TENANT':<16} {'DEVICES':>7}  CHANNELS"
_FIELDS = {"kind", "description", "model_id", "channels"}
_CHANNEL_FIELDS = {"name", "unit", "label"}


def add_profile_parsers(subparsers: Subparsers) -> None:
    """Register `profiles create` and `profiles list`."""
    parser = subparsers.add_parser("profiles", help="manage device profiles: the kinds of asset and their channels")
    actions: Subparsers = parser.add_subparsers(dest="profiles_command", required=True, metavar="COMMAND")
    create = actions.add_parser("create", help="register a device profile from a JSON file",
                                description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    create.add_argument("--tenant", required=True, help="the tenant whose devices report this kind")
    create.add_argument("--file", required=True, type=Path, help="the profile, as JSON (see above)")
    add_db_option(create, _create)
    listing = actions.add_parser("list", help="list the built-in, registered and pending profiles")
    listing.add_argument("--tenant", help="only this tenant's (default: every tenant's)")
    add_db_option(listing, _list)


@contextmanager
def _session(args: argparse.Namespace) -> Iterator[Session]:
    database = Database(load_settings(db_url=args.db).db_url)
    try:
        ensure_schema(database)  # a new database gets the schema; an old one is refused with the upgrade command
        with database.session() as session:
            yield session
    finally:
        database.close()


def _create(args: argparse.Namespace) -> int:
    profile = read_profile_file(args.file)
    actor, now = operator(), SystemClock().time()
    with _session(args) as session:
        row = create_profile(session, args.tenant, profile, actor.label, now)
        record(session, actor, CLIENT, Change("create", "device_profile", row.kind, row.tenant,
                                              after=audited_fields(row)), now)
        listed = registered(session, row)
    print(CREATED.substitute(kind=repr(row.kind), tenant=row.tenant, channels=len(row.channels),
                             devices=listed.devices))
    return 0


def _list(args: argparse.Namespace) -> int:
    with _session(args) as session:
        profiles = list_profiles(session, Scope(args.tenant))
    print(HEADER)
    for listed in profiles:
        print(_line(listed))
    return 0


def _line(listed: DeviceProfile) -> str:
    channels = ", ".join(f"{c.name} [{c.unit}]" for c in listed.profile.channels)
    tenant = listed.tenant if listed.tenant is not None else "(every tenant)"
    return f"{listed.profile.kind:<24} {listed.source.value:<10} {tenant:<16} {listed.devices:>7}  {channels}"


def read_profile_file(path: Path) -> AssetProfile:
    """The profile a JSON file describes; `InvalidProfileError` naming what is missing or of the wrong type."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read the profile file {path}: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise InvalidProfileError(f"{path}: a profile file is at most {MAX_FILE_BYTES} bytes")
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidProfileError(f"{path} is not JSON: {exc}") from None
    body = _object(document, f"{path}", _FIELDS)
    channels = body.get("channels")
    if not isinstance(channels, list):
        raise InvalidProfileError(f"{path}: `channels` must be a list of {{name, unit, label}}")
    return AssetProfile(
        kind=_text(body, "kind", f"{path}"),
        channels=tuple(_channel(item, f"{path}: channels[{i}]") for i, item in enumerate(channels)),
        description=_text(body, "description", f"{path}", required=False),
        model_id=_text(body, "model_id", f"{path}", required=False),
    )


def _channel(item: object, where: str) -> Channel:
    fields = _object(item, where, _CHANNEL_FIELDS)
    return Channel(_text(fields, "name", where), _text(fields, "unit", where), _text(fields, "label", where, False))


def _object(value: object, where: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidProfileError(f"{where} must be a JSON object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed))
        raise InvalidProfileError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {known})")
    return value


def _text(fields: dict[str, Any], key: str, where: str, required: bool = True) -> str:
    value = fields.get(key, None if required else "")
    if not isinstance(value, str):
        raise InvalidProfileError(f"{where}: `{key}` must be a string" + (" (required)" if key not in fields else ""))
    return value
