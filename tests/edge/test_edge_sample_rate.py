"""The cloud's desired sample rate in a running agent on a real broker: applied live, kept, refused when insane."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from edge_testkit import Observer, wait_until
from updatetest_support import CloudKey, settings_command

from contract.clock import ManualClock
from contract.wire import Command
from edge.agent import Agent
from edge.errors import SensorError
from edge.sensors import SensorSpec, SteppedSource, open_sensor
from edge.sensors.simulated import SimulatedSensor
from edge.settings import AgentSettings
from edge.updates.model_files import Installed, ModelFiles, Record

SIGNER = CloudKey()  # the cloud's manifest signer; each agent pins its public key


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return SIGNER.write_pem(tmp_path / "signing-key.pem")


def desired_rate(rate: object, device_id: str = "pump-001") -> Command:
    return settings_command(SIGNER, device_id, sample_rate_hz=rate)


def send_until(observer: Observer, command: Command, done: Callable[[], bool], what: str) -> None:
    """Publish as the cloud does, again until `done`: the agent's subscription may not be in place yet."""

    def send() -> bool:
        observer.publish(command)
        time.sleep(0.1)
        return done()

    wait_until(send, 10, what)


def paced_at(observer: Observer, device_id: str, seqs: range, period_s: float) -> bool:
    """Whether readings `seqs` follow each other by `period_s` (the wire keeps timestamps to the millisecond)."""
    ts = {r.seq: r.ts for batch in observer.telemetry(device_id) for r in batch.readings}
    return all(abs(ts[seq + 1] - ts[seq] - period_s) < 0.0015 for seq in seqs)


def sampled(agent: Agent) -> int:
    return agent.stats().readings_sampled


def test_a_desired_rate_is_applied_live_reported_and_kept_across_a_restart(
    fast_settings: Callable[..., AgentSettings], observe: Callable[..., Observer], key_file: Path,
) -> None:
    clock = ManualClock()  # readings are stamped in simulated time: their spacing is exactly the period
    settings = fast_settings(rate_hz=2.0, batch_max=100, signing_key_file=key_file)
    observer = observe()
    sensor = open_sensor(SensorSpec.parse(settings.sensor), seed=settings.seed, rate_hz=2.0)
    assert isinstance(sensor, SimulatedSensor)
    with Agent(settings, clock=clock, sensor=sensor) as agent:
        wait_until(lambda: sampled(agent) >= 20, what="readings at 2 Hz")
        send_until(observer, desired_rate(20), lambda: agent.updates.status == "applied", "the rate to be applied")
        changed_by = sampled(agent)
        wait_until(lambda: sampled(agent) >= changed_by + 200, what="readings at 20 Hz")
        assert agent.health().sample_rate_hz == 20.0
        assert sensor.dt_s == pytest.approx(0.05)  # the simulated asset's time follows the new pace
        wait_until(lambda: any(s.health.get("sample_rate_hz") == 20.0 and s.health.get("update_status") == "applied"
                               for s in observer.states("pump-001")), 10, "the new rate in a heartbeat")
    last = agent.stats().readings_sampled  # seqs start at 1: the last reading's seq
    wait_until(lambda: last in observer.seqs("pump-001"), 10, "every reading on the broker")
    assert paced_at(observer, "pump-001", range(1, 11), 0.5)
    assert paced_at(observer, "pump-001", range(changed_by + 1, last), 0.05)
    record = json.loads((settings.state_dir / "model" / "current.json").read_text())
    assert record["sample_rate_hz"] == 20.0

    with Agent(settings, clock=clock) as restarted:  # --rate says 2 Hz; the cloud's wish wins
        assert restarted.health().sample_rate_hz == 20.0
        wait_until(lambda: sampled(restarted) >= last + 50, what="readings after the restart")
    wait_until(lambda: last + 50 in observer.seqs("pump-001"), 10, "the restarted agent's readings")
    assert paced_at(observer, "pump-001", range(last + 1, last + 50), 0.05)


@pytest.mark.parametrize(("rate", "why"), [(0, "sample_rate_hz must be"), (-5, "sample_rate_hz must be"),
                                           (1000.5, "sample_rate_hz must be"), (5000, "sample_rate_hz must be"),
                                           ("fast", "name -> number")])
def test_an_insane_rate_is_refused_and_reported(
    fast_settings: Callable[..., AgentSettings], observe: Callable[..., Observer], key_file: Path, rate: object,
    why: str,
) -> None:
    settings = fast_settings(signing_key_file=key_file)
    observer = observe()
    with Agent(settings) as agent:
        wait_until(lambda: sampled(agent) > 0, what="a reading")
        send_until(observer, desired_rate(rate), lambda: agent.updates.status == "failed:invalid_command",
                   "the refusal")
        health = agent.health().as_dict() | agent.updates.health()
        assert why in str(health["update_detail"])
        assert health["sample_rate_hz"] == 50.0  # still the settings' rate
        wait_until(lambda: any(s.health.get("update_status") == "failed:invalid_command"
                               for s in observer.states("pump-001")), 10, "the refusal on the broker")
    assert not (settings.state_dir / "updates" / "desired.json").exists()
    assert not (settings.state_dir / "model" / "current.json").exists()  # nothing persisted: 50 Hz after a restart


def test_a_simulated_sensor_follows_a_new_rate_from_its_next_read() -> None:
    expected = open_sensor(SensorSpec.parse("sim:pump"), seed=3, rate_hz=10.0)
    changed = open_sensor(SensorSpec.parse("sim:pump"), seed=3, rate_hz=1.0)
    assert isinstance(changed, SteppedSource)
    changed.set_rate(10.0)
    assert [changed.read() for _ in range(20)] == [expected.read() for _ in range(20)]
    with pytest.raises(SensorError, match="positive time step"):
        changed.set_rate(0.0)


def test_a_rollback_keeps_the_desired_rate_and_drops_the_models_threshold(tmp_path: Path) -> None:
    files = ModelFiles(tmp_path)
    files.set_sample_rate(10.0)
    files.activate(Installed("a" * 64, "test-pump", "2"), threshold=3.0)
    assert files.record().sample_rate_hz == 10.0
    files.revert()  # back to the settings' model: the record stays for the rate alone
    assert files.record() == Record(sample_rate_hz=10.0)
