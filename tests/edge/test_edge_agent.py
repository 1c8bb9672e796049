"""The agent end to end against a real private Mosquitto, a real SQLite outbox and real onnxruntime."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from edge_testkit import Observer, build_model, wait_until

from cloud.broker import MosquittoBroker, free_port
from contract.channels import PUMP_CHANNELS, TURBOFAN_CHANNELS
from contract.clock import ManualClock
from contract.wire import Command, DeviceStatus
from edge.agent import Agent
from edge.errors import LinkError, ModelError
from edge.queue import read_stats
from edge.runtime import OnnxModel
from edge.settings import AgentSettings

pytestmark = pytest.mark.mosquitto

Settings = Callable[..., AgentSettings]


def run_for(agent: Agent, seconds: float) -> None:
    agent.start()
    time.sleep(seconds)
    agent.stop()


def test_every_sampled_reading_arrives_exactly_once_in_order(
    fast_settings: Settings, observe: Callable[..., Observer]
) -> None:
    observer = observe()
    agent = Agent(fast_settings(batch_max=7))
    run_for(agent, 1.0)
    stats = agent.stats()
    n = stats.readings_sampled
    assert n >= 20
    assert (stats.readings_acked, stats.readings_confirmed, stats.queue_depth, stats.dropped) == (n, n, 0, 0)
    wait_until(lambda: len(observer.seqs("pump-001")) >= n, what=f"{n} readings")
    time.sleep(0.2)  # anything extra (a duplicate) would arrive now
    assert observer.seqs("pump-001") == list(range(1, n + 1))
    batches = observer.telemetry("pump-001")
    assert all(1 <= len(b.readings) <= 7 for b in batches)
    assert [c.name for c in batches[0].channels] == [c.name for c in PUMP_CHANNELS]
    assert observer.errors == []


def test_birth_heartbeat_and_offline_state_are_published(
    fast_settings: Settings, observe: Callable[..., Observer]
) -> None:
    observer = observe()
    run_for(Agent(fast_settings(heartbeat_s=0.3)), 1.0)
    wait_until(lambda: any(s.status is DeviceStatus.OFFLINE for s in observer.states("pump-001")), what="offline")
    states = observer.states("pump-001")
    assert states[0].status is DeviceStatus.ONLINE and states[0].asset_kind == "pump"
    assert states[0].agent_version
    heartbeats = [s for s in states if s.status is DeviceStatus.ONLINE and s.health.get("readings_sampled")]
    assert heartbeats, "no heartbeat with health"
    health = heartbeats[-1].health
    assert {"queue_depth", "oldest_unsent_s", "readings_sampled", "readings_acked", "rss_mb", "cpu_pct",
            "disk_free_mb", "queue_mb", "model_version", "dropped", "unconfirmed_depth", "readings_confirmed",
            "events_confirmed"} <= set(health)
    assert 0 <= float(health["cpu_pct"]) < 400 and float(health["disk_free_mb"]) > 0
    assert float(health["queue_mb"]) > 0 and 5 < float(health["rss_mb"]) < 1000
    assert "clock_offset_s" not in health  # no command from the cloud yet: unknown, so not reported
    assert states[-1].status is DeviceStatus.OFFLINE
    late = Observer(observer_url(fast_settings), client_id="late")  # the retained state says offline
    try:
        wait_until(lambda: bool(late.states("pump-001")), what="retained state")
        assert late.states("pump-001")[-1].status is DeviceStatus.OFFLINE
    finally:
        late.close()


def test_a_command_from_the_cloud_gives_the_clock_offset(
    fast_settings: Settings, observe: Callable[..., Observer]
) -> None:
    observer = observe()
    agent = Agent(fast_settings(heartbeat_s=0.2))
    agent.start()
    try:
        def send_command() -> bool:
            # The cloud's clock is 5 s behind the agent's: the command's ts says so. Sent until it
            # arrives, since the agent's subscription may not be in place yet (commands are not retained).
            observer.publish(Command(tenant="demo", device_id="pump-001", ts=time.time() - 5.0, name="ping"))
            time.sleep(0.1)
            return agent.clock_offset_s is not None

        wait_until(send_command, what="the command")
        wait_until(lambda: "clock_offset_s" in observer.states("pump-001")[-1].health, what="offset in a heartbeat")
        assert float(observer.states("pump-001")[-1].health["clock_offset_s"]) == pytest.approx(5.0, abs=1.0)
    finally:
        agent.stop()


def observer_url(fast_settings: Settings) -> str:
    return fast_settings().broker_url


def test_a_faulty_pump_raises_anomaly_events_with_their_evidence(
    fast_settings: Settings, observe: Callable[..., Observer], pump_model: Path
) -> None:
    observer = observe()
    agent = Agent(fast_settings(model_path=pump_model, fault="bearing_wear@0.3,ramp=0.3"))
    run_for(agent, 1.5)
    stats = agent.stats()
    assert stats.model_version == "0.0.1-test"
    assert stats.events_sampled >= 3 and stats.events_acked == stats.events_sampled
    wait_until(lambda: len(observer.events("pump-001")) >= stats.events_sampled, what="events")
    events = observer.events("pump-001")
    assert len({e.message_id for e in events}) == len(events) == stats.events_sampled
    event = events[-1]
    assert event.is_anomaly and event.score > event.threshold == 4.0
    assert (event.model.id, event.model.version) == ("test-pump", "0.0.1-test")
    assert set(event.contributions) == {c.name for c in PUMP_CHANNELS}
    assert all(v >= 0 for v in event.contributions.values())
    assert event.window_samples == 10
    assert event.window_end - event.window_start == pytest.approx(9 / 50, abs=0.1)
    assert event.seq in set(observer.seqs("pump-001"))


def test_a_healthy_pump_raises_no_anomaly(fast_settings: Settings, pump_model: Path) -> None:
    agent = Agent(fast_settings(model_path=pump_model))
    run_for(agent, 0.6)
    assert agent.stats().readings_sampled >= 20 and agent.stats().events_sampled == 0


def test_nothing_is_lost_when_the_broker_restarts_mid_run(
    mosquitto: MosquittoBroker, fast_settings: Settings, observe: Callable[..., Observer]
) -> None:
    observer = observe(client_id="ingest-like", persistent=True)
    # A Confirm the restart lost (the agent's session is clean) is made up for by a re-send.
    agent = Agent(fast_settings(confirm_timeout_s=1.0))
    agent.start()
    time.sleep(0.6)
    mosquitto.stop()
    time.sleep(0.8)  # the agent keeps sampling into its outbox meanwhile
    assert not agent.stats().connected
    mosquitto.start()
    wait_until(lambda: agent.stats().connected, what="reconnect")
    time.sleep(0.4)
    agent.stop()
    stats = agent.stats()
    n = stats.readings_sampled
    assert stats.reconnects >= 1 and (stats.readings_acked, stats.queue_depth) == (n, 0)
    wait_until(lambda: set(observer.seqs("pump-001")) >= set(range(1, n + 1)), what="every seq")
    assert sorted(set(observer.seqs("pump-001"))) == list(range(1, n + 1))  # no gap (duplicates allowed)


def test_unsent_readings_wait_in_the_outbox_for_the_next_run(
    fast_settings: Settings, observe: Callable[..., Observer], mosquitto: MosquittoBroker
) -> None:
    settings = fast_settings()
    agent = Agent(settings)
    agent.start()
    time.sleep(0.3)
    mosquitto.stop()
    time.sleep(0.4)
    agent.stop(flush_timeout_s=0.2)  # broker away: the rest stays queued
    first = agent.stats()
    unsent = read_stats(settings.state_dir).reading_depth  # the queue also holds the stop's usage report
    assert unsent > 0
    mosquitto.start()
    observer = observe()
    second = Agent(settings)
    run_for(second, 0.4)
    stats = second.stats()
    assert stats.readings_sampled > first.readings_sampled  # seq went on where it stopped
    assert (stats.readings_acked, stats.queue_depth) == (stats.readings_sampled, 0)
    wait_until(lambda: set(observer.seqs("pump-001")) >= set(range(first.readings_sampled - unsent + 1,
                                                                   stats.readings_sampled + 1)), what="backlog")


def test_a_model_for_other_channels_is_refused(fast_settings: Settings, tmp_path: Path) -> None:
    wrong = build_model(tmp_path / "turbofan.onnx", channels=TURBOFAN_CHANNELS[:8], model_id="fan")
    with pytest.raises(ModelError, match=r"expects channels .* the sensors give"):
        Agent(fast_settings(model_path=wrong)).start()
    subset = build_model(tmp_path / "subset.onnx", channels=PUMP_CHANNELS[:4])
    with pytest.raises(ModelError, match="expects channels"):
        Agent(fast_settings(), model=OnnxModel.load(subset)).start()


def test_an_unreachable_broker_at_start_is_an_error(tmp_path: Path) -> None:
    settings = AgentSettings(device_id="pump-001", broker_url=f"mqtt://127.0.0.1:{free_port()}",
                             state_dir=tmp_path / "s", model_path=None, connect_timeout_s=0.5)
    with pytest.raises(LinkError, match=r"cannot connect to the broker .* check --broker"):
        Agent(settings).start()
    # Nothing stays locked: the next attempt may use the same state directory.
    assert read_stats(tmp_path / "s").readings_sampled == 0


def test_a_manual_clock_drives_sampling_in_simulated_time(fast_settings: Settings) -> None:
    clock = ManualClock(start=1_800_000_000.0)
    agent = Agent(fast_settings(rate_hz=2.0, batch_max=100), clock=clock)
    agent.start()
    wait_until(lambda: agent.stats().readings_sampled >= 200, what="200 readings")
    agent.stop()
    # 2 Hz in simulated time: the readings span ~100 simulated seconds however fast they ran.
    assert clock.time() - 1_800_000_000.0 >= 99.0
    assert agent.stats().queue_depth == 0


def test_a_turbofan_without_a_model_sends_telemetry_only(
    fast_settings: Settings, observe: Callable[..., Observer]
) -> None:
    observer = observe()
    agent = Agent(fast_settings("fan-001", sensor="sim:turbofan", model_path=None))  # its default: test_edge_rul
    run_for(agent, 0.4)
    stats = agent.stats()
    assert stats.model_version == "" and stats.events_sampled == 0 and stats.readings_acked == stats.readings_sampled
    wait_until(lambda: len(observer.seqs("fan-001")) >= stats.readings_sampled, what="turbofan readings")
    assert [c.name for c in observer.telemetry("fan-001")[0].channels] == [c.name for c in TURBOFAN_CHANNELS]


def test_a_pump_runs_the_shipped_baseline_model_by_default(fast_settings: Settings) -> None:
    default = AgentSettings(device_id="pump-001").model_path
    assert default is not None and default.name == "pump-baseline.onnx"
    agent = Agent(fast_settings(model_path=default))
    run_for(agent, 0.3)
    assert agent.stats().model_version == OnnxModel.load(default).info.version
