"""The durable outbox: survives reopening, removes only what the cloud confirmed, keeps seq monotonic."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from contract.clock import ManualClock
from contract.wire import Confirm, Event, EventKind, ModelRef, decode
from edge.errors import QueueError
from edge.queue import (
    DB_NAME,
    SEQ_BLOCK,
    EventToken,
    OutboundQueue,
    ReadingsToken,
    is_locked,
    read_stats,
)

T0 = 1_800_000_000.0


def event(seq: int) -> Event:
    return Event(
        tenant="demo", device_id="pump-001", seq=seq, ts=T0 + seq, kind=EventKind.ANOMALY, score=9.0,
        threshold=4.0, is_anomaly=True, contributions={"pressure": 7.0}, model=ModelRef("m", "1"),
        window_start=T0, window_end=T0 + seq, window_samples=10,
    )


def confirm(queue: OutboundQueue, **rows: Any) -> Confirm:
    """The cloud's confirmation of `rows` for this queue's install."""
    return Confirm(tenant="demo", device_id="pump-001", ts=T0, install=queue.install_id, **rows)


def fill(queue: OutboundQueue, count: int) -> list[int]:
    seqs = []
    for _ in range(count):
        seq = queue.next_seq
        queue.put_reading(seq, T0 + seq, (float(seq), None))
        seqs.append(seq)
    return seqs


def test_readings_survive_close_and_reopen(tmp_path: Path) -> None:
    queue = OutboundQueue(tmp_path)
    assert fill(queue, 3) == [1, 2, 3]
    queue.close()
    queue = OutboundQueue(tmp_path)
    batch = queue.peek_batch(10)
    assert [r.seq for r in batch] == [1, 2, 3]
    assert batch[0].values == (1.0, None) and batch[0].ts == T0 + 1
    queue.close()


def test_seq_continues_after_a_clean_restart(tmp_path: Path) -> None:
    queue = OutboundQueue(tmp_path)
    fill(queue, 5)
    queue.ack(ReadingsToken(1, 5))
    queue.close()
    queue = OutboundQueue(tmp_path)
    assert queue.next_seq == 6
    queue.close()


def crash(queue: OutboundQueue) -> None:
    """The process dies without close() (the lock goes with the process)."""
    queue._conn.close()
    queue._lockfile.close()


def pretend_reboot(state_dir: Path) -> None:
    with sqlite3.connect(state_dir / DB_NAME) as conn:
        conn.execute("UPDATE meta SET value = 'another-boot' WHERE key = 'boot_id'")


def test_after_a_process_crash_numbering_resumes_exactly(tmp_path: Path) -> None:
    queue = OutboundQueue(tmp_path)
    fill(queue, 3)
    crash(queue)
    # Same boot: the OS kept every committed page, so no seq can have been lost.
    queue = OutboundQueue(tmp_path)
    assert queue.next_seq == 4
    queue.close()


def test_after_a_crash_and_reboot_numbering_resumes_above_the_reserved_block(tmp_path: Path) -> None:
    queue = OutboundQueue(tmp_path)
    fill(queue, 3)
    crash(queue)
    pretend_reboot(tmp_path)
    queue = OutboundQueue(tmp_path)
    # Seqs 1..1+SEQ_BLOCK were reserved (fully synced) at open: none of them is ever reused.
    assert queue.next_seq == 1 + SEQ_BLOCK + 1
    assert [r.seq for r in queue.peek_batch(10)] == [1, 2, 3]
    queue.close()


def test_with_fsync_full_a_reboot_loses_nothing_so_numbering_resumes_exactly(tmp_path: Path) -> None:
    queue = OutboundQueue(tmp_path, fsync="full")
    fill(queue, 3)
    crash(queue)
    pretend_reboot(tmp_path)
    queue = OutboundQueue(tmp_path)
    assert queue.next_seq == 4
    queue.close()
    with pytest.raises(QueueError, match="fsync must be one of normal, full"):
        OutboundQueue(tmp_path, fsync="sometimes")


def test_a_puback_only_marks_readings_sent_and_a_confirm_removes_them(tmp_path: Path) -> None:
    queue = OutboundQueue(tmp_path)
    fill(queue, 6)
    assert queue.ack(ReadingsToken(1, 3)) == 3
    assert queue.ack(ReadingsToken(1, 3)) == 0  # a repeated PUBACK (a re-send's) counts nothing twice
    assert [r.seq for r in queue.peek_batch(10)] == [1, 2, 3, 4, 5, 6]  # the broker's word is not storage
    stats = queue.stats()
    assert (stats.readings_acked, stats.reading_depth, stats.reading_unconfirmed) == (3, 6, 3)
    assert queue.confirm(confirm(queue, readings=((1, 2),))) == 2
    assert queue.confirm(confirm(queue, readings=((1, 2),))) == 0  # a repeated Confirm changes nothing
    assert [r.seq for r in queue.peek_batch(10)] == [3, 4, 5, 6]
    assert [r.seq for r in queue.peek_batch(2, after_seq=4)] == [5, 6]
    stats = queue.stats()
    assert (stats.readings_sampled, stats.readings_acked, stats.readings_confirmed) == (6, 3, 2)
    assert (stats.reading_depth, stats.reading_unconfirmed) == (4, 1)
    # The cloud has 4..5 although their PUBACK never came (lost with a connection): they leave, counted as acked.
    assert queue.confirm(confirm(queue, readings=((4, 5),))) == 2
    stats = queue.stats()
    assert (stats.readings_acked, stats.readings_confirmed, stats.reading_depth) == (5, 4, 2)
    assert stats.readings_sampled == stats.readings_confirmed + stats.reading_depth + stats.dropped
    queue.close()


def test_a_confirm_of_another_install_changes_nothing(tmp_path: Path) -> None:
    queue = OutboundQueue(tmp_path)
    fill(queue, 3)
    queue.put_event(event(1))
    (queued,) = queue.peek_events(10)
    queue.ack(ReadingsToken(1, 3))
    other = Confirm(tenant="demo", device_id="pump-001", ts=T0, install="another-install", readings=((1, 3),),
                    events=(queued.message_id,))
    assert queue.confirm(other) is None
    legacy = replace(other, install="")  # "" is a v1 outbox's install: this one never had one
    assert queue.confirm(legacy) is None
    stats = queue.stats()
    assert (stats.reading_depth, stats.event_depth, stats.readings_confirmed) == (3, 1, 0)
    queue.close()


def test_a_seq_below_the_next_free_one_is_refused(tmp_path: Path) -> None:
    queue = OutboundQueue(tmp_path)
    fill(queue, 2)
    with pytest.raises(QueueError, match="below the next free seq"):
        queue.put_reading(2, T0, (1.0, 2.0))
    queue.close()


def test_events_keep_their_message_id_and_bytes(tmp_path: Path) -> None:
    queue = OutboundQueue(tmp_path)
    ev = event(7)
    queue.put_event(ev)
    queue.put_event(ev)  # enqueued twice (e.g. a retry): stored once
    queue.close()
    queue = OutboundQueue(tmp_path)
    (queued,) = queue.peek_events(10)
    assert queued.message_id == ev.message_id
    assert queued.topic == "paas/v1/demo/pump-001/events"
    assert decode(queued.topic, queued.payload) == replace(ev, install=queue.install_id)  # stamped at enqueue
    assert queue.ack(EventToken(queued.row_id)) == 1
    assert queue.peek_events(10) == (queued,)  # sent, kept until confirmed
    assert queue.confirm(confirm(queue, events=(ev.message_id,))) == 1
    assert queue.peek_events(10) == ()
    stats = queue.stats()
    assert (stats.events_sampled, stats.events_acked, stats.events_confirmed, stats.event_depth) == (1, 1, 1, 0)
    queue.close()


def test_stats_report_depth_and_the_oldest_unsent_age(tmp_path: Path) -> None:
    clock = ManualClock(start=T0)
    queue = OutboundQueue(tmp_path, clock=clock)
    queue.put_reading(queue.next_seq, T0, (1.0, 2.0))
    queue.put_event(event(1))
    clock.advance(30)
    stats = queue.stats()
    assert stats.depth == 2
    assert stats.oldest_age_s == pytest.approx(30.0)
    queue.note_dropped(2)
    queue.set_info(model_id="m", model_version="1.2.3")
    assert queue.stats().dropped == 2
    assert queue.info("model_version") == "1.2.3" and queue.info("nothing") is None
    queue.close()


def test_one_owner_per_state_directory_and_a_reader_beside_it(tmp_path: Path) -> None:
    queue = OutboundQueue(tmp_path)
    fill(queue, 4)
    queue.set_info(model_version="2.0.0")
    assert is_locked(tmp_path)
    with pytest.raises(QueueError, match="another agent already runs"):
        OutboundQueue(tmp_path)
    stats = read_stats(tmp_path)  # while the owner has it open
    assert (stats.readings_sampled, stats.depth, stats.model_version, stats.last_seq) == (4, 4, "2.0.0", 4)
    queue.close()
    assert not is_locked(tmp_path)
    assert read_stats(tmp_path).readings_sampled == 4  # and after it closed


def test_read_stats_of_a_missing_queue_says_so(tmp_path: Path) -> None:
    with pytest.raises(QueueError, match="has an agent run with this state directory"):
        read_stats(tmp_path / "nothing-here")


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    OutboundQueue(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(QueueError, match="schema v99"):
        OutboundQueue(tmp_path)
    assert not is_locked(tmp_path)


def test_uses_wal_and_has_a_lane_column(tmp_path: Path) -> None:
    OutboundQueue(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        for table in ("readings", "events"):
            assert "lane" in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
