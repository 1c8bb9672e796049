"""What an outbox holds and has done, read from its file: for the agent, its heartbeat and `edge status`.

Counters are lifetime totals of the state directory. A reading ends in exactly one
of: kept (`reading_depth`, pending or sent-unconfirmed), confirmed by the cloud
(`readings_confirmed`) or dropped over the disk budget (`dropped`), so
`readings_sampled == readings_confirmed + reading_depth + dropped` (a reading whose
write failed counts in `dropped` without having been sampled).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from contract.clock import Clock, SystemClock
from edge.budget import DiskBudget
from edge.errors import QueueError
from edge.queue_schema import DB_NAME, schema_version


@dataclass(frozen=True)
class QueueStats:
    """Counters are lifetime totals of the state directory, not of one agent run.

    `reading_depth` / `event_depth` count every row kept (pending or sent); the
    `*_unconfirmed` depths those of them the broker acknowledged and the cloud has
    not confirmed yet. `oldest_age_s` is the age of the oldest row kept.
    """

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
    reading_unconfirmed: int = 0
    event_unconfirmed: int = 0
    readings_confirmed: int = 0
    events_confirmed: int = 0
    usage_confirmed: int = 0
    dropped_unconfirmed: int = 0
    install_id: str = ""

    @property
    def depth(self) -> int:
        return self.reading_depth + self.event_depth

    @property
    def unconfirmed_depth(self) -> int:
        return self.reading_unconfirmed + self.event_unconfirmed


def read_stats(state_dir: Path | str, *, clock: Clock | None = None) -> QueueStats:
    """Read a device's queue without owning it (the agent may be running)."""
    path = Path(state_dir) / DB_NAME
    if not path.exists():
        raise QueueError(f"no queue at {path}: has an agent run with this state directory?")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
        try:
            return queue_stats(conn, (clock or SystemClock()).time())
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise QueueError(f"cannot read the queue at {path}: {exc}") from exc


def queue_stats(conn: sqlite3.Connection, now: float) -> QueueStats:
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    # A v1 outbox (read before a new agent upgraded it) has no sent_at: nothing is sent-unconfirmed there.
    sent = "count(sent_at)" if schema_version(conn) >= 2 else "0"
    readings, oldest_reading, reading_sent = conn.execute(f"SELECT count(*), min(ts), {sent} FROM readings").fetchone()
    events, oldest_event, event_sent = conn.execute(f"SELECT count(*), min(ts), {sent} FROM events").fetchone()
    oldest = min((t for t in (oldest_reading, oldest_event) if t is not None), default=None)

    def counter(key: str) -> int:
        return int(meta.get(key, 0))

    return QueueStats(
        reading_depth=int(readings),
        event_depth=int(events),
        oldest_age_s=0.0 if oldest is None else max(0.0, now - float(oldest)),
        readings_sampled=counter("readings_sampled"),
        readings_acked=counter("readings_acked"),
        events_sampled=counter("events_sampled"),
        events_acked=counter("events_acked"),
        dropped=counter("dropped"),
        last_seq=counter("last_seq"),
        model_id=str(meta.get("info.model_id", "")),
        model_version=str(meta.get("info.model_version", "")),
        used_bytes=DiskBudget(0).used_bytes(conn),
        reading_unconfirmed=int(reading_sent),
        event_unconfirmed=int(event_sent),
        readings_confirmed=counter("readings_confirmed"),
        events_confirmed=counter("events_confirmed"),
        usage_confirmed=counter("usage_confirmed"),
        dropped_unconfirmed=counter("dropped_unconfirmed"),
        install_id=str(meta.get("install_id", "")),
    )
