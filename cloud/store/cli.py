"""`python -m cloud db upgrade|current|revision`: the relational store's schema, for operators and developers.

`serve` refuses a database whose schema is behind this release; `db upgrade` is what the
refusal tells the operator to run (after a backup). Exit codes: 0 done (or, for `current`,
the schema is this release's), 1 `current` found another revision, 2 an error.
"""

from __future__ import annotations

import argparse
import sys

from cloud.errors import CloudError, StoreError
from cloud.settings import load_settings
from cloud.store.database import Database
from cloud.store.schema import inspect_schema, new_revision, upgrade

_DB_HELP = "relational store URL, sqlite:///path or postgresql://... (default: PAAS_DB, as `serve` uses)"


def add_db_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `db` and its sub-commands."""
    db = subparsers.add_parser("db", help="the relational store's schema: show its revision, upgrade it")
    actions = db.add_subparsers(dest="db_command", required=True)
    up = actions.add_parser("upgrade", help="bring the database to this release's schema (back it up first)",
                            description="Applies the missing revisions in one transaction; progress on stderr.")
    up.add_argument("--db", help=_DB_HELP)
    up.set_defaults(handler=_upgrade)
    current = actions.add_parser("current", help="print the database's schema revision; exit 1 unless it is current")
    current.add_argument("--db", help=_DB_HELP)
    current.set_defaults(handler=_current)
    revision = actions.add_parser(
        "revision", help="developers: write the next migration from how the tables differ from a database at head",
        description="See cloud/store/migrations/env.py for the steps around it.",
    )
    revision.add_argument("-m", "--message", required=True, help="what the revision changes, a few words")
    revision.add_argument("--db", required=True, help="a scratch database at the newest revision")
    revision.set_defaults(handler=_revision)


def _upgrade(args: argparse.Namespace) -> int:
    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        database = _open(args.db)
        try:
            state = upgrade(database, progress)
        finally:
            database.close()
    except CloudError as exc:
        return _fail(exc)
    print(f"{state.database} is at schema revision {state.revision}, this release's")
    return 0


def _current(args: argparse.Namespace) -> int:
    try:
        database = _open(args.db)
        try:
            state = inspect_schema(database)
        finally:
            database.close()
    except CloudError as exc:
        return _fail(exc)
    print(state.describe())
    if state.current:
        return 0
    if state.empty:
        print(f"`serve` creates the schema at start, or now: {state.upgrade_command}")
    elif state.known:
        print(f"to upgrade it (after a backup): {state.upgrade_command}")
    return 1


def _revision(args: argparse.Namespace) -> int:
    try:
        database = _open(args.db)
        try:
            written = new_revision(database, args.message)
        finally:
            database.close()
    except CloudError as exc:
        return _fail(exc)
    print(f"wrote {written}: review it, spell out its DDL and backfill, then run tests/cloud/test_cloud_migrations.py")
    return 0


def _open(db_url: str | None) -> Database:
    return Database(load_settings(db_url=db_url).db_url)


def _fail(exc: CloudError) -> int:
    hint = "; check --db (or PAAS_DB) and that the database is up" if isinstance(exc, StoreError) else ""
    print(f"error: {exc}{hint}", file=sys.stderr)
    return 2
