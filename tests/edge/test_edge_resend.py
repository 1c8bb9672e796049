"""Re-sends: what the broker acknowledged and the cloud did not confirm in time goes out again, oldest first."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from contract.backoff import Backoff
from contract.channels import PUMP_CHANNELS
from contract.clock import ManualClock
from contract.wire import Confirm, Event, EventKind, ModelRef, TelemetryBatch, Usage, decode
from edge.link import MqttLink
from edge.publisher import Publisher, acknowledge
from edge.queue import OutboundQueue
from edge.resend import RECONNECT_GRACE_S, Resends

T0 = 1_800_000_000.0
VALUES = (0.2, 0.29, 2.2, 1.2, 89.0, 29.0, 232.0, 122.0)
TIMEOUT_S = 60.0


class FakeLink:
    """Takes what the publisher hands it, up to `room` messages in flight; `puback()` plays the broker."""

    def __init__(self, room: int = 100) -> None:
        self.room = room
        self.inflight = 0
        self.sent: list[tuple[str, bytes, object]] = []
        self._unacked: list[object] = []

    def capacity(self) -> int:
        return self.room - self.inflight

    def publish_raw(self, topic: str, payload: bytes, *, token: object | None = None) -> bool:
        self.sent.append((topic, payload, token))
        self._unacked.append(token)
        self.inflight += 1
        return True

    def puback(self, queue: OutboundQueue, resends: Resends) -> None:
        for token in self._unacked:
            acknowledge(queue, token, resends)
        self._unacked.clear()
        self.inflight = 0

    def what(self, since: int = 0) -> list[str]:
        """What was sent from message `since` on: 'telemetry:FIRST-LAST', 'events' or 'usage'."""
        out = []
        for topic, payload, _ in self.sent[since:]:
            msg = decode(topic, payload)
            if isinstance(msg, TelemetryBatch):
                out.append(f"telemetry:{msg.readings[0].seq}-{msg.readings[-1].seq}")
            else:
                out.append(topic.rsplit("/", 1)[1])
        return out


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def queue(tmp_path: Path, clock: ManualClock) -> Iterator[OutboundQueue]:
    q = OutboundQueue(tmp_path, clock=clock)
    yield q
    q.close()


def setup(queue: OutboundQueue, clock: ManualClock, *, seed: int = 1) -> tuple[Publisher, FakeLink, Resends]:
    link = FakeLink()
    resends = Resends(TIMEOUT_S, clock, Backoff(base_s=TIMEOUT_S, cap_s=3600.0, rng=random.Random(seed)))
    publisher = Publisher(queue, cast(MqttLink, link), tenant="demo", device_id="pump-001", channels=PUMP_CHANNELS,
                          batch_max=10, clock=clock, resends=resends)
    return publisher, link, resends


def put_readings(queue: OutboundQueue, count: int) -> None:
    for _ in range(count):
        queue.put_reading(queue.next_seq, T0, VALUES)


def put_event_and_usage(queue: OutboundQueue) -> tuple[str, str]:
    event = Event(tenant="demo", device_id="pump-001", seq=1, ts=T0, kind=EventKind.ANOMALY, score=9.0,
                  threshold=4.0, is_anomaly=True, contributions={}, model=ModelRef("m", "1"), window_start=T0,
                  window_end=T0, window_samples=1)
    usage = Usage(tenant="demo", device_id="pump-001", seq=1, ts=T0, period_start=T0, period_end=T0,
                  counters={"cycles": 1.0}, units={"cycles": "1"})
    queue.put_event(event)
    queue.put_usage(usage)
    return event.message_id, usage.message_id


def confirm(queue: OutboundQueue, **rows: Any) -> Confirm:
    return Confirm(tenant="demo", device_id="pump-001", ts=T0, install=queue.install_id, **rows)


def test_unconfirmed_rows_go_out_again_after_the_timeout_oldest_first_by_lane(
    queue: OutboundQueue, clock: ManualClock
) -> None:
    publisher, link, resends = setup(queue, clock)
    put_readings(queue, 30)
    put_event_and_usage(queue)
    publisher.drain()
    assert link.what() == ["events", "usage", "telemetry:1-10", "telemetry:11-20", "telemetry:21-30"]
    link.puback(queue, resends)
    queue.confirm(confirm(queue, readings=((11, 20),)))  # the cloud has one batch; the broker lost the rest
    put_readings(queue, 5)  # new readings meanwhile
    clock.advance(TIMEOUT_S - 1)
    publisher.drain()
    assert link.what(5) == ["telemetry:31-35"]  # not yet due: only the new readings
    link.puback(queue, resends)
    clock.advance(1)
    publisher.drain()
    # Overdue first in each lane, events before usage before telemetry; the confirmed batch is not sent again.
    assert link.what(6) == ["events", "usage", "telemetry:1-10", "telemetry:21-30"]
    assert [m.install for m in (decode(t, p) for t, p, _ in link.sent[6:]) if isinstance(m, TelemetryBatch)] == [
        queue.install_id] * 2
    link.puback(queue, resends)
    stats = queue.stats()
    assert (stats.readings_acked, stats.readings_confirmed, stats.reading_depth) == (35, 10, 25)  # acked once each


def test_confirmed_rows_are_not_sent_again(queue: OutboundQueue, clock: ManualClock) -> None:
    publisher, link, resends = setup(queue, clock)
    put_readings(queue, 10)
    event_id, usage_id = put_event_and_usage(queue)
    publisher.drain()
    link.puback(queue, resends)
    assert queue.confirm(confirm(queue, readings=((1, 10),), events=(event_id,), usage=(usage_id,))) == 12
    resends.note_confirmed()
    clock.advance(10 * TIMEOUT_S)
    publisher.drain()
    assert link.what(3) == []
    assert resends.pending() == 0  # looked at once, found confirmed, forgotten
    assert publisher.is_drained()


def test_while_the_cloud_stays_silent_re_sends_back_off_and_a_confirm_resets_them(
    queue: OutboundQueue, clock: ManualClock
) -> None:
    publisher, link, resends = setup(queue, clock)
    put_readings(queue, 10)
    publisher.drain()
    link.puback(queue, resends)
    waits = []
    for _ in range(6):  # no Confirm at all: each round waits the timeout plus a growing, jittered delay
        clock.advance(resends.wait_s)
        sent = len(link.sent)
        publisher.drain()
        assert link.what(sent) == ["telemetry:1-10"]
        link.puback(queue, resends)
        waits.append(resends.wait_s)
    assert waits[0] == TIMEOUT_S  # the first re-send round starts at the plain timeout
    assert all(TIMEOUT_S <= w <= TIMEOUT_S + min(3600.0, TIMEOUT_S * 2**i) for i, w in enumerate(waits[1:]))
    assert max(waits) > 2 * TIMEOUT_S  # it grew
    queue.confirm(confirm(queue, readings=((1, 5),)))
    resends.note_confirmed()  # the cloud is back
    assert resends.wait_s == TIMEOUT_S
    clock.advance(TIMEOUT_S)
    sent = len(link.sent)
    publisher.drain()
    assert link.what(sent) == ["telemetry:6-10"]  # only what is still unconfirmed


def test_re_sends_respect_the_in_flight_bound(queue: OutboundQueue, clock: ManualClock) -> None:
    publisher, link, resends = setup(queue, clock)
    put_readings(queue, 50)
    publisher.drain()
    link.puback(queue, resends)
    link.room = 2
    clock.advance(TIMEOUT_S)
    publisher.drain()
    assert link.what(5) == ["telemetry:1-10", "telemetry:11-20"] and publisher.backlogged
    link.puback(queue, resends)
    publisher.drain()
    assert link.what(7) == ["telemetry:21-30", "telemetry:31-40"]


def test_after_a_reconnect_what_awaits_a_confirm_goes_out_again_after_a_grace(
    queue: OutboundQueue, clock: ManualClock
) -> None:
    publisher, link, resends = setup(queue, clock)
    put_readings(queue, 20)
    publisher.drain()
    link.puback(queue, resends)
    clock.advance(10)
    resends.note_reconnected()  # Confirms the cloud sent while the link was down were lost (a clean session)
    clock.advance(RECONNECT_GRACE_S - 0.1)
    publisher.drain()
    assert link.what(2) == []
    clock.advance(0.1)
    publisher.drain()
    assert link.what(2) == ["telemetry:1-10", "telemetry:11-20"]  # long before the 60 s timeout
    link.puback(queue, resends)


def test_while_the_cloud_is_silent_a_reconnect_sends_nothing_more(queue: OutboundQueue, clock: ManualClock) -> None:
    publisher, link, resends = setup(queue, clock)
    put_readings(queue, 10)
    publisher.drain()
    link.puback(queue, resends)
    for _ in range(3):  # re-send rounds without any Confirm: the back-off grows
        clock.advance(resends.wait_s)
        publisher.drain()
        link.puback(queue, resends)
    assert resends.wait_s > TIMEOUT_S
    sent = len(link.sent)
    resends.note_reconnected()
    clock.advance(RECONNECT_GRACE_S)
    publisher.drain()
    assert link.what(sent) == []
