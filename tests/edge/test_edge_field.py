"""Evidence for the field: outages, crashes, a full disk budget and a fleet's reconnects, on a real Mosquitto."""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from edge_testkit import Observer, wait_until
from test_edge_cli import edge_cli, status_json

from cloud.broker import MosquittoBroker
from contract.backoff import Backoff
from edge.agent import Agent
from edge.budget import MIN_BUDGET_BYTES, THIN_BLOCK
from edge.errors import QueueError
from edge.queue import OutboundQueue, read_stats
from edge.settings import AgentSettings

pytestmark = pytest.mark.mosquitto

Settings = Callable[..., AgentSettings]
PUMP_VALUES = (0.2, 0.29, 2.2, 1.2, 89.0, 29.0, 232.0, 122.0)


def acked(state_dir: Path) -> int:
    """Readings acknowledged so far; -1 while the agent has not created its queue yet."""
    try:
        return read_stats(state_dir).readings_acked
    except QueueError:
        return -1


@dataclass
class RecordingBackoff(Backoff):
    """The link's back-off, remembering each delay it chose."""

    delays: list[float] = field(default_factory=list)

    def next_delay(self) -> float:
        delay = super().next_delay()
        self.delays.append(delay)
        return delay


def test_a_long_outage_loses_nothing_and_sampling_goes_on(
    mosquitto: MosquittoBroker, fast_settings: Settings, observe: Callable[..., Observer]
) -> None:
    observer = observe(client_id="ingest-like", persistent=True)
    # Confirms lost in the broker restart (the agent's session is clean) are made up for by a re-send.
    agent = Agent(fast_settings(rate_hz=100.0, confirm_timeout_s=1.0))
    agent.start()
    time.sleep(0.4)
    mosquitto.stop()
    wait_until(lambda: not agent.stats().connected, what="disconnect noticed")
    before = agent.stats()
    time.sleep(1.5)
    during = agent.stats()
    assert during.readings_sampled >= before.readings_sampled + 100  # it kept sampling into the outbox
    assert during.queue_depth >= 100 and during.oldest_unsent_s > 1.0
    mosquitto.start()
    wait_until(lambda: agent.stats().connected, what="reconnect")
    agent.stop()
    stats = agent.stats()
    n = stats.readings_sampled
    assert (stats.readings_acked, stats.readings_confirmed, stats.queue_depth, stats.dropped) == (n, n, 0, 0)
    wait_until(lambda: set(observer.seqs("pump-001")) >= set(range(1, n + 1)), what="every seq")
    assert sorted(set(observer.seqs("pump-001"))) == list(range(1, n + 1))  # each exactly once after dedupe


def test_a_sigkilled_agent_restarted_on_its_state_dir_leaves_no_gap(
    mosquitto: MosquittoBroker, tmp_path: Path, observe: Callable[..., Observer]
) -> None:
    observer = observe(confirm=True)  # as the cloud
    state = tmp_path / "state"
    args = ("run", "--device-id", "pump-001", "--broker", mosquitto.url, "--rate", "100", "--state-dir", str(state),
            "--model", "none", "--publish-interval", "0.1")
    proc = edge_cli(*args)
    try:
        wait_until(lambda: acked(state) >= 50, timeout_s=30, what="the first run streaming")
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    killed = read_stats(state)
    assert killed.readings_sampled >= 50
    rerun = edge_cli(*args, "--duration", "0.8")
    _, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    final = status_json(state)
    n = final["last_seq"]
    assert isinstance(n, int) and n > killed.last_seq and final["queue_depth"] == 0
    wait_until(lambda: set(observer.seqs("pump-001")) >= set(range(1, n + 1)), what="every seq of both runs")
    assert sorted(set(observer.seqs("pump-001"))) == list(range(1, n + 1))  # no gap; duplicates allowed


