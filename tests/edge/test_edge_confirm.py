"""End-to-end confirmation on a real Mosquitto: rows stay after the PUBACK until the cloud confirms them.

The cloud's part is played by plain MQTT clients (`edge_testkit.Observer`): the
`cloud_stand_in` confirms what it receives unless told not to, and a test publishes
Confirms itself where it needs to say exactly what the cloud has.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from edge_testkit import Observer, wait_until

from contract.wire import Confirm, Event, TelemetryBatch, Topic, TopicKind, Usage
from edge.agent import Agent
from edge.queue import DB_NAME, read_stats
from edge.settings import AgentSettings
from edge.status import status_report

pytestmark = pytest.mark.mosquitto

Settings = Callable[..., AgentSettings]
CONFIRM_TOPIC = str(Topic("demo", "pump-001", TopicKind.CONFIRM))


def kept_seqs(state_dir: Path) -> list[int]:
    """The reading seqs in the outbox now, read beside the running agent."""
    conn = sqlite3.connect(f"file:{state_dir / DB_NAME}?mode=ro", uri=True)
    try:
        return [int(row[0]) for row in conn.execute("SELECT seq FROM readings ORDER BY seq")]
    finally:
        conn.close()


def test_rows_stay_after_the_puback_until_the_cloud_confirms_them(
    fast_settings: Settings, cloud_stand_in: Observer, observe: Callable[..., Observer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    cloud_stand_in.confirm = False  # the cloud has stored nothing yet
    cloud = observe(client_id="cloud")
    settings = fast_settings(rate_hz=20.0)
    agent = Agent(settings)
    agent.start()
    try:
        wait_until(lambda: agent.stats().readings_acked >= 20, what="20 readings acknowledged by the broker")
        stats = agent.stats()
        assert stats.readings_confirmed == 0 and stats.unconfirmed_depth >= 20
        assert kept_seqs(settings.state_dir)[0] == 1  # the broker's PUBACK did not remove it
        install = stats.install_id
        cloud.publish(Confirm(tenant="demo", device_id="pump-001", ts=time.time(), install="f" * 32,
                              readings=((1, 15),)))  # a previous install of this device: not these rows
        cloud.publish_raw(CONFIRM_TOPIC, b"{not json")
        cloud.publish_raw(CONFIRM_TOPIC, b'{"v":1,"type":"confirm","message_id":"m1","tenant":"demo",'
                                         b'"device_id":"pump-001","ts":"2027-01-01T00:00:00Z","readings":[[9,2]]}')
        cloud.publish(Confirm(tenant="demo", device_id="pump-001", ts=time.time(), install=install,
                              readings=((1, 10),)))  # delivered after the three above (one publisher, in order)
        wait_until(lambda: agent.stats().readings_confirmed == 10, what="the confirmation of 1-10")
        assert kept_seqs(settings.state_dir)[0] == 11  # neither the other install nor a malformed one removed any
        report = status_report("pump-001", settings.state_dir)
        assert report["readings_confirmed"] == 10 and report["install_id"] == install
        assert report["readings_acked"] >= 20 and report["unconfirmed_depth"] >= 10  # type: ignore[operator]
    finally:
        agent.stop(flush_timeout_s=0.2)
    final = read_stats(settings.state_dir)
    assert final.readings_sampled == final.readings_confirmed + final.reading_depth  # confirmed or kept, no third way
    assert "event=confirm_ignored" in caplog.text and caplog.text.count("event=confirm_refused") == 2


def test_rows_the_cloud_does_not_confirm_are_sent_again_after_the_timeout(
    fast_settings: Settings, cloud_stand_in: Observer, observe: Callable[..., Observer]
) -> None:
    cloud_stand_in.confirm = False  # the broker acknowledges, the cloud stores nothing
    observer = observe()
    agent = Agent(fast_settings(rate_hz=20.0, confirm_timeout_s=0.5))
    agent.start()
    try:
        wait_until(lambda: observer.seqs("pump-001").count(1) >= 2, what="seq 1 sent again")
        seqs = observer.seqs("pump-001")
        assert next(s for i, s in enumerate(seqs) if s in seqs[:i]) == 1  # the oldest goes out again first
        assert agent.stats().readings_confirmed == 0
        cloud_stand_in.confirm = True  # the cloud is back: it stores (and confirms) what it receives from now on
        wait_until(lambda: agent.stats().readings_confirmed > 40, what="confirmations")
    finally:
        agent.stop()
    stats = agent.stats()
    n = stats.readings_sampled
    assert (stats.readings_acked, stats.readings_confirmed, stats.queue_depth) == (n, n, 0)
    assert sorted(set(observer.seqs("pump-001"))) == list(range(1, n + 1))


def test_every_message_carries_the_outbox_install_and_a_lost_state_dir_starts_a_new_one(
    fast_settings: Settings, observe: Callable[..., Observer], pump_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    observer = observe()
    settings = fast_settings(model_path=pump_model, fault="bearing_wear@0.3,ramp=0.3")
    first = Agent(settings)
    first.start()
    wait_until(lambda: first.stats().events_sampled >= 2, what="anomaly events")
    first.stop()  # with a usage report
    install = first.stats().install_id
    sent = [m for m in observer.all() if isinstance(m, TelemetryBatch | Event | Usage)]
    assert {type(m) for m in sent} == {TelemetryBatch, Event, Usage}
    assert {m.install for m in sent} == {install} and len(install) == 32
    shutil.rmtree(settings.state_dir)  # the device's SD card is replaced
    caplog.set_level(logging.INFO, logger="edge.agent")
    second = Agent(settings)
    second.start()
    wait_until(lambda: second.stats().readings_confirmed >= 5, what="the new install's readings")
    second.stop()
    renewed = second.stats().install_id
    assert renewed not in ("", install) and f"install={renewed}" in caplog.text
    batches = [m for m in observer.telemetry("pump-001") if m.install == renewed]
    assert batches[0].readings[0].seq == 1  # numbered from 1 again, under its own install
