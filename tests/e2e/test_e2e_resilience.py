"""Nothing is lost: through a broker restart, an agent killed with SIGKILL and a cloud
restart, the cloud ends with every reading exactly once (count and sequence check)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from cloud.broker import MosquittoBroker
from cloud.server import CloudService
from cloud.settings import CloudSettings
from cloud.store.raw_readings import RawReadings
from edge.agent import Agent
from edge.settings import AgentSettings

RATE_HZ = 20.0


@pytest.fixture
def cloud(cloud_settings: CloudSettings) -> Iterator[CloudService]:
    with CloudService(cloud_settings) as service:
        yield service


def _agent(device_id: str, broker: MosquittoBroker, tmp: Path) -> Agent:
    return Agent(AgentSettings(
        device_id=device_id, broker_url=broker.url, sensor="sim:pump", rate_hz=RATE_HZ,
        publish_interval_s=0.2, state_dir=tmp / "edge" / device_id, model_path=None,
    ))


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _assert_stored_exactly_once(settings: CloudSettings, device_id: str, sampled: int) -> None:
    """The store holds `sampled` readings of the device, with no gap in their sequence numbers."""
    store = RawReadings(settings.tsdb_url)
    try:
        _wait_for(lambda: len(store.first(device_id, 10**6)) >= sampled, f"{sampled} readings of {device_id}")
        seqs = store.first(device_id, 10**6).seqs
    finally:
        store.close()
    assert len(seqs) == sampled
    assert np.array_equal(seqs, np.arange(seqs[0], seqs[0] + sampled)), "a gap in the stored sequence"


def test_broker_restart_loses_nothing(
    mosquitto: MosquittoBroker, cloud: CloudService, cloud_settings: CloudSettings, tmp_path: Path
) -> None:
    agent = _agent("pump-001", mosquitto, tmp_path)
    agent.start()
    time.sleep(2.0)
    mosquitto.stop()  # the agent keeps sampling into its outbox meanwhile
    time.sleep(3.0)
    mosquitto.start()
    time.sleep(3.0)
    agent.stop(flush_timeout_s=30)
    stats = agent.stats()
    assert stats.queue_depth == 0
    assert stats.readings_sampled >= 7 * RATE_HZ * 0.7
    _assert_stored_exactly_once(cloud_settings, "pump-001", stats.readings_sampled)


def test_cloud_restart_loses_nothing(mosquitto: MosquittoBroker, cloud_settings: CloudSettings, tmp_path: Path) -> None:
    agent = _agent("pump-002", mosquitto, tmp_path)
    with CloudService(cloud_settings):
        agent.start()
        time.sleep(2.0)
    time.sleep(3.0)  # the cloud is down: the broker keeps its persistent session's messages
    with CloudService(cloud_settings):
        time.sleep(2.0)
        agent.stop(flush_timeout_s=30)
        _assert_stored_exactly_once(cloud_settings, "pump-002", agent.stats().readings_sampled)


def _edge(*args: str) -> list[str]:
    return [sys.executable, "-m", "edge", *args]


def test_agent_killed_with_sigkill_loses_nothing(
    mosquitto: MosquittoBroker, cloud: CloudService, cloud_settings: CloudSettings, tmp_path: Path
) -> None:
    state = tmp_path / "edge" / "pump-003"
    run = ["run", "--device-id", "pump-003", "--broker", mosquitto.url, "--sensor", "sim:pump",
           "--rate", str(RATE_HZ), "--model", "none", "--state-dir", str(state)]
    first = subprocess.Popen(_edge(*run), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(4.0)
    finally:
        first.send_signal(signal.SIGKILL)  # mid-stream, no chance to flush
        first.wait(timeout=10)
    second = subprocess.run(_edge(*run, "--duration", "3"), capture_output=True, text=True, timeout=60, check=False)
    assert second.returncode == 0, second.stderr[-2000:]
    status = subprocess.run(
        _edge("status", "--device-id", "pump-003", "--state-dir", str(state), "--json"),
        capture_output=True, text=True, timeout=30, check=True,
    )
    local = json.loads(status.stdout.strip().splitlines()[-1])
    assert local["queue_depth"] == 0
    assert local["readings_acked"] == local["readings_sampled"] > 4 * RATE_HZ * 0.5
    _assert_stored_exactly_once(cloud_settings, "pump-003", local["readings_sampled"])
