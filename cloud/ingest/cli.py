"""`python -m cloud dead-letters list|replay`: what the ingest kept instead of storing, and replaying it once fixed.

Runs on the service's host against its stores (`--db`, `--tsdb`, default the same as
`serve`), trusted as the OS user who runs it: each replay is recorded in the audit trail
as `cli:<user>`, like the API's `POST /api/v1/dead-letters/{id}/replay`. A replay feeds
the letter's raw topic and payload through the same handler as the ingest (without the
per-device rate budget), so it is safe while the service runs, and harmless to repeat.
Exit codes: 0 done (every replayed letter stored), 1 some were refused again, 2 an error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from string import Template
from typing import TypeAlias

from cloud.audit.trail import record
from cloud.auth.account_changes import operator
from cloud.errors import CloudError
from cloud.ingest.pipeline import build_handler
from cloud.ingest.replay import replay_letter
from cloud.ingest.stats import IngestCounters
from cloud.settings import CloudSettings, load_settings
from cloud.store.database import Database
from cloud.store.dead_letter_tables import DeadLetterRow
from cloud.store.dead_letters import MAX_LIMIT, get_dead_letter, list_dead_letters
from cloud.store.schema import ensure_schema
from cloud.store.scope import Scope
from cloud.store.timeseries import TimeSeriesStore, open_timeseries_store
from contract.clock import SystemClock
from contract.timestamps import format_ts

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
CLIENT = "cli"

HEADER = f"{'ID':>8}  {'RECEIVED':<24} {'REASON':<22} {'DEVICE':<20} {'BYTES':>7} {'STATUS':<9} DETAIL"
ROW = Template("$id  $received $reason $device $size $status $detail")
REPLAYED = Template("dead letter $id ($reason, device $device): stored")
REFUSED = Template("dead letter $id ($reason, device $device): refused again: $why")
SUMMARY = Template("replayed $total dead letter(s): $stored stored, $refused refused again")
NOTHING = "no pending dead letter matches"


def add_dead_letter_parsers(subparsers: Subparsers) -> None:
    """Register `dead-letters` and its sub-commands."""
    group = subparsers.add_parser("dead-letters", help="messages the ingest kept instead of storing: list, replay")
    actions = group.add_subparsers(dest="dead_letters_command", required=True)
    listing = actions.add_parser("list", help="list dead letters, newest first")
    listing.add_argument("--reason", help="only this reason (e.g. malformed, unit, device_rate_limited)")
    listing.add_argument("--device", help="only this device id")
    listing.add_argument("--pending", action="store_true", help="only those not replayed yet")
    listing.add_argument("--limit", type=int, default=100, help=f"at most this many (<= {MAX_LIMIT})")
    _add_stores(listing).set_defaults(handler=_list)
    replay = actions.add_parser("replay", help="feed pending dead letters through the ingest again (once fixed)")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, help="this dead letter (also when it was replayed before)")
    which.add_argument("--reason", help="every pending dead letter with this reason")
    which.add_argument("--device", help="every pending dead letter of this device")
    replay.add_argument("--limit", type=int, default=MAX_LIMIT,
                        help="at most this many (the newest), replayed oldest first")
    _add_stores(replay).set_defaults(handler=_replay)


def _add_stores(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--db", help="relational store URL (default: PAAS_DB, as `serve` uses)")
    parser.add_argument("--tsdb", help="time-series store URL, where replayed readings go (default: PAAS_TSDB)")
    return parser


@dataclass
class _Stores:
    settings: CloudSettings
    database: Database
    timeseries: TimeSeriesStore


@contextmanager
def _stores(args: argparse.Namespace) -> Iterator[_Stores]:
    settings = load_settings(db_url=args.db, tsdb_url=args.tsdb)
    database, timeseries = Database(settings.db_url), open_timeseries_store(settings.tsdb_url)
    try:
        ensure_schema(database)  # an old database is refused with the upgrade command
        yield _Stores(settings, database, timeseries)
    finally:
        timeseries.close()
        database.close()


def _list(args: argparse.Namespace) -> int:
    try:
        with _stores(args) as stores, stores.database.session() as session:
            rows = list_dead_letters(session, Scope.everything(), reason=args.reason, device_id=args.device,
                                     pending_only=args.pending, limit=max(1, min(args.limit, MAX_LIMIT)))
            lines = [_row(row) for row in rows]
    except CloudError as exc:
        return _fail(exc)
    print("\n".join([HEADER, *lines]))
    return 0


def _replay(args: argparse.Namespace) -> int:
    clock, actor = SystemClock(), operator()
    stored = refused = 0
    try:
        with _stores(args) as stores:
            stores.timeseries.create_schema()
            handler = build_handler(stores.settings, stores.database, stores.timeseries, clock, IngestCounters())
            for letter_id in _selected(stores.database, args):
                with stores.database.session() as session:
                    row = get_dead_letter(session, letter_id, Scope.everything())
                    outcome, change = replay_letter(row, handler.replay, clock.time())
                    record(session, actor, CLIENT, change, clock.time())
                    fields = {"id": row.id, "reason": row.reason, "device": row.device_id or "?"}
                if outcome.accepted:
                    stored += 1
                    print(REPLAYED.substitute(fields), flush=True)
                else:
                    refused += 1
                    print(REFUSED.substitute(fields, why=f"{outcome.reason}: {outcome.detail}"[:300]), flush=True)
    except CloudError as exc:
        return _fail(exc)
    print(SUMMARY.substitute(total=stored + refused, stored=stored, refused=refused) if stored + refused else NOTHING)
    return 1 if refused else 0


def _selected(database: Database, args: argparse.Namespace) -> list[int]:
    """Ids of the letters to replay, oldest first: the one named, or the pending ones matching the filter."""
    with database.session() as session:
        if args.id is not None:
            return [get_dead_letter(session, args.id, Scope.everything()).id]
        rows = list_dead_letters(session, Scope.everything(), reason=args.reason, device_id=args.device,
                                 pending_only=True, limit=max(1, min(args.limit, MAX_LIMIT)))
        return sorted(row.id for row in rows)


def _row(row: DeadLetterRow) -> str:
    return ROW.substitute(
        id=f"{row.id:>8}", received=f"{format_ts(row.received_at):<24}", reason=f"{row.reason:<22}",
        device=f"{row.device_id or '?':<20}", size=f"{row.size:>7}",
        status=f"{'pending' if row.replayed_at is None else 'replayed':<9}", detail=row.detail[:120],
    )


def _fail(exc: CloudError) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 2
