"""Usage metering: hours and kWh from known readings, persistence across restarts, never-dropped reports."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from contract.channels import PUMP_CHANNELS, TURBOFAN_CHANNELS, Channel
from contract.clock import ManualClock
from contract.wire import Event, EventKind, ModelRef, Usage, decode, encode, topic_of
from edge.budget import MIN_BUDGET_BYTES
from edge.errors import MeteringError
from edge.link import MqttLink
from edge.metering import MAX_STEP_S, POWER_FACTOR, USAGE_FILE, UsageMeter, read_usage
from edge.publisher import Publisher
from edge.queue import LANE_USAGE, OutboundQueue

T0 = 1_800_000_000.0
PUMP_NAMES = [c.name for c in PUMP_CHANNELS]


def pump_values(current: float, voltage: float) -> list[float | None]:
    values: list[float | None] = [0.2] * len(PUMP_NAMES)
    values[PUMP_NAMES.index("current")] = current
    values[PUMP_NAMES.index("voltage")] = voltage
    return values


def feed(meter: UsageMeter, start: float, seconds: int, values: list[float | None]) -> None:
    for i in range(seconds + 1):
        meter.observe(values, start + i)


def test_a_running_pump_counts_hours_and_energy_an_idle_one_only_energy(tmp_path: Path) -> None:
    meter = UsageMeter(tmp_path, "pump", PUMP_NAMES, ManualClock(T0))
    feed(meter, T0, 3600, pump_values(2.0, 230.0))  # one hour at 2 A, 230 V
    running = meter.counters()
    assert running["operating_hours"] == pytest.approx(1.0)
    assert running["energy_kwh"] == pytest.approx(230.0 * 2.0 * POWER_FACTOR / 1000.0)
    feed(meter, T0 + 3601, 1800, pump_values(0.5, 230.0))  # half an hour idle: below the 1 A threshold
    idle = meter.counters()
    assert idle["operating_hours"] == pytest.approx(1.0)
    # A reading's values count for the interval that ends at it: 1801 idle seconds (T0+3600 .. T0+5401).
    idle_kwh = 230.0 * 0.5 * POWER_FACTOR * 1801 / 3.6e6
    assert idle["energy_kwh"] == pytest.approx(running["energy_kwh"] + idle_kwh)


def test_a_gap_longer_than_the_cap_and_missing_values_are_not_billed(tmp_path: Path) -> None:
    meter = UsageMeter(tmp_path, "pump", PUMP_NAMES, ManualClock(T0))
    meter.observe(pump_values(2.0, 230.0), T0)
    meter.observe(pump_values(2.0, 230.0), T0 + MAX_STEP_S + 1)  # the device was suspended
    missing = pump_values(2.0, 230.0)
    missing[PUMP_NAMES.index("current")] = None
    meter.observe(missing, T0 + MAX_STEP_S + 2)
    assert meter.counters() == {"operating_hours": 0.0, "energy_kwh": 0.0}


def test_a_turbofan_counts_one_cycle_per_reading_and_its_hours(tmp_path: Path) -> None:
    names = [c.name for c in TURBOFAN_CHANNELS]
    meter = UsageMeter(tmp_path, "turbofan", names, ManualClock(T0))
    feed(meter, T0, 7200, [1.0] * len(names))
    assert meter.counters() == {"cycles": 7201.0, "operating_hours": pytest.approx(2.0)}


def test_counters_and_report_seq_survive_a_restart(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    first = UsageMeter(tmp_path, "pump", PUMP_NAMES, clock)
    feed(first, T0, 1800, pump_values(2.0, 230.0))
    clock.advance(1800)
    one = first.report("acme", "pump-001")
    assert (one.seq, one.period_end, one.units) == (1, T0 + 1800, {"operating_hours": "h", "energy_kwh": "kWh"})
    assert read_usage(tmp_path)["counters"] == one.counters
    assert not (tmp_path / USAGE_FILE).with_suffix(".tmp").exists()
    clock.advance(60)
    again = UsageMeter(tmp_path, "pump", PUMP_NAMES, clock)  # the agent restarted
    feed(again, T0 + 1860, 1800, pump_values(2.0, 230.0))
    two = again.report("acme", "pump-001")
    assert two.seq == 2 and two.period_start == one.period_end
    assert two.counters["operating_hours"] == pytest.approx(1.0)  # cumulative across the restart
    assert all(two.counters[k] >= one.counters[k] for k in one.counters)


def test_real_usage_reports_are_never_dropped_under_a_tiny_budget(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    meter = UsageMeter(tmp_path, "pump", PUMP_NAMES, clock)
    queue = OutboundQueue(tmp_path, clock=clock, max_bytes=MIN_BUDGET_BYTES)
    for _ in range(30):
        for _ in range(100):
            seq = queue.next_seq
            clock.advance(1)
            queue.put_reading(seq, clock.time(), pump_values(2.0, 230.0))
            meter.observe(pump_values(2.0, 230.0), clock.time())
        usage = meter.report("acme", "pump-001")
        queue.put_message(topic_of(usage), encode(usage), message_id=usage.message_id, seq=usage.seq, ts=usage.ts,
                          lane=LANE_USAGE)
    assert queue.stats().dropped > 0  # telemetry was thinned ...
    rows = queue.peek_events(100, lane=LANE_USAGE)
    reports = [decode(r.topic, r.payload) for r in rows]
    assert [cast(Usage, u).seq for u in reports] == list(range(1, 31))  # ... usage never
    queue.close()


class FakeLink:
    """Records what the publisher hands it; always connected with room for everything."""

    def __init__(self) -> None:
        self.topics: list[str] = []

    def capacity(self) -> int:
        return 100

    def publish_raw(self, topic: str, payload: bytes, *, token: object | None = None) -> bool:
        self.topics.append(topic.rsplit("/", 1)[1])
        return True


def test_the_publisher_sends_events_then_usage_then_telemetry(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    queue = OutboundQueue(tmp_path, clock=clock)
    queue.put_reading(queue.next_seq, T0, pump_values(2.0, 230.0))
    usage = Usage(tenant="acme", device_id="pump-001", seq=1, ts=T0, period_start=T0, period_end=T0,
                  counters={"cycles": 1.0}, units={"cycles": "1"})
    queue.put_message(topic_of(usage), encode(usage), message_id=usage.message_id, seq=1, ts=T0, lane=LANE_USAGE)
    queue.put_event(Event(tenant="acme", device_id="pump-001", seq=1, ts=T0, kind=EventKind.ANOMALY, score=2.0,
                          threshold=1.0, is_anomaly=True, contributions={}, model=ModelRef("m", "1"),
                          window_start=T0, window_end=T0, window_samples=1))
    link = FakeLink()
    channels: tuple[Channel, ...] = PUMP_CHANNELS
    publisher = Publisher(queue, cast(MqttLink, link), tenant="acme", device_id="pump-001", channels=channels,
                          batch_max=10, clock=clock)
    publisher.drain()
    assert link.topics == ["events", "usage", "telemetry"]
    queue.close()


def test_a_corrupt_counter_file_is_refused_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / USAGE_FILE).write_text('{"seq": 1, "counters": {"operating_hours": "lots"}}')
    with pytest.raises(MeteringError, match="malformed"):
        UsageMeter(tmp_path, "pump", PUMP_NAMES, ManualClock(T0))
    (tmp_path / USAGE_FILE).write_text("not json")
    with pytest.raises(MeteringError, match="cannot read"):
        read_usage(tmp_path)