def test_over_the_disk_budget_events_all_arrive_and_the_oldest_telemetry_is_thinned(
    mosquitto: MosquittoBroker, fast_settings: Settings, observe: Callable[..., Observer], pump_model: Path
) -> None:
    observer = observe(client_id="ingest-like", persistent=True)
    agent = Agent(fast_settings(rate_hz=250.0, model_path=pump_model, fault="bearing_wear@0.3,ramp=0.3", hop=50,
                                batch_max=20, max_inflight=2, queue_max_mb=MIN_BUDGET_BYTES / 2**20,
                                confirm_timeout_s=1.0))
    agent.start()
    time.sleep(0.3)
    mosquitto.stop()
    wait_until(lambda: agent.stats().dropped > 0, timeout_s=20, what="the budget exceeded")
    mosquitto.start()
    wait_until(lambda: agent.stats().connected, what="reconnect")
    time.sleep(0.6)  # live readings after the outage
    agent.stop()
    stats = agent.stats()
    n = stats.readings_sampled
    assert stats.queue_depth == 0 and stats.events_sampled >= 3
    wait_until(lambda: len({e.message_id for e in observer.events("pump-001")}) == stats.events_sampled,
               what="every event")
    wait_until(lambda: max(observer.seqs("pump-001"), default=0) == n, what="the newest reading")
    missing = set(range(1, n + 1)) - set(observer.seqs("pump-001"))
    # What is missing is what was counted as dropped, except that a reading the broker had acknowledged
    # before it went away may have been shed as sent-unconfirmed (edge.budget, tier 2) and arrived all the same.
    on_disk = read_stats(agent.settings.state_dir)
    assert stats.dropped - on_disk.dropped_unconfirmed <= len(missing) <= stats.dropped
    assert len(missing) > 0
    assert not missing & set(range(1, 51))  # sent before the outage
    assert not missing & set(range(n - 100, n + 1))  # the newest readings are all there
    first_block = sorted(missing)[: THIN_BLOCK // 2]  # the oldest unsent telemetry went first, as a run
    assert first_block[-1] - first_block[0] < 2 * THIN_BLOCK


def test_reconnects_after_a_broker_restart_are_not_in_lock_step(
    mosquitto: MosquittoBroker, fast_settings: Settings
) -> None:
    backoffs = [RecordingBackoff(base_s=0.2, cap_s=1.0, rng=random.Random(seed)) for seed in (1, 2)]
    agents = [Agent(fast_settings(f"pump-00{i + 1}", rate_hz=5.0), backoff=b) for i, b in enumerate(backoffs)]
    for agent in agents:
        agent.start()
    mosquitto.stop()
    time.sleep(1.0)
    mosquitto.start()
    for agent in agents:
        wait_until(lambda agent=agent: agent.stats().connected, what="reconnect")  # type: ignore[misc]
        agent.stop()
    first, second = (b.delays for b in backoffs)
    assert first and second
    assert all(0.0 <= d <= 1.0 for d in first + second)
    # Full jitter: the same failures give different waits, so a fleet spreads out instead of stampeding.
    assert max(abs(a - b) for a, b in zip(first, second, strict=False)) > 0.05
    assert Backoff().next_delay() != Backoff().next_delay()  # unseeded default: every agent differs


def test_a_backlog_drains_at_the_configured_pace(fast_settings: Settings) -> None:
    settings = fast_settings(rate_hz=1.0, batch_max=10, max_msgs_per_s=50.0)
    queue = OutboundQueue(settings.state_dir)
    for _ in range(400):
        queue.put_reading(queue.next_seq, 1_800_000_000.0, PUMP_VALUES)
    queue.close()
    agent = Agent(settings)
    started = time.monotonic()
    agent.start()
    wait_until(lambda: agent.stats().readings_acked >= 400, what="the backlog drained")
    took = time.monotonic() - started
    agent.stop()
    # 40 messages at 50/s with a burst of 10: at least (40 - 10) / 50 = 0.6 s, and not much more.
    assert 0.55 <= took < 5.0


def test_sigterm_with_the_broker_away_keeps_every_reading_on_disk(
    mosquitto: MosquittoBroker, tmp_path: Path, observe: Callable[..., Observer]
) -> None:
    observe(confirm=True)  # as the cloud
    state = tmp_path / "state"
    proc = edge_cli("run", "--device-id", "pump-001", "--broker", mosquitto.url, "--rate", "50",
                    "--state-dir", str(state), "--model", "none", "--publish-interval", "0.2",
                    "--flush-timeout", "0.5")
    try:
        wait_until(lambda: acked(state) >= 10, timeout_s=30, what="the agent streaming")
        mosquitto.stop()
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "flushed=False" in err
    final = status_json(state)
    sampled, confirmed, depth, dropped = (int(final[k]) for k in (  # type: ignore[call-overload]
        "readings_sampled", "readings_confirmed", "reading_depth", "dropped"))
    assert final["running"] is False and depth > 0 and confirmed >= 10 and dropped == 0
    assert sampled == confirmed + depth  # nothing sampled went missing on the way down
