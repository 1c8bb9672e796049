"""An ingest outage on the shipped broker settings: the broker keeps a fleet's backlog, also through its restart.

The broker runs the dev profile (`python -m cloud broker-config --profile dev`), whose queue,
in-flight and persistence settings are the production profile's. The cloud subscribes once (its
persistent session), stops, and a fleet of 10 devices publishes 100,000 readings, QoS 1, each
message handed over on its PUBACK. Batches of 10 readings make 10,000 queued messages: ten
times what a stock Mosquitto keeps for an offline client (1,000, the rest dropped silently).
Restarted, the cloud must store every reading exactly once. benchmarks/broker_outage.py runs
the same with one reading per message (100,000 queued messages) and reports the timings.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud.broker import MosquittoBroker
from cloud.server import CloudService
from cloud.settings import CloudSettings
from cloud.store.raw_readings import RawReadings
from contract.channels import PUMP_CHANNELS
from contract.wire import ChannelRef, Reading, TelemetryBatch, encode, topic_of

pytestmark = pytest.mark.mosquitto

DEVICES = [f"pump-{n:03d}" for n in range(1, 11)]
READINGS_PER_DEVICE, BATCH = 10_000, 10
T0 = 1_800_000_000.0
PUMP = tuple(ChannelRef(c.name, c.unit) for c in PUMP_CHANNELS)


def batches(device_id: str, first: int, last: int) -> list[tuple[str, bytes]]:
    """Readings `first`..`last` (inclusive) of a device, as encoded messages of `BATCH` readings."""
    out = []
    for start in range(first, last + 1, BATCH):
        readings = tuple(Reading(seq, T0 + seq, tuple(float(seq % 97) + j for j in range(len(PUMP))))
                         for seq in range(start, min(start + BATCH, last + 1)))
        message = TelemetryBatch("acme", device_id, PUMP, readings, sent_at=T0 + readings[-1].seq)
        out.append((topic_of(message), encode(message)))
    return out


def publish_fleet(broker: MosquittoBroker, first: int, last: int) -> None:
    """Every device publishes its readings `first`..`last` at once (QoS 1) and waits for every PUBACK."""
    failures: list[str] = []

    def device(device_id: str) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"fleet-{device_id}", protocol=mqtt.MQTTv311)
        client.max_inflight_messages_set(100)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        try:
            sent = [client.publish(topic, payload, qos=1) for topic, payload in batches(device_id, first, last)]
            for info in sent:
                info.wait_for_publish(timeout=60)
            if not all(info.is_published() for info in sent):
                failures.append(device_id)
        finally:
            client.disconnect()
            client.loop_stop()

    threads = [threading.Thread(target=device, args=(d,)) for d in DEVICES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, f"not acknowledged by the broker: {failures}"


def wait_for_count(count: Callable[[], int], want: int, stall_s: float = 10.0) -> None:
    """Until `count()` reaches `want`; fail once it has not grown for `stall_s` (the rest is not coming)."""
    last, since = -1, time.monotonic()
    while (now := count()) < want:
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > stall_s:
            raise AssertionError(f"{now} of {want} readings stored, none more for {stall_s:.0f} s")
        time.sleep(0.1)


def settings(broker: MosquittoBroker, tmp_path: Path) -> CloudSettings:
    return CloudSettings(broker_url=broker.url, db_url=f"sqlite:///{tmp_path / 'cloud.db'}",
                         tsdb_url=f"sqlite:///{tmp_path / 'ts.db'}", port=0)


def assert_every_reading_stored_once(cloud: CloudService, settings: CloudSettings) -> None:
    total = len(DEVICES) * READINGS_PER_DEVICE
    wait_for_count(lambda: cloud.ingest_stats().readings_stored, total)
    stats = cloud.ingest_stats()
    assert (stats.readings_stored, stats.duplicate_readings, stats.rejected_total) == (total, 0, 0)
    store = RawReadings(settings.tsdb_url)
    try:
        for device_id in DEVICES:
            seqs = store.first(device_id, 2 * READINGS_PER_DEVICE).seqs
            assert np.array_equal(seqs, np.arange(1, READINGS_PER_DEVICE + 1)), f"{device_id}: missing or extra"
    finally:
        store.close()


def test_the_broker_keeps_a_fleets_100k_readings_while_the_ingest_is_down(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    cloud_settings = settings(mosquitto, tmp_path)
    cloud = CloudService(cloud_settings)
    cloud.start()  # the ingest's persistent session and its subscriptions now exist at the broker
    cloud.stop()
    publish_fleet(mosquitto, 1, READINGS_PER_DEVICE)
    with CloudService(cloud_settings) as restarted:
        assert_every_reading_stored_once(restarted, cloud_settings)


def test_the_backlog_survives_a_broker_restart_in_the_middle(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    cloud_settings = settings(mosquitto, tmp_path)
    cloud = CloudService(cloud_settings)
    cloud.start()
    cloud.stop()
    half = READINGS_PER_DEVICE // 2
    publish_fleet(mosquitto, 1, half)
    mosquitto.restart()  # graceful: Mosquitto saves its sessions and queues (persistence) and reloads them
    publish_fleet(mosquitto, half + 1, READINGS_PER_DEVICE)
    with CloudService(cloud_settings) as restarted:
        assert_every_reading_stored_once(restarted, cloud_settings)
