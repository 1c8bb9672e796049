"""The durable outbound queue (outbox): readings and events wait here until the broker has them.

Every reading and event is written here before it is sent, and removed only when
the broker acknowledged it (QoS 1 PUBACK), so a crash, a reboot or a week without
network loses nothing that was sampled. One SQLite file per device state directory.

Durability trade-off: WAL journal with `synchronous=NORMAL`. A commit appends to the
WAL without fsync, which costs microseconds instead of milliseconds (a Pi's SD card
fsyncs in 5-50 ms, and we commit once per reading). A crash of the process loses
nothing (the OS has the pages); a power cut can lose the last commits (up to the
last WAL fsync at checkpoint) but never corrupts the file. What must not roll back
after a power cut is the reading sequence number: a reused `seq` would be taken by
the cloud as a duplicate of a reading it already stored and silently discarded. So
seqs are reserved in blocks of `SEQ_BLOCK` with a fully synced commit, and after an
unclean shutdown numbering resumes above the reserved block (leaving a visible gap,
which is the truth: readings were lost) instead of after the last surviving row.

Schema version 1 already has a `lane` column (0 = normal) on both tables so priority
lanes and disk budgets can be added without migrating rows.

Only one agent may own a state directory: the queue holds an exclusive `flock` on
`agent.lock` while open. `read_stats` reads a queue without owning it (for
`python -m edge status`, whether or not the agent runs).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from contract.clock import Clock, SystemClock
from contract.wire import Event, encode, topic_of
from edge.errors import QueueError

DB_NAME = "queue.sqlite3"
LOCK_NAME = "agent.lock"
SCHEMA_VERSION = 1
SEQ_BLOCK = 1000
LANE_NORMAL = 0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    seq INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    vals TEXT NOT NULL,
    lane INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    seq INTEGER NOT NULL,
    ts REAL NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    lane INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);
"""
_COUNTERS = ("last_seq", "seq_reserved", "readings_sampled", "readings_acked", "events_sampled", "events_acked",
             "dropped")


@dataclass(frozen=True)
class QueuedReading:
    seq: int
    ts: float
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class QueuedEvent:
    """An event as enqueued: its payload is final, so a re-send is byte-identical (same message_id)."""

    row_id: int
    message_id: str
    topic: str
    payload: bytes


@dataclass(frozen=True)
class ReadingsToken:
    """Acknowledges the queued readings with first_seq <= seq <= last_seq (one telemetry batch)."""

    first_seq: int
    last_seq: int


@dataclass(frozen=True)
class EventToken:
    row_id: int


AckToken = ReadingsToken | EventToken


@dataclass(frozen=True)
class QueueStats:
    """Counters are lifetime totals of the state directory, not of one agent run."""

    reading_depth: int
    event_depth: int
    oldest_age_s: float
    readings_sampled: int
    readings_acked: int
    events_sampled: int
    events_acked: int
    dropped: int
    last_seq: int
    model_id: str
    model_version: str

    @property
    def depth(self) -> int:
        return self.reading_depth + self.event_depth


