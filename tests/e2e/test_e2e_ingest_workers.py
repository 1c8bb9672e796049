"""Horizontal ingest, as separate processes: two `python -m cloud ingest --worker NAME` share a fleet's stream through
an MQTT shared subscription; one is killed with SIGKILL mid-stream. What the broker routed to it (in flight, and
queued in its persistent session while it was down) waits for it, and once it is back every reading is stored exactly
once (count and contiguous sequence numbers per device).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud.broker import MosquittoBroker
from cloud.settings import CloudSettings
from cloud.store.raw_readings import RawReadings
from cloud.store.timeseries import open_timeseries_store
from contract.channels import PUMP_CHANNELS
from contract.wire import ChannelRef, Reading, TelemetryBatch, encode, topic_of

TENANT = "acme"
DEVICES = [f"pump-{i:02d}" for i in range(20)]
MESSAGES, READINGS = 60, 20  # per device, per message
TOTAL = len(DEVICES) * MESSAGES * READINGS
PUMP = tuple(ChannelRef(c.name, c.unit) for c in PUMP_CHANNELS)
T0 = 1_800_000_000.0


class Worker:
    """`python -m cloud ingest --worker NAME` in its own process, its output in a file."""

    def __init__(self, name: str, settings: CloudSettings, log_dir: Path) -> None:
        self.name, self._settings, self._log = name, settings, log_dir / f"ingest-{name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        settings = self._settings
        command = [sys.executable, "-m", "cloud", "ingest", "--worker", self.name, "--broker", settings.broker_url,
                   "--db", settings.db_url, "--tsdb", settings.tsdb_url]
        env = {**os.environ, "PAAS_INGEST_LINGER_S": "0.02", "PAAS_INGEST_BATCH_MAX": "50"}
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        _wait_for(lambda: f"ingest paas-cloud-ingest-{self.name} from" in self._log.read_text(errors="replace")
                  or self._process is None or self._process.poll() is not None, f"worker {self.name} up")
        assert self._process.poll() is None, self._log.read_text(errors="replace")

    def kill(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)  # mid-batch, nothing flushed, nothing acknowledged
        self._process.wait(10)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def workers(cloud_settings: CloudSettings, tmp_path: Path) -> Iterator[list[Worker]]:
    pair = [Worker(name, cloud_settings, tmp_path) for name in ("a", "b")]
    try:
        for worker in pair:  # one after the other: the first creates the schema
            worker.start()
        yield pair
    finally:
        for worker in pair:
            worker.stop()


def _publish_fleet(broker: MosquittoBroker, seconds: float) -> None:
    """Every device's messages, interleaved, at QoS 1, spread over about `seconds`; returns once the broker has all."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fleet", protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(1000)
    url = urlsplit(broker.url)
    client.connect(url.hostname or "127.0.0.1", url.port or 1883)
    client.loop_start()
    try:
        sent = []
        for m in range(MESSAGES):
            for device in DEVICES:
                first = 1 + m * READINGS
                readings = tuple(Reading(s, T0 + s, tuple(float(s + j) for j in range(len(PUMP))))
                                 for s in range(first, first + READINGS))
                batch = TelemetryBatch(TENANT, device, PUMP, readings, sent_at=T0 + first + READINGS, install="i1")
                sent.append(client.publish(topic_of(batch), encode(batch), qos=1))
            time.sleep(seconds / MESSAGES)
        for info in sent:
            info.wait_for_publish(30)
    finally:
        client.disconnect()
        client.loop_stop()


def _stored(settings: CloudSettings) -> int:
    store = open_timeseries_store(settings.tsdb_url)
    try:
        return store.total()
    finally:
        store.close()


def test_a_worker_killed_mid_stream_loses_and_duplicates_nothing_once_it_is_back(
    workers: list[Worker], mosquitto: MosquittoBroker, cloud_settings: CloudSettings
) -> None:
    fleet = threading.Thread(target=_publish_fleet, args=(mosquitto, 2.0))
    fleet.start()
    time.sleep(0.8)
    workers[1].kill()
    fleet.join(60)
    assert not fleet.is_alive()
    # Mosquitto keeps routing b's share to b's session while b is down (checked: 2.0.11): it waits there, unacked.
    last = -1
    while (now := _stored(cloud_settings)) != last:
        last = now
        time.sleep(0.5)
    assert last < TOTAL, "the killed worker's share should wait for it at the broker"
    workers[1].start()  # the same name: the same session, its queue and its unacknowledged messages
    _wait_for(lambda: _stored(cloud_settings) == TOTAL, f"{TOTAL} readings stored", timeout_s=15)
    raw = RawReadings(cloud_settings.tsdb_url)
    try:
        for device in DEVICES:
            seqs = raw.first(device, 10**6).seqs
            assert list(seqs) == list(range(1, MESSAGES * READINGS + 1)), f"{device}: a gap or a duplicate"
    finally:
        raw.close()
    time.sleep(0.5)
    assert _stored(cloud_settings) == TOTAL  # nothing more trickled in: stored once each
