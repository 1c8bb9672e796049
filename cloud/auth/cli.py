"""`python -m cloud users|api-keys|customers|technicians`: accounts made by an operator on the service's host.

The first administrator of a tenant (and every script's API key) comes from here: the
CLI writes straight to the service's database (`--db`, default the same as `serve`),
trusted as the OS user who runs it, and records each change in the audit trail as
`cli:<user>`. A secret (generated password, API key) is printed once, alone on the
last line of stdout, so a script can take it with `tail -n 1`; `list` never prints one.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import TypeAlias

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.auth.account_changes import AccountChanges, operator
from cloud.auth.accounts import Binding, get_customer, get_technician, list_api_keys, list_users
from cloud.auth.passwords import MAX_PASSWORD_CHARS, check_password_policy
from cloud.auth.roles import Role
from cloud.auth.secrets import new_password, split_api_key
from cloud.command_line import add_db_option
from cloud.errors import ConfigError, ConflictError, InvalidAccountError, NotFoundError
from cloud.settings import load_settings
from cloud.store.account_tables import ApiKeyRow, CustomerRow, TechnicianRow, UserRow
from cloud.store.database import Database
from cloud.store.schema import ensure_schema
from cloud.store.scope import Scope
from contract.clock import SystemClock
from contract.timestamps import format_ts

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
CLIENT = "cli"

CREATED_RECORD = Template("created $kind $name (id $id) in tenant $tenant for it")
CREATED_USER = Template("created user $name (id $id) $where as $role")
CREATED_KEY = Template("created API key $name (key id $key_id) $where as $role")
SHOWN_ONCE_PASSWORD = "its password, shown once (sign in with POST /api/v1/auth/token):"
SHOWN_ONCE_KEY = "the key, shown once (send it as `Authorization: Bearer <key>`):"
REVOKED = Template("revoked API key $key_id ($name$where)")
ALREADY_REVOKED = Template("API key $key_id ($name$where) was already revoked at $at")
CREATED_ENTRY = Template("created $kind $name in tenant $tenant; its id:")
ENTRY_EXISTS = Template(
    "a $kind named $name already exists in tenant $tenant (id $id): use it, or choose another --name"
)
RECORD_EXISTS = Template(
    "a $kind named $name already exists in tenant $tenant (id $id): pass --$kind $id to bind the account to it"
)
NO_RECORD = Template(
    "$kind $id does not exist in tenant $tenant: omit --$kind to create one named after the account, or see "
    "`python -m cloud ${kind}s create --help`"
)
USERS_HEADER = f"{'ID':>6}  {'USERNAME':<24} {'TENANT':<16} {'ROLE':<10} {'BOUND TO':<16} {'ACTIVE':<6} CREATED BY"
KEYS_HEADER = f"{'KEY ID':<12}  {'NAME':<24} {'TENANT':<16} {'ROLE':<10} {'BOUND TO':<16} {'REVOKED':<24} CREATED BY"


@dataclass(frozen=True)
class _RecordKind:
    """A directory record an account may be bound to, and the role that needs one."""

    name: str
    role: Role
    table: type[CustomerRow] | type[TechnicianRow]
    find: Callable[[Session, Scope, int], CustomerRow | TechnicianRow]
    create: Callable[[AccountChanges, str, str], CustomerRow | TechnicianRow]


RECORD_KINDS = (
    _RecordKind("customer", Role.CUSTOMER, CustomerRow, get_customer, AccountChanges.customer),
    _RecordKind("technician", Role.TECHNICIAN, TechnicianRow, get_technician, AccountChanges.technician),
)


def add_account_parsers(subparsers: Subparsers) -> None:
    """Register `users`, `api-keys`, `customers` and `technicians`."""
    users = _group(subparsers, "users", "people who sign in with a password")
    create = users.add_parser("create", help="create a user (a generated password is printed once)")
    _add_binding(create, "--name", "the username (unique across tenants)")
    create.add_argument("--password-file", type=Path, help="read the password from this file (12+ characters)")
    add_db_option(create, _create_user)
    _add_list(users, "users", _list_users)
    keys = _group(subparsers, "api-keys", "bearer keys for machines, scripts and integrations")
    add_db_option(_add_binding(keys.add_parser("create", help="create an API key, printed once on the last line"),
                         "--name", "what the key is for (shown in the audit trail)"), _create_key)
    revoke = keys.add_parser("revoke", help="revoke an API key; requests with it are refused from now on")
    revoke.add_argument("key", metavar="KEY_ID_OR_KEY", help="the key id, or the whole key paas_<key id>_<secret>")
    add_db_option(revoke, _revoke_key)
    _add_list(keys, "API keys (never their secrets)", _list_keys)
    for kind in RECORD_KINDS:
        group = _group(subparsers, f"{kind.name}s", f"the tenant's {kind.name} records")
        entry = group.add_parser("create", help=f"create a {kind.name} record and print its id on the last line")
        entry.add_argument("--tenant", required=True)
        entry.add_argument("--name", required=True, help=f"the {kind.name}'s name, unique in the tenant")
        add_db_option(entry, _entry_handler(kind))


def _group(subparsers: Subparsers, name: str, what: str) -> Subparsers:
    parser = subparsers.add_parser(name, help=f"manage {what}")
    group: Subparsers = parser.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")
    return group


def _add_binding(parser: argparse.ArgumentParser, name_flag: str, name_help: str) -> argparse.ArgumentParser:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--tenant", help="the tenant the account belongs to")
    where.add_argument("--platform-admin", action="store_true", help="an admin of every tenant (no --tenant)")
    parser.add_argument("--role", choices=[role.value for role in Role], help="required unless --platform-admin")
    parser.add_argument(name_flag, dest="name", required=True, help=name_help)
    parser.add_argument("--customer", type=int, metavar="ID",
                        help="role customer: the customer record (default: a new one named after the account)")
    parser.add_argument("--technician", type=int, metavar="ID",
                        help="role technician: the technician record (default: a new one named after the account)")
    return parser


def _add_list(group: Subparsers, what: str, handler: Callable[[argparse.Namespace], int]) -> None:
    parser = group.add_parser("list", help=f"list {what}")
    parser.add_argument("--tenant", help="only this tenant's (default: every tenant's)")
    add_db_option(parser, handler)


@contextlib.contextmanager
def _changes(args: argparse.Namespace) -> Iterator[AccountChanges]:
    """One transaction on the service's database, its changes audited as this OS user's."""
    database = Database(load_settings(db_url=args.db).db_url)
    try:
        ensure_schema(database)  # a new database gets the schema; an old one is refused with the upgrade command
        with database.session() as session:
            yield AccountChanges(session, operator(), CLIENT, SystemClock().time())
    finally:
        database.close()


def _create_user(args: argparse.Namespace) -> int:
    password = _read_password(args.password_file) if args.password_file else new_password()
    with _changes(args) as changes:
        binding, notes = _binding(changes, args)
        try:
            row = changes.user(args.name, password, binding)
        except ConflictError as exc:
            raise ConflictError(f"{exc}: choose another --name (see `python -m cloud users list`)") from None
    # Said once committed; a generated password goes last, alone on its line.
    notes.append(CREATED_USER.substitute(name=row.username, id=row.id, where=_where(row.tenant), role=row.role))
    print("\n".join(notes if args.password_file else [*notes, SHOWN_ONCE_PASSWORD, password]))
    return 0


def _read_password(path: Path) -> str:
    try:
        with path.open(encoding="utf-8") as file:
            text = file.read(MAX_PASSWORD_CHARS + 3)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the password file {path}: {exc}") from None
    password = text.removesuffix("\n").removesuffix("\r")
    if not password:
        raise InvalidAccountError(f"the password file {path} is empty: write the password in it (12+ characters)")
    try:
        check_password_policy(password)
    except InvalidAccountError as exc:
        raise InvalidAccountError(f"the password in {path} is refused: {exc}") from None
    return password


def _create_key(args: argparse.Namespace) -> int:
    with _changes(args) as changes:
        binding, notes = _binding(changes, args)
        row, key = changes.api_key(args.name, binding)
    notes.append(CREATED_KEY.substitute(name=row.name, key_id=row.key_id, where=_where(row.tenant), role=row.role))
    print("\n".join([*notes, SHOWN_ONCE_KEY, key]))
    return 0


def _binding(changes: AccountChanges, args: argparse.Namespace) -> tuple[Binding, list[str]]:
    """The account's tenant and role, with the customer or technician record its role needs (made if not given),
    and what was made."""
    if args.platform_admin:
        if args.role not in (None, Role.ADMIN.value) or args.customer or args.technician:
            raise InvalidAccountError("a platform admin is an admin of every tenant: drop --role/--customer/"
                                      "--technician, or give --tenant instead of --platform-admin")
        return Binding(None, Role.ADMIN), []
    if args.role is None:
        raise InvalidAccountError("give the account's --role (one of: " + ", ".join(Role) + ")")
    role, tenant, notes = Role(args.role), args.tenant, list[str]()
    ids: dict[str, int | None] = {}
    for kind in RECORD_KINDS:
        given: int | None = getattr(args, kind.name)
        if given is not None and role is not kind.role:
            raise InvalidAccountError(f"--{kind.name} is only for --role {kind.role.value}")
        ids[kind.name] = _record(changes, kind, tenant, given, args.name, notes) if role is kind.role else None
    return Binding(tenant, role, ids["customer"], ids["technician"]), notes


def _record(changes: AccountChanges, kind: _RecordKind, tenant: str, given: int | None, name: str,
            notes: list[str]) -> int:
    """The id of the given record of the tenant, or of a new one named after the account (noted in `notes`)."""
    if given is not None:
        try:
            kind.find(changes.session, Scope(tenant), given)
        except NotFoundError:
            raise InvalidAccountError(NO_RECORD.substitute(kind=kind.name, id=given, tenant=tenant)) from None
        return given
    row = _create_record(changes, kind, tenant, name, RECORD_EXISTS)
    notes.append(CREATED_RECORD.substitute(kind=kind.name, name=repr(row.name), id=row.id, tenant=tenant))
    return row.id


def _create_record(changes: AccountChanges, kind: _RecordKind, tenant: str, name: str,
                   exists: Template) -> CustomerRow | TechnicianRow:
    table = kind.table
    existing = changes.session.scalar(sa.select(table.id).where(table.tenant == tenant, table.name == name))
    if existing is not None:
        raise ConflictError(exists.substitute(kind=kind.name, name=repr(name), tenant=tenant, id=existing))
    return kind.create(changes, tenant, name)


def _revoke_key(args: argparse.Namespace) -> int:
    parts = split_api_key(args.key)
    key_id = parts[0] if parts is not None else args.key
    with _changes(args) as changes:
        try:
            row, changed = changes.revoke_api_key(key_id)
        except NotFoundError as exc:
            raise NotFoundError(f"{exc}: see the key ids with `python -m cloud api-keys list`") from None
    where = f", tenant {row.tenant}" if row.tenant else ", platform admin"
    if changed:
        print(REVOKED.substitute(key_id=row.key_id, name=row.name, where=where))
    else:
        print(ALREADY_REVOKED.substitute(key_id=row.key_id, name=row.name, where=where,
                                         at=format_ts(row.revoked_at or 0.0)))
    return 0


def _entry_handler(kind: _RecordKind) -> Callable[[argparse.Namespace], int]:
    def create(args: argparse.Namespace) -> int:
        with _changes(args) as changes:
            row = _create_record(changes, kind, args.tenant, args.name, ENTRY_EXISTS)
        print(CREATED_ENTRY.substitute(kind=kind.name, name=repr(row.name), tenant=row.tenant))
        print(row.id)
        return 0

    return create


def _list_users(args: argparse.Namespace) -> int:
    with _changes(args) as changes:
        rows = list_users(changes.session, Scope(args.tenant))
    print(USERS_HEADER)
    for user in rows:
        print(_user_line(user))
    return 0


def _list_keys(args: argparse.Namespace) -> int:
    with _changes(args) as changes:
        rows = list_api_keys(changes.session, Scope(args.tenant))
    print(KEYS_HEADER)
    for key in rows:
        print(_key_line(key))
    return 0


def _user_line(row: UserRow) -> str:
    active = "yes" if row.active else "no"
    return (f"{row.id:>6}  {row.username:<24} {_tenant(row.tenant):<16} {row.role:<10} "
            f"{_bound(row.customer_id, row.technician_id):<16} {active:<6} {row.created_by}")


def _key_line(row: ApiKeyRow) -> str:
    revoked = "-" if row.revoked_at is None else format_ts(row.revoked_at)
    return (f"{row.key_id:<12}  {row.name:<24} {_tenant(row.tenant):<16} {row.role:<10} "
            f"{_bound(row.customer_id, row.technician_id):<16} {revoked:<24} {row.created_by}")


def _tenant(tenant: str | None) -> str:
    return tenant if tenant is not None else "(every tenant)"


def _bound(customer_id: int | None, technician_id: int | None) -> str:
    if customer_id is not None:
        return f"customer {customer_id}"
    return "-" if technician_id is None else f"technician {technician_id}"


def _where(tenant: str | None) -> str:
    return f"in tenant {tenant}" if tenant is not None else "across every tenant (platform admin)"
