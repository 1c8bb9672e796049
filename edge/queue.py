"""The durable outbound queue (outbox): readings, events and usage wait here until the broker has them.

Every reading and event is written here before it is sent, and removed only when
the broker acknowledged it (QoS 1 PUBACK), so a crash, a reboot or a week without
network loses nothing that was sampled. One SQLite file per device state directory.

Lanes: readings are the `telemetry` lane (0) and may be thinned when the disk
budget is exceeded (`edge.budget`: oldest first, and the count is kept in
`dropped`); rows of the `events` table are the `event` (1) and `usage` (2) lanes
and are never dropped.

Durability (`fsync`, setting `--fsync normal|full`), always a WAL journal:

- `normal` (default): `synchronous=NORMAL`. A commit appends to the WAL without
  fsync, which costs microseconds instead of milliseconds (a Pi's SD card fsyncs
  in 5-50 ms, and we commit once per reading). A crash of the process loses
  nothing (the OS has the pages); a power cut can lose the last commits (those
  since the last WAL fsync, at checkpoint) but never corrupts the file.
- `full`: `synchronous=FULL`. Every commit is fsynced: nothing committed is lost
  even at a power cut, at the price of one fsync per reading (a few hundred
  readings/s at most on an SD card, and its wear).

What must not roll back after a power cut is the reading sequence number: a reused
`seq` would be taken by the cloud as a duplicate of a reading it already stored and
silently discarded. So seqs are reserved in blocks of `SEQ_BLOCK` with a fully
synced commit. After an unclean stop numbering resumes exactly after the last
stored reading when no commit can have been lost (the same boot, so the OS had
every page, or the previous run used `full`), and above the reserved block
otherwise (a reboot after a crash under `normal`), leaving a visible gap, which is
the truth: readings were lost.

The WAL file is capped at `WAL_LIMIT_BYTES` after each checkpoint; the disk budget
(`edge.budget`) counts the database pages in use.

Only one agent may own a state directory: the queue holds an exclusive `flock` on
`agent.lock` while open. `read_stats` reads a queue without owning it (for
`python -m edge status`, whether or not the agent runs).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from contract.clock import Clock, SystemClock
from contract.wire import Event, encode, topic_of
from edge.budget import MIN_BUDGET_BYTES, DiskBudget
from edge.errors import QueueError
from edge.state_lock import acquire_lock, is_locked

__all__ = ["OutboundQueue", "QueueStats", "is_locked", "read_stats"]

log = logging.getLogger("edge.queue")

DB_NAME = "queue.sqlite3"
SCHEMA_VERSION = 1
SEQ_BLOCK = 1000
LANE_TELEMETRY = 0  # raw readings: may be thinned when over the disk budget
LANE_EVENT = 1  # anomaly / RUL events: never dropped
LANE_USAGE = 2  # usage counters (billing): never dropped
FSYNC_MODES = {"normal": "NORMAL", "full": "FULL"}
WAL_LIMIT_BYTES = 4 * 2**20

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
             "dropped", "thinned_through", "usage_sampled", "usage_acked")


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
    """Acknowledges one row of the events table; `lane` says which lifetime counter it adds to."""

    row_id: int
    lane: int = LANE_EVENT


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
    used_bytes: int = 0

    @property
    def depth(self) -> int:
        return self.reading_depth + self.event_depth


class OutboundQueue:
    """The per-device outbox in `state_dir`; safe to share between the agent's threads."""

    def __init__(
        self, state_dir: Path | str, *, clock: Clock | None = None, max_bytes: int | None = None,
        fsync: str = "normal",
    ) -> None:
        """`max_bytes`: the disk budget (None: unbounded); `fsync`: `normal` or `full` (module docstring)."""
        if fsync not in FSYNC_MODES:
            raise QueueError(f"fsync must be one of {', '.join(FSYNC_MODES)}, got {fsync!r}")
        if max_bytes is not None and max_bytes < MIN_BUDGET_BYTES:
            raise QueueError(f"a disk budget below {MIN_BUDGET_BYTES} bytes cannot hold the queue, got {max_bytes}")
        self.state_dir = Path(state_dir)
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._unsaved_dropped = 0
        self._synchronous = FSYNC_MODES[fsync]
        self._budget = None if max_bytes is None else DiskBudget(max_bytes)
        self._handed_through = 0  # readings up to here are in flight: the budget leaves them alone
        self._over_budget_logged = False
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise QueueError(f"cannot create state directory {self.state_dir}: {exc.strerror}") from exc
        self._lockfile = acquire_lock(self.state_dir)
        try:
            self._conn = _connect(self.state_dir / DB_NAME, self._synchronous)
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
                                   (seq, ts, vals, LANE_TELEMETRY))
                self._conn.execute("UPDATE meta SET value = ? WHERE key = 'last_seq'", (seq,))
                self._bump("readings_sampled", 1)
                self._keep_budget(seq, len(vals))
            self._next_seq = seq + 1

    def put_event(self, event: Event) -> None:
        """Store an event (lane `event`) with its final payload; the same message_id twice is stored once."""
        self.put_message(topic_of(event), encode(event), message_id=event.message_id, seq=event.seq, ts=event.ts,
                         lane=LANE_EVENT)

    def put_message(self, topic: str, payload: bytes, *, message_id: str, seq: int, ts: float, lane: int) -> None:
        """Store an encoded message of a never-dropped lane (`LANE_EVENT`, `LANE_USAGE`), sent byte for byte."""
        if lane not in (LANE_EVENT, LANE_USAGE):
            raise QueueError(f"lane {lane} is not a message lane (event={LANE_EVENT}, usage={LANE_USAGE})")
        with self._lock, self._translate("store a message"), self._conn:
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO events (message_id, seq, ts, topic, payload, lane) VALUES (?, ?, ?, ?, ?, ?)",
                (message_id, seq, ts, topic, payload, lane),
            )
            self._bump("events_sampled" if lane == LANE_EVENT else "usage_sampled", cur.rowcount)
            self._keep_budget(self._next_seq - 1, len(payload) + len(topic))

    def note_handed(self, last_seq: int) -> None:
        """The publisher handed readings up to `last_seq` to the link: the budget must not drop them now."""
        with self._lock:
            self._handed_through = max(self._handed_through, last_seq)

    def peek_batch(self, max_readings: int, after_seq: int = -1) -> tuple[QueuedReading, ...]:
        """Up to `max_readings` unacknowledged readings with seq > `after_seq`, oldest first."""
        with self._lock, self._translate("read readings"):
            rows = self._conn.execute(
                "SELECT seq, ts, vals FROM readings WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, max_readings)
            ).fetchall()
        return tuple(QueuedReading(seq, ts, tuple(json.loads(vals))) for seq, ts, vals in rows)

    def peek_events(self, max_events: int, after_row: int = 0, lane: int | None = None) -> tuple[QueuedEvent, ...]:
        """Up to `max_events` unacknowledged messages (of `lane`, else any) after row `after_row`, oldest first."""
        with self._lock, self._translate("read events"):
            rows = self._conn.execute(
                "SELECT id, message_id, topic, payload FROM events WHERE id > ? AND (? IS NULL OR lane = ?) "
                "ORDER BY id LIMIT ?",
                (after_row, lane, lane, max_events),
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
                self._bump("events_acked" if token.lane == LANE_EVENT else "usage_acked", cur.rowcount)
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

    def _keep_budget(self, newest_seq: int, wrote: int) -> None:
        """Inside the writing transaction: shed telemetry while over budget (module `edge.budget`)."""
        if self._budget is None:
            return
        dropped = self._budget.enforce(self._conn, floor_seq=self._handed_through, newest_seq=newest_seq,
                                       wrote=wrote)
        if dropped:
            self._bump("dropped", dropped)
            log.warning("event=telemetry_thinned dropped=%d budget_bytes=%d", dropped, self._budget.max_bytes)
        over = self._budget.exceeded
        if over and not self._over_budget_logged:
            log.error("event=over_budget detail=%r budget_bytes=%d", "only events, usage and in-flight readings "
                      "are left; they are kept", self._budget.max_bytes)
        self._over_budget_logged = over

    def _recover_seq(self) -> int:
        meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        last_seq, reserved = int(meta["last_seq"]), int(meta["seq_reserved"])
        boot = _boot_id()
        # An unclean stop lost no commit if the OS kept its pages (same boot) or every commit was
        # fsynced (FULL); otherwise the newest commits may be gone, but never a reserved block.
        exact = (int(meta["clean_shutdown"]) or (boot and meta.get("boot_id") == boot)
                 or meta.get("synchronous") == "FULL")
        next_seq = last_seq + 1 if exact else max(last_seq, reserved) + 1
        with self._conn:
            self._conn.execute("UPDATE meta SET value = 0 WHERE key = 'clean_shutdown'")
            self._conn.execute("UPDATE meta SET value = ? WHERE key = 'last_seq'", (next_seq - 1,))
            self._conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [("boot_id", boot), ("synchronous", self._synchronous)],
            )
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
            self._conn.execute(f"PRAGMA synchronous={self._synchronous}")

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


def _boot_id() -> str:
    """This boot's id (Linux); "" where unknown, which never counts as the same boot."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=10.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
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
        used_bytes=DiskBudget(0).used_bytes(conn),
    )