class OutboundQueue:
    """The per-device outbox in `state_dir`; safe to share between the agent's threads."""

    def __init__(self, state_dir: Path | str, *, clock: Clock | None = None) -> None:
        self.state_dir = Path(state_dir)
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._unsaved_dropped = 0
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise QueueError(f"cannot create state directory {self.state_dir}: {exc.strerror}") from exc
        self._lockfile = _acquire_lock(self.state_dir / LOCK_NAME)
        try:
            self._conn = _connect(self.state_dir / DB_NAME)
            with self._translate("open"):
                self._next_seq = self._recover_seq()
        except BaseException:
            self._lockfile.close()
            raise

    @property
    def next_seq(self) -> int:
        """The seq the next reading must carry (monotonic, persisted across restarts)."""
        with self._lock:
            return self._next_seq

    def put_reading(self, seq: int, ts: float, values: Sequence[float | None]) -> None:
        """Store one reading; `seq` must be at least `next_seq`."""
        vals = json.dumps([None if v is None or not math.isfinite(v) else float(v) for v in values])
        with self._lock, self._translate("store a reading"):
            if seq < self._next_seq:
                raise QueueError(f"reading seq {seq} is below the next free seq {self._next_seq}")
            if seq >= self._reserved:
                self._reserve(seq)
            with self._conn:
                self._conn.execute("INSERT INTO readings (seq, ts, vals, lane) VALUES (?, ?, ?, ?)",
                                   (seq, ts, vals, LANE_NORMAL))
                self._conn.execute("UPDATE meta SET value = ? WHERE key = 'last_seq'", (seq,))
                self._bump("readings_sampled", 1)
            self._next_seq = seq + 1

    def put_event(self, event: Event) -> None:
        """Store an event with its final payload; enqueuing the same message_id twice stores it once."""
        with self._lock, self._translate("store an event"), self._conn:
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO events (message_id, seq, ts, topic, payload, lane) VALUES (?, ?, ?, ?, ?, ?)",
                (event.message_id, event.seq, event.ts, topic_of(event), encode(event), LANE_NORMAL),
            )
            self._bump("events_sampled", cur.rowcount)

    def peek_batch(self, max_readings: int, after_seq: int = -1) -> tuple[QueuedReading, ...]:
        """Up to `max_readings` unacknowledged readings with seq > `after_seq`, oldest first."""
        with self._lock, self._translate("read readings"):
            rows = self._conn.execute(
                "SELECT seq, ts, vals FROM readings WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, max_readings)
            ).fetchall()
        return tuple(QueuedReading(seq, ts, tuple(json.loads(vals))) for seq, ts, vals in rows)

    def peek_events(self, max_events: int, after_row: int = 0) -> tuple[QueuedEvent, ...]:
        """Up to `max_events` unacknowledged events enqueued after row `after_row`, oldest first."""
        with self._lock, self._translate("read events"):
            rows = self._conn.execute(
                "SELECT id, message_id, topic, payload FROM events WHERE id > ? ORDER BY id LIMIT ?",
                (after_row, max_events),
            ).fetchall()
        return tuple(QueuedEvent(r, m, t, bytes(p)) for r, m, t, p in rows)

    def ack(self, token: AckToken) -> int:
        """Remove what the broker acknowledged; returns how many rows left (0 for a repeated ack)."""
        with self._lock, self._translate("acknowledge"), self._conn:
            if isinstance(token, ReadingsToken):
                cur = self._conn.execute(
                    "DELETE FROM readings WHERE seq BETWEEN ? AND ?", (token.first_seq, token.last_seq)
                )
                self._bump("readings_acked", cur.rowcount)
            else:
                cur = self._conn.execute("DELETE FROM events WHERE id = ?", (token.row_id,))
                self._bump("events_acked", cur.rowcount)
            return int(cur.rowcount)

    def note_dropped(self, count: int) -> None:
        """Count readings that could not be kept (e.g. the disk is full); never raises."""
        with self._lock:
            self._unsaved_dropped += count
            with contextlib.suppress(sqlite3.Error), self._conn:
                self._bump("dropped", self._unsaved_dropped)
                self._unsaved_dropped = 0

    def set_info(self, **values: str) -> None:
        """Record descriptive values (model id/version, asset kind) for `status` to show."""
        with self._lock, self._translate("record info"), self._conn:
            self._conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [(f"info.{k}", v) for k, v in values.items()],
            )

    def info(self, key: str) -> str | None:
        """A value recorded with `set_info`, or None."""
        with self._lock, self._translate("read info"):
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (f"info.{key}",)).fetchone()
        return None if row is None else str(row[0])

    def stats(self) -> QueueStats:
        with self._lock, self._translate("read stats"):
            stats = _stats(self._conn, self._clock.time())
        if self._unsaved_dropped:
            stats = replace(stats, dropped=stats.dropped + self._unsaved_dropped)
        return stats

    def close(self) -> None:
        """Mark a clean shutdown (numbering resumes exactly) and release the directory."""
        with self._lock:
            try:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("PRAGMA synchronous=FULL")
                    with self._conn:
                        self._conn.execute("UPDATE meta SET value = 1 WHERE key = 'clean_shutdown'")
                self._conn.close()
            finally:
                self._lockfile.close()

    def _recover_seq(self) -> int:
        meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        last_seq, reserved = int(meta["last_seq"]), int(meta["seq_reserved"])
        # After an unclean stop the newest commits may be gone, but never a reserved block.
        next_seq = last_seq + 1 if int(meta["clean_shutdown"]) else max(last_seq, reserved) + 1
        with self._conn:
            self._conn.execute("UPDATE meta SET value = 0 WHERE key = 'clean_shutdown'")
            self._conn.execute("UPDATE meta SET value = ? WHERE key = 'last_seq'", (next_seq - 1,))
        self._reserved = next_seq - 1
        self._reserve(next_seq)
        return next_seq

    def _reserve(self, seq: int) -> None:
        """Persist, fully synced, that seqs up to `seq + SEQ_BLOCK` may be in use."""
        self._reserved = seq + SEQ_BLOCK
        self._conn.execute("PRAGMA synchronous=FULL")
        try:
            with self._conn:
                self._conn.execute("UPDATE meta SET value = ? WHERE key = 'seq_reserved'", (self._reserved,))
        finally:
            self._conn.execute("PRAGMA synchronous=NORMAL")

    def _bump(self, counter: str, by: int) -> None:
        self._conn.execute("UPDATE meta SET value = value + ? WHERE key = ?", (by, counter))

    @contextlib.contextmanager
    def _translate(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise QueueError(f"outbound queue in {self.state_dir}: cannot {doing}: {exc}") from exc


def read_stats(state_dir: Path | str, *, clock: Clock | None = None) -> QueueStats:
    """Read a device's queue without owning it (the agent may be running)."""
    path = Path(state_dir) / DB_NAME
    if not path.exists():
        raise QueueError(f"no queue at {path}: has an agent run with this state directory?")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
        try:
            return _stats(conn, (clock or SystemClock()).time())
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise QueueError(f"cannot read the queue at {path}: {exc}") from exc


def is_locked(state_dir: Path | str) -> bool:
    """True while an agent owns `state_dir`."""
    path = Path(state_dir) / LOCK_NAME
    if not path.exists():
        return False
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _connect(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=10.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            conn.close()
            raise QueueError(f"{path} has queue schema v{version}; this agent knows v{SCHEMA_VERSION} (upgrade it)")
        with conn:
            conn.executescript(_SCHEMA)
            conn.executemany("INSERT OR IGNORE INTO meta (key, value) VALUES (?, 0)",
                             [(c,) for c in (*_COUNTERS, "clean_shutdown")])
            # A brand-new queue has nothing to recover: mark it clean so numbering starts at 1.
            if not conn.execute("SELECT 1 FROM meta WHERE key = 'created'").fetchone():
                conn.execute("INSERT INTO meta (key, value) VALUES ('created', 1)")
                conn.execute("UPDATE meta SET value = 1 WHERE key = 'clean_shutdown'")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return conn
    except sqlite3.Error as exc:
        raise QueueError(f"cannot open the outbound queue {path}: {exc}") from exc


def _acquire_lock(path: Path) -> IO[str]:
    try:
        handle = path.open("a")
    except OSError as exc:
        raise QueueError(f"cannot create {path}: {exc.strerror}") from exc
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise QueueError(
            f"another agent already runs with state directory {path.parent}; stop it or pass another --state-dir"
        ) from None
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _stats(conn: sqlite3.Connection, now: float) -> QueueStats:
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    readings, oldest_reading = conn.execute("SELECT count(*), min(ts) FROM readings").fetchone()
    events, oldest_event = conn.execute("SELECT count(*), min(ts) FROM events").fetchone()
    oldest = min((t for t in (oldest_reading, oldest_event) if t is not None), default=None)
    return QueueStats(
        reading_depth=int(readings),
        event_depth=int(events),
        oldest_age_s=0.0 if oldest is None else max(0.0, now - float(oldest)),
        readings_sampled=int(meta.get("readings_sampled", 0)),
        readings_acked=int(meta.get("readings_acked", 0)),
        events_sampled=int(meta.get("events_sampled", 0)),
        events_acked=int(meta.get("events_acked", 0)),
        dropped=int(meta.get("dropped", 0)),
        last_seq=int(meta.get("last_seq", 0)),
        model_id=str(meta.get("info.model_id", "")),
        model_version=str(meta.get("info.model_version", "")),
    )
