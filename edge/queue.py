"""The durable outbound queue (outbox): readings, events and usage wait here until the cloud has them.

Every reading and event is written here before it is sent, and removed only when
the cloud confirmed it has stored it (`contract.confirm.Confirm`), so a crash, a
reboot, a week without network or a broker that loses what it acknowledged loses
nothing that was sampled. One SQLite file per device state directory.

A row's states: *pending* (`sent_at` NULL: not acknowledged by the broker yet, in
flight or not handed to the link), *sent* (the broker's QoS 1 PUBACK arrived:
`sent_at` is when it first did, counted in `readings_acked` / `events_acked` /
`usage_acked`), then *confirmed*: the cloud's Confirm for this outbox's install
names it, and it leaves the queue (counted in `readings_confirmed`, …). The PUBACK
is not storage: a broker can lose what it acknowledged (a crash before its
autosave, a lost session), so only the cloud's word removes a row. Sent rows the
cloud does not confirm in time are sent again (`edge.resend`, `edge.publisher`).

Install id: every outbox has a random `install_id` (`edge.queue_schema`) that goes
with each reading, event and usage report, so the cloud keys them by (device,
install, seq): a device whose state directory is lost starts a new outbox, a new
install, and its seqs again from 1 without being taken for duplicates. A Confirm of
another install changes nothing.

Lanes: readings are the `telemetry` lane (0) and may be thinned when the disk
budget is exceeded (`edge.budget`: unsent first, then sent-unconfirmed, oldest
first, and the count is kept in `dropped`); rows of the `events` table are the
`event` (1) and `usage` (2) lanes and are never dropped.

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

The WAL file is capped at `edge.queue_schema.WAL_LIMIT_BYTES` after each checkpoint; the disk budget
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
from contract.wire import Confirm, Event, Usage, encode, topic_of
from edge.budget import MIN_BUDGET_BYTES, DiskBudget
from edge.errors import QueueError
from edge.queue_schema import DB_NAME, connect
from edge.queue_stats import QueueStats, queue_stats, read_stats
from edge.state_lock import acquire_lock, is_locked

__all__ = ["DB_NAME", "OutboundQueue", "QueueStats", "is_locked", "read_stats"]

log = logging.getLogger("edge.queue")

SEQ_BLOCK = 1000
LANE_TELEMETRY = 0  # raw readings: may be thinned when over the disk budget
LANE_EVENT = 1  # anomaly / RUL events: never dropped
LANE_USAGE = 2  # usage counters (billing): never dropped
FSYNC_MODES = {"normal": "NORMAL", "full": "FULL"}
_LANE_COUNTERS = {LANE_EVENT: ("events_acked", "events_confirmed"), LANE_USAGE: ("usage_acked", "usage_confirmed")}


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
    """Marks the queued readings with first_seq <= seq <= last_seq sent (one telemetry batch's PUBACK)."""

    first_seq: int
    last_seq: int


@dataclass(frozen=True)
class EventToken:
    """Marks one row of the events table sent; `lane` says which lifetime counter it adds to."""

    row_id: int
    lane: int = LANE_EVENT


AckToken = ReadingsToken | EventToken


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
        self._handed_through = 0  # readings up to here were handed to the link in this run
        self._over_budget_logged = False
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise QueueError(f"cannot create state directory {self.state_dir}: {exc.strerror}") from exc
        self._lockfile = acquire_lock(self.state_dir)
        try:
            self._conn = connect(self.state_dir / DB_NAME, self._synchronous)
            with self._translate("open"):
                self._next_seq = self._recover_seq()
                meta = dict(self._conn.execute(
                    "SELECT key, value FROM meta WHERE key IN ('install_id', 'legacy_through')").fetchall())
        except BaseException:
            self._lockfile.close()
            raise
        self.install_id = str(meta["install_id"])
        self.legacy_through = int(meta["legacy_through"])  # readings up to here go out without install (v1's)

    @property
    def next_seq(self) -> int:
        """The seq the next reading must carry (monotonic, persisted across restarts)."""
        with self._lock:
            return self._next_seq

    def install_of(self, seq: int) -> str:
        """The install a reading is sent with: "" for what a v1 outbox numbered (`edge.queue_schema`)."""
        return "" if seq <= self.legacy_through else self.install_id

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
        """Store an event (lane `event`) stamped with this install; the same message_id twice is stored once."""
        event = replace(event, install=self.install_id)
        self.put_message(topic_of(event), encode(event), message_id=event.message_id, seq=event.seq, ts=event.ts,
                         lane=LANE_EVENT)

    def put_usage(self, usage: Usage) -> None:
        """Store a usage report (lane `usage`), stamped with this outbox's install."""
        usage = replace(usage, install=self.install_id)
        self.put_message(topic_of(usage), encode(usage), message_id=usage.message_id, seq=usage.seq, ts=usage.ts,
                         lane=LANE_USAGE)

    def put_message(self, topic: str, payload: bytes, *, message_id: str, seq: int, ts: float, lane: int) -> None:
        """Store an encoded message of a never-dropped lane (`LANE_EVENT`, `LANE_USAGE`), sent byte for byte.

        The payload should carry this outbox's `install_id` (`put_event` and `put_usage` see to it): a
        Confirm is matched to the row by message id and this install.
        """
        if lane not in (LANE_EVENT, LANE_USAGE):
            raise QueueError(f"lane {lane} is not a message lane (event={LANE_EVENT}, usage={LANE_USAGE})")
        with self._lock, self._translate("store a message"), self._conn:
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO events (message_id, seq, ts, topic, payload, lane, install) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (message_id, seq, ts, topic, payload, lane, self.install_id),
            )
            self._bump("events_sampled" if lane == LANE_EVENT else "usage_sampled", cur.rowcount)
            self._keep_budget(self._next_seq - 1, len(payload) + len(topic))

    def note_handed(self, last_seq: int) -> None:
        """The publisher handed readings up to `last_seq` to the link: the budget must not drop them now."""
        with self._lock:
            self._handed_through = max(self._handed_through, last_seq)

    def peek_batch(self, max_readings: int, after_seq: int = -1, through_seq: int | None = None, *,
                   hand: bool = False) -> tuple[QueuedReading, ...]:
        """Up to `max_readings` readings kept with `after_seq` < seq (<= `through_seq`), oldest first.

        `hand`: they are about to be handed to the link, so the budget leaves them alone from
        now on (in the same locked step: a reading shed in between would be sent and counted dropped).
        """
        last = 2**63 - 1 if through_seq is None else through_seq
        with self._lock, self._translate("read readings"):
            rows = self._conn.execute(
                "SELECT seq, ts, vals FROM readings WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                (after_seq, last, max_readings),
            ).fetchall()
            if hand and rows:
                self._handed_through = max(self._handed_through, int(rows[-1][0]))
        return tuple(QueuedReading(seq, ts, tuple(json.loads(vals))) for seq, ts, vals in rows)

    def peek_events(self, max_events: int, after_row: int = 0, lane: int | None = None) -> tuple[QueuedEvent, ...]:
        """Up to `max_events` messages kept (of `lane`, else any) after row `after_row`, oldest first."""
        with self._lock, self._translate("read events"):
            rows = self._conn.execute(
                "SELECT id, message_id, topic, payload FROM events WHERE id > ? AND (? IS NULL OR lane = ?) "
                "ORDER BY id LIMIT ?",
                (after_row, lane, lane, max_events),
            ).fetchall()
        return tuple(QueuedEvent(r, m, t, bytes(p)) for r, m, t, p in rows)

    def ack(self, token: AckToken) -> int:
        """Mark what the broker acknowledged as sent; returns how many rows were sent for the first time."""
        now = self._clock.time()
        with self._lock, self._translate("acknowledge"), self._conn:
            if isinstance(token, ReadingsToken):
                cur = self._conn.execute(
                    "UPDATE readings SET sent_at = ? WHERE seq BETWEEN ? AND ? AND sent_at IS NULL",
                    (now, token.first_seq, token.last_seq),
                )
                if cur.rowcount:
                    self._bump("readings_acked", cur.rowcount)
                    self._conn.execute("UPDATE meta SET value = max(value, ?) WHERE key = 'sent_through'",
                                       (token.last_seq,))
            else:
                cur = self._conn.execute("UPDATE events SET sent_at = ? WHERE id = ? AND sent_at IS NULL",
                                         (now, token.row_id))
                self._bump(_LANE_COUNTERS.get(token.lane, _LANE_COUNTERS[LANE_EVENT])[0], cur.rowcount)
            return int(cur.rowcount)

    def confirm(self, confirm: Confirm) -> int | None:
        """Remove the rows the cloud confirmed; how many left, or None for a Confirm of another install.

        A row leaves only if it was sent with the Confirm's install (`install_of`): this
        outbox's id, or "" for what a v1 outbox queued. A confirmed row the broker's
        PUBACK had not marked yet (the PUBACK was lost) counts as acknowledged too.
        """
        if confirm.install == self.install_id:
            seqs, install = (self.legacy_through + 1, 2**63 - 1), self.install_id
        elif confirm.install == "" and self.legacy_through > 0:
            seqs, install = (0, self.legacy_through), ""
        else:
            return None
        removed = 0
        with self._lock, self._translate("confirm"), self._conn:
            for first, last in confirm.readings:
                bounds = (max(first, seqs[0]), min(last, seqs[1]))
                if bounds[0] > bounds[1]:
                    continue
                (unmarked,) = self._conn.execute(
                    "SELECT count(*) FROM readings WHERE seq BETWEEN ? AND ? AND sent_at IS NULL", bounds).fetchone()
                cur = self._conn.execute("DELETE FROM readings WHERE seq BETWEEN ? AND ?", bounds)
                self._bump("readings_acked", int(unmarked))
                self._bump("readings_confirmed", cur.rowcount)
                removed += cur.rowcount
            ids = [*confirm.events, *confirm.usage]
            for start in range(0, len(ids), 500):  # within SQLite's bound on query parameters
                chunk = ids[start:start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(
                    f"SELECT id, lane, sent_at FROM events WHERE install = ? AND message_id IN ({marks})",
                    (install, *chunk)).fetchall()
                for row_id, lane, sent_at in rows:
                    acked, confirmed = _LANE_COUNTERS.get(lane, _LANE_COUNTERS[LANE_EVENT])
                    self._conn.execute("DELETE FROM events WHERE id = ?", (row_id,))
                    self._bump(confirmed, 1)
                    if sent_at is None:
                        self._bump(acked, 1)
                removed += len(rows)
        return removed

    def peek_sent(self, token: AckToken) -> tuple[QueuedReading, ...] | QueuedEvent | None:
        """What of a sent token is still kept (not confirmed), for a re-send; None (or ()) when nothing is."""
        with self._lock, self._translate("read sent rows"):
            if isinstance(token, ReadingsToken):
                rows = self._conn.execute(
                    "SELECT seq, ts, vals FROM readings WHERE seq BETWEEN ? AND ? ORDER BY seq",
                    (token.first_seq, token.last_seq)).fetchall()
                return tuple(QueuedReading(seq, ts, tuple(json.loads(vals))) for seq, ts, vals in rows)
            row = self._conn.execute("SELECT id, message_id, topic, payload FROM events WHERE id = ?",
                                     (token.row_id,)).fetchone()
        return None if row is None else QueuedEvent(row[0], row[1], row[2], bytes(row[3]))

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
            stats = queue_stats(self._conn, self._clock.time())
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
        shed = self._budget.enforce(self._conn, handed_through=self._handed_through, newest_seq=newest_seq,
                                    wrote=wrote)
        if shed.total:
            self._bump("dropped", shed.total)
            self._bump("dropped_unconfirmed", shed.sent)
            log.warning("event=telemetry_thinned dropped=%d sent_unconfirmed=%d budget_bytes=%d", shed.total,
                        shed.sent, self._budget.max_bytes)
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
        if by:
            self._conn.execute("UPDATE meta SET value = value + ? WHERE key = ?", (by, counter))

    @contextlib.contextmanager
    def _translate(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise QueueError(f"outbound queue in {self.state_dir}: cannot {doing}: {exc}") from exc


def _boot_id() -> str:
    """This boot's id (Linux); "" where unknown, which never counts as the same boot."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""
