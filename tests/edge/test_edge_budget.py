"""The outbox's disk budget: telemetry thinned oldest-first and counted, events and usage never dropped.

Sent-but-unconfirmed readings (the broker acknowledged them, the cloud did not confirm
them yet) are thinned only when no unsent reading of a complete block is left.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from contract.clock import ManualClock
from contract.wire import Event, EventKind, ModelRef
from edge.budget import MIN_BUDGET_BYTES, THIN_BLOCK
from edge.errors import QueueError
from edge.queue import DB_NAME, LANE_EVENT, LANE_USAGE, OutboundQueue, ReadingsToken, read_stats
from edge.token_bucket import TokenBucket

T0 = 1_800_000_000.0
PUMP_LIKE = (0.2012345678, 0.2912345678, 2.212345678, 1.212345678, 89.12345678, 29.12345678, 232.1234567, 122.1234567)


def event(seq: int) -> Event:
    return Event(
        tenant="demo", device_id="pump-001", seq=seq, ts=T0 + seq, kind=EventKind.ANOMALY, score=9.0,
        threshold=4.0, is_anomaly=True, contributions={"pressure": 7.0}, model=ModelRef("m", "1"),
        window_start=T0, window_end=T0 + seq, window_samples=10,
    )


def fill(queue: OutboundQueue, count: int, events_every: int = 0) -> None:
    for _ in range(count):
        seq = queue.next_seq
        queue.put_reading(seq, T0 + seq, PUMP_LIKE)
        if events_every and seq % events_every == 0:
            queue.put_event(event(seq))


def queued_seqs(state_dir: Path) -> list[int]:
    with sqlite3.connect(state_dir / DB_NAME) as conn:
        return [int(r[0]) for r in conn.execute("SELECT seq FROM readings ORDER BY seq")]


def block_shapes(present: set[int], last_seq: int) -> list[str]:
    """Each complete block, oldest first: 'gone', 'half' (1st, 3rd, … kept) or 'full'."""
    shapes = []
    for start in range(1, last_seq - THIN_BLOCK + 2, THIN_BLOCK):
        block = list(range(start, start + THIN_BLOCK))
        kept = [s for s in block if s in present]
        shapes.append("gone" if not kept else "full" if len(kept) == len(block) else
                      "half" if kept == block[::2] else f"odd:{kept}")
    return shapes


def test_over_budget_the_oldest_telemetry_is_halved_then_dropped_and_counted(tmp_path: Path) -> None:
    queue = OutboundQueue(tmp_path, max_bytes=MIN_BUDGET_BYTES)
    fill(queue, 1500, events_every=100)
    stats = queue.stats()
    queue.close()
    present = set(queued_seqs(tmp_path))
    missing = set(range(1, 1501)) - present
    assert stats.dropped == len(missing) > 0
    assert stats.readings_sampled == stats.reading_depth + stats.dropped  # every reading accounted for
    assert stats.event_depth == stats.events_sampled == 15  # events are never dropped
    assert stats.used_bytes <= MIN_BUDGET_BYTES
    shapes = block_shapes(present, 1500)
    order = {"gone": 0, "half": 1, "full": 2}
    assert all(s in order for s in shapes), shapes
    assert [order[s] for s in shapes] == sorted(order[s] for s in shapes), shapes  # oldest lose most
    assert "gone" in shapes and "half" in shapes
    assert max(present) == 1500  # the newest reading is kept
    assert read_stats(tmp_path).dropped == stats.dropped  # `status` reads the same count from disk


def test_halving_comes_before_dropping_whole_blocks(tmp_path: Path) -> None:
    queue = OutboundQueue(tmp_path, max_bytes=MIN_BUDGET_BYTES)
    fill(queue, 420)  # just over the budget: the first complete block is halved, nothing else
    queue.close()
    shapes = block_shapes(set(queued_seqs(tmp_path)), 400)
    assert shapes[0] == "half" and "gone" not in shapes, shapes


def test_readings_in_flight_are_never_thinned(tmp_path: Path) -> None:
    queue = OutboundQueue(tmp_path, max_bytes=MIN_BUDGET_BYTES)
    fill(queue, 50)
    queue.note_handed(50)  # the publisher handed seqs 1..50 to the link
    fill(queue, 1000)
    queue.close()
    assert set(range(1, 51)) <= set(queued_seqs(tmp_path))


def send(queue: OutboundQueue) -> int:
    """The publisher hands everything queued to the link and the broker acknowledges it; the cloud confirms nothing."""
    last = queue.next_seq - 1
    queue.note_handed(last)
    queue.ack(ReadingsToken(1, last))
    return last


def test_sent_unconfirmed_readings_are_thinned_only_after_the_unsent_ones(tmp_path: Path) -> None:
    queue = OutboundQueue(tmp_path, max_bytes=MIN_BUDGET_BYTES)
    fill(queue, 60)
    send(queue)  # 1-60 sent, awaiting the cloud's confirmation
    fill(queue, 690)  # the broker goes away: over budget with unsent readings
    stats = queue.stats()
    queue.close()
    present = set(queued_seqs(tmp_path))
    assert set(range(1, 61)) <= present  # the broker acknowledged them: kept while unsent ones could go
    assert stats.dropped > 0 and stats.dropped_unconfirmed == 0
    assert stats.reading_unconfirmed == 60 and stats.used_bytes <= MIN_BUDGET_BYTES
    assert 750 in present


def test_a_cloud_that_never_confirms_does_not_grow_the_outbox_past_its_budget(tmp_path: Path) -> None:
    queue = OutboundQueue(tmp_path, max_bytes=MIN_BUDGET_BYTES)
    for _ in range(60):  # 1,500 readings, each sent and acknowledged by the broker within 25 samples
        fill(queue, 25)
        send(queue)
    fill(queue, 10)  # the newest, not sent yet
    stats = queue.stats()
    queue.close()
    present = set(queued_seqs(tmp_path))
    assert stats.used_bytes <= MIN_BUDGET_BYTES
    assert stats.dropped == stats.dropped_unconfirmed > 0  # all it could shed was sent-unconfirmed
    assert set(range(1501, 1511)) <= present  # the newest readings are all there
    assert stats.readings_sampled == stats.readings_confirmed + stats.reading_depth + stats.dropped
    shapes = block_shapes(present, 1500)
    order = {"gone": 0, "half": 1, "full": 2}
    assert [order[s] for s in shapes] == sorted(order[s] for s in shapes), shapes  # the oldest lose most
    assert "gone" in shapes and "half" in shapes


def test_events_and_usage_stay_even_beyond_the_budget(tmp_path: Path) -> None:
    queue = OutboundQueue(tmp_path, max_bytes=MIN_BUDGET_BYTES)
    fill(queue, 100)
    for seq in range(1, 201):
        queue.put_message("paas/v1/demo/pump-001/events", b"x" * 500, message_id=f"u{seq}", seq=seq, ts=T0,
                          lane=LANE_USAGE if seq % 2 else LANE_EVENT)
    stats = queue.stats()
    assert stats.event_depth == 200 and stats.reading_depth == 0 and stats.dropped == 100
    with pytest.raises(QueueError, match="not a message lane"):
        queue.put_message("t", b"", message_id="x", seq=1, ts=T0, lane=0)
    queue.close()
    with pytest.raises(QueueError, match="disk budget below"):
        OutboundQueue(tmp_path, max_bytes=1000)


def test_the_token_bucket_bounds_the_rate_and_allows_a_burst() -> None:
    clock = ManualClock()
    bucket = TokenBucket(rate=10.0, burst=2.0, clock=clock)
    for _ in range(2):
        assert bucket.wait_s() == 0.0
        bucket.take()
    assert bucket.wait_s() == pytest.approx(0.1)
    clock.advance(0.05)
    assert bucket.wait_s() == pytest.approx(0.05)
    clock.advance(10.0)  # a long idle time refills to the burst, not beyond
    bucket.take()
    bucket.take()
    assert bucket.wait_s() > 0
