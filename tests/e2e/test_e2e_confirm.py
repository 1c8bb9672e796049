"""Nothing the broker acknowledged is lost (issue 9, item 1): the agent keeps each reading until the cloud
confirms it stored it, and sends again what stays unconfirmed, so a broker that crashes and loses what it
acknowledged, or a broker with no cloud behind it, costs re-sends, never readings.

Real Mosquitto (killed with SIGKILL: what it took since its last autosave is gone), real CloudService, real
Agent. Each test ends with every sampled reading stored exactly once (count, no gap) and an empty outbox.
"""

from __future__ import annotations

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
CONFIRM_TIMEOUT_S = 3.0  # short, so the test does not wait the 60 s default for the re-sends


@pytest.fixture
def agents(mosquitto: MosquittoBroker, tmp_path: Path) -> Iterator[Callable[[str], Agent]]:
    started: list[Agent] = []

    def start(device_id: str) -> Agent:
        agent = Agent(AgentSettings(
            device_id=device_id, broker_url=mosquitto.url, sensor="sim:pump", rate_hz=RATE_HZ,
            publish_interval_s=0.2, state_dir=tmp_path / "edge" / device_id, model_path=None,
            confirm_timeout_s=CONFIRM_TIMEOUT_S,
        ))
        agent.start()
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop(flush_timeout_s=0.5)  # no-op for those a test stopped


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.1)


def stop_and_check(agent: Agent, settings: CloudSettings, device_id: str) -> None:
    """Stop the agent once the cloud confirmed everything; the cloud holds each sampled reading once."""
    agent.stop(flush_timeout_s=90)  # a stop waits for the last confirmations
    stats = agent.stats()
    assert stats.queue_depth == 0, f"{stats.unconfirmed_depth} rows never confirmed"
    assert stats.readings_confirmed == stats.readings_sampled > 0
    store = RawReadings(settings.tsdb_url)
    try:
        seqs = store.first(device_id, 10**6).seqs
    finally:
        store.close()
    assert len(seqs) == stats.readings_sampled, "readings missing or stored twice"
    assert np.array_equal(seqs, np.arange(1, stats.readings_sampled + 1)), "a gap in the stored sequence"


def test_a_broker_killed_mid_stream_loses_no_reading_it_acknowledged(
    mosquitto: MosquittoBroker, cloud_settings: CloudSettings, agents: Callable[[str], Agent]
) -> None:
    with CloudService(cloud_settings):
        agent = agents("pump-101")
        wait_for(lambda: agent.stats().readings_confirmed >= 20, "the cloud confirming the stream")
        time.sleep(1.0)
        mosquitto.kill()  # a power cut of the broker host, mid-stream
        time.sleep(3.0)  # the agent samples into its outbox meanwhile
        mosquitto.start()  # the ingest reconnects on its own; its session may be gone
        wait_for(lambda: agent.stats().connected, "the agent reconnected")
        time.sleep(2.0)  # streaming after the restart
        stop_and_check(agent, cloud_settings, "pump-101")


def test_a_power_cut_of_the_host_of_broker_and_cloud_loses_nothing(
    mosquitto: MosquittoBroker, cloud_settings: CloudSettings, agents: Callable[[str], Agent]
) -> None:
    with CloudService(cloud_settings):
        agent = agents("pump-102")
        wait_for(lambda: agent.stats().readings_confirmed >= 20, "the cloud confirming the stream")
        mosquitto.kill()
    time.sleep(3.0)
    mosquitto.start()  # the broker comes back first: the agent sends into a broker with no cloud behind it
    wait_for(lambda: agent.stats().connected, "the agent reconnected")
    time.sleep(3.0)
    with CloudService(cloud_settings):
        stop_and_check(agent, cloud_settings, "pump-102")


def test_what_the_broker_acknowledged_while_no_cloud_ran_is_stored_once_it_comes_up(
    cloud_settings: CloudSettings, agents: Callable[[str], Agent]
) -> None:
    agent = agents("pump-103")  # the cloud has never subscribed: the broker acknowledges and drops everything
    wait_for(lambda: agent.stats().readings_acked >= 40, "readings acknowledged by the broker")
    stats = agent.stats()
    assert stats.readings_confirmed == 0 and stats.unconfirmed_depth >= 40  # kept, not deleted at the PUBACK
    time.sleep(2 * CONFIRM_TIMEOUT_S)  # re-sends into the void meanwhile
    with CloudService(cloud_settings):
        wait_for(lambda: agent.stats().readings_confirmed >= 40, "the first readings stored after re-sends")
        stop_and_check(agent, cloud_settings, "pump-103")
