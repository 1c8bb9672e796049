"""An outbox written by the v1 agent (rows deleted at PUBACK, no install id) is upgraded in place at open."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import cast

from test_edge_resend import FakeLink

from contract.channels import PUMP_CHANNELS
from contract.clock import ManualClock
from contract.wire import Confirm, Event, EventKind, ModelRef, TelemetryBatch, Usage, decode, encode, topic_of
from edge.link import MqttLink
from edge.publisher import Publisher
from edge.queue import DB_NAME, LANE_EVENT, LANE_USAGE, OutboundQueue, read_stats
from edge.resend import Resends
from edge.status import status_report

T0 = 1_800_000_000.0
VALUES = (0.2, 0.29, 2.2, 1.2, 89.0, 29.0, 232.0, 122.0)

# The schema and counters exactly as the v1 agent (git 34e68a9, edge/queue.py) wrote them.
V1_SCHEMA = """
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
V1_COUNTERS = ("last_seq", "seq_reserved", "readings_sampled", "readings_acked", "events_sampled", "events_acked",
               "dropped", "thinned_through", "usage_sampled", "usage_acked")


def v1_outbox(state_dir: Path) -> tuple[Event, Usage]:
    """A v1 outbox after a stop: 5 readings sampled, 1-2 acknowledged (deleted); 3-5, an event, a usage report left."""
    event = Event(tenant="demo", device_id="pump-001", seq=4, ts=T0 + 4, kind=EventKind.ANOMALY, score=9.0,
                  threshold=4.0, is_anomaly=True, contributions={"pressure": 7.0}, model=ModelRef("m", "1"),
                  window_start=T0, window_end=T0 + 4, window_samples=4)
    usage = Usage(tenant="demo", device_id="pump-001", seq=1, ts=T0 + 5, period_start=T0, period_end=T0 + 5,
                  counters={"operating_hours": 0.1}, units={"operating_hours": "h"})
    state_dir.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(state_dir / DB_NAME) as conn:
        conn.executescript(V1_SCHEMA)
        conn.executemany("INSERT INTO meta (key, value) VALUES (?, 0)",
                         [(c,) for c in (*V1_COUNTERS, "clean_shutdown")])
        conn.executemany("UPDATE meta SET value = ? WHERE key = ?", [
            (5, "last_seq"), (1001, "seq_reserved"), (5, "readings_sampled"), (2, "readings_acked"),
            (1, "events_sampled"), (1, "usage_sampled"), (1, "clean_shutdown")])
        conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                         [("created", 1), ("synchronous", "NORMAL"), ("info.model_version", "1.0.0")])
        conn.executemany("INSERT INTO readings (seq, ts, vals, lane) VALUES (?, ?, '[1.0]', 0)",
                         [(seq, T0 + seq) for seq in (3, 4, 5)])
        conn.executemany("INSERT INTO events (message_id, seq, ts, topic, payload, lane) VALUES (?, ?, ?, ?, ?, ?)", [
            (event.message_id, event.seq, event.ts, topic_of(event), encode(event), LANE_EVENT),
            (usage.message_id, usage.seq, usage.ts, topic_of(usage), encode(usage), LANE_USAGE)])
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    return event, usage


def test_a_v1_outbox_keeps_its_rows_and_gets_an_install_id(tmp_path: Path) -> None:
    event, usage = v1_outbox(tmp_path)
    before = read_stats(tmp_path)  # `edge status` reads a v1 outbox as it is, before any new agent opened it
    assert (before.reading_depth, before.event_depth, before.install_id, before.unconfirmed_depth) == (3, 2, "", 0)
    queue = OutboundQueue(tmp_path)
    install = queue.install_id
    assert len(install) == 32 and install != ""
    assert (queue.next_seq, queue.legacy_through) == (6, 5)
    assert [r.seq for r in queue.peek_batch(10)] == [3, 4, 5]
    assert [(e.message_id, e.payload) for e in queue.peek_events(10)] == [
        (event.message_id, encode(event)), (usage.message_id, encode(usage))]  # byte for byte
    stats = queue.stats()
    assert (stats.readings_sampled, stats.readings_acked, stats.readings_confirmed) == (5, 2, 0)
    assert (stats.model_version, stats.install_id) == ("1.0.0", install)
    queue.close()
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        assert "sent_at" in {row[1] for row in conn.execute("PRAGMA table_info(readings)")}
    conn.close()
    again = OutboundQueue(tmp_path)  # upgraded once: the id stays
    assert (again.install_id, again.legacy_through) == (install, 5)
    again.close()
    assert status_report("pump-001", tmp_path)["install_id"] == install


def test_what_v1_numbered_goes_out_without_install_and_is_confirmed_as_such(tmp_path: Path) -> None:
    event, usage = v1_outbox(tmp_path)
    clock = ManualClock(T0)
    queue = OutboundQueue(tmp_path, clock=clock)
    queue.put_reading(queue.next_seq, T0 + 6, VALUES[:1])
    queue.put_reading(queue.next_seq, T0 + 7, VALUES[:1])
    link = FakeLink()
    publisher = Publisher(queue, cast(MqttLink, link), tenant="demo", device_id="pump-001",
                          channels=PUMP_CHANNELS[:1], batch_max=10, clock=clock, resends=Resends(60.0, clock))
    publisher.drain()
    sent = [decode(topic, payload) for topic, payload, _ in link.sent]
    batches = [m for m in sent if isinstance(m, TelemetryBatch)]
    # The v1 rows alone and without install (the cloud may hold them under the old key), then the new ones.
    assert [([r.seq for r in b.readings], b.install) for b in batches] == [([3, 4, 5], ""), ([6, 7], queue.install_id)]
    assert [m.install for m in sent if isinstance(m, Event | Usage)] == ["", ""]
    new = Confirm(tenant="demo", device_id="pump-001", ts=T0, install=queue.install_id, readings=((1, 10),),
                  events=(event.message_id,))
    assert queue.confirm(new) == 2  # only 6-7: the event and 3-5 went out under no install
    legacy = Confirm(tenant="demo", device_id="pump-001", ts=T0, install="", readings=((1, 10),),
                     events=(event.message_id,), usage=(usage.message_id,))
    assert queue.confirm(legacy) == 5
    stats = queue.stats()
    assert (stats.depth, stats.readings_confirmed, stats.events_confirmed, stats.usage_confirmed) == (0, 5, 1, 1)
    assert stats.readings_sampled == 2 + stats.readings_confirmed + stats.dropped  # 1-2 left at v1's PUBACK
    queue.close()


def test_a_lost_state_directory_starts_a_new_install_numbered_from_1(tmp_path: Path) -> None:
    first = OutboundQueue(tmp_path / "a")
    first.put_reading(first.next_seq, T0, VALUES)
    first.close()
    second = OutboundQueue(tmp_path / "b")  # the same device, its state directory gone
    assert second.install_id != first.install_id and second.next_seq == 1 and second.legacy_through == 0
    second.close()
