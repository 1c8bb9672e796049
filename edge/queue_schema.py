"""The outbox's SQLite schema, created or upgraded in place when a queue is opened.

Versions (`PRAGMA user_version`):

- v1: `readings` and `events` rows, deleted at the broker's PUBACK.
- v2 (issue 9): rows stay until the cloud confirms them, so each row has a
  `sent_at` (NULL: not acknowledged by the broker yet; else when the broker first
  did), and the outbox has an install id (`meta.install_id`), a random id the agent
  sends with every reading, event and usage report so the cloud can tell this
  outbox's `seq` numbering from a previous one of the same device (a lost state
  directory starts again at seq 1). Event and usage rows record the install their
  payload carries (`events.install`).

Upgrading v1 -> v2 happens at open, in one transaction: the columns are added
(existing rows are unsent, `sent_at` NULL, which is what v1 kept: rows it had not
seen acknowledged), the outbox gets its install id, and `legacy_through` records the
last seq v1 numbered. The readings up to it, and the event and usage rows queued by
v1 (their payloads are final and carry no install), are sent as v1 sent them, with
no install: the cloud may already hold some of them (a PUBACK lost at a crash) under
the old agent's key, and sending them under the new id would store them twice. The
cloud confirms them with an empty install, which the queue accepts for exactly those
rows. A newer schema than this code knows is refused, never downgraded.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from edge.errors import QueueError

DB_NAME = "queue.sqlite3"
SCHEMA_VERSION = 2
WAL_LIMIT_BYTES = 4 * 2**20

_TABLES = """
CREATE TABLE IF NOT EXISTS readings (
    seq INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    vals TEXT NOT NULL,
    lane INTEGER NOT NULL DEFAULT 0,
    sent_at REAL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    seq INTEGER NOT NULL,
    ts REAL NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    lane INTEGER NOT NULL DEFAULT 0,
    sent_at REAL,
    install TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
"""
# Columns v2 added to v1's tables, as ALTER TABLE adds them.
_V2_COLUMNS = (("readings", "sent_at", "REAL"), ("events", "sent_at", "REAL"),
               ("events", "install", "TEXT NOT NULL DEFAULT ''"))
COUNTERS = ("last_seq", "seq_reserved", "readings_sampled", "readings_acked", "events_sampled", "events_acked",
            "dropped", "thinned_through", "usage_sampled", "usage_acked", "readings_confirmed", "events_confirmed",
            "usage_confirmed", "sent_through", "thinned_sent_through", "dropped_unconfirmed", "legacy_through")


def connect(path: Path, synchronous: str) -> sqlite3.Connection:
    """Open (creating or upgrading) the outbox at `path`; `QueueError` if it cannot be used."""
    try:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=10.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
        version = schema_version(conn)
        if version > SCHEMA_VERSION:
            conn.close()
            raise QueueError(f"{path} has queue schema v{version}; this agent knows v{SCHEMA_VERSION} (upgrade it)")
        with conn:
            _create_or_upgrade(conn)
        return conn
    except sqlite3.Error as exc:
        raise QueueError(f"cannot open the outbound queue {path}: {exc}") from exc


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _create_or_upgrade(conn: sqlite3.Connection) -> None:
    """Inside one transaction: tables, missing v2 columns, counters, the install id; then the version."""
    for statement in _TABLES.split(";"):
        if statement.strip():
            conn.execute(statement)
    for table, column, kind in _V2_COLUMNS:
        if column not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    conn.executemany("INSERT OR IGNORE INTO meta (key, value) VALUES (?, 0)",
                     [(c,) for c in (*COUNTERS, "clean_shutdown")])
    # A brand-new queue has nothing to recover: mark it clean so numbering starts at 1.
    if not conn.execute("SELECT 1 FROM meta WHERE key = 'created'").fetchone():
        conn.execute("INSERT INTO meta (key, value) VALUES ('created', 1)")
        conn.execute("UPDATE meta SET value = 1 WHERE key = 'clean_shutdown'")
    if not conn.execute("SELECT 1 FROM meta WHERE key = 'install_id'").fetchone():
        # New (last_seq 0) or upgraded from v1: what v1 numbered goes out as v1 sent it (module docstring).
        conn.execute("UPDATE meta SET value = (SELECT value FROM meta WHERE key = 'last_seq') "
                     "WHERE key = 'legacy_through'")
        conn.execute("INSERT INTO meta (key, value) VALUES ('install_id', ?)", (uuid.uuid4().hex,))
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
