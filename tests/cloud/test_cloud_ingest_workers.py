"""Horizontal ingest: named ingest workers share the load through an MQTT shared subscription, each under its own
persistent session, over one pair of stores; the store's dedupe holds across them and each confirms what it committed.

Through a real Mosquitto and both SQL engines; the workers are `CloudService`s in the ingest role, in this process
(the e2e test runs them as separate processes and kills one).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from cloudtest_support import TENANT, Publisher, anomaly, service_settings, state, telemetry, wait_until
from ingesttest_support import ConfirmListener

from cloud.broker import MosquittoBroker
from cloud.errors import CloudError, ConfigError
from cloud.ingest.stats import IngestStats
from cloud.ingest.subscriber import ingest_subscriptions
from cloud.server import CloudService, ServiceRole
from cloud.settings import load_settings
from cloud.store.database import Database

DEVICES = [f"pump-{i}" for i in range(6)]
MESSAGES_PER_DEVICE, READINGS_PER_MESSAGE = 15, 10


def _worker(mosquitto: MosquittoBroker, tmp_path: Path, sql_url: str, name: str) -> CloudService:
    settings = service_settings(
        mosquitto.url, tmp_path, db_url=sql_url, tsdb_url=sql_url.replace("store.db", "timeseries.db"),
        ingest_worker=name,
    )
    service = CloudService(settings, role=ServiceRole.INGEST)
    service.start()
    return service


@pytest.fixture
def workers(mosquitto: MosquittoBroker, tmp_path: Path, sql_url: str) -> Iterator[list[CloudService]]:
    # One after the other: the first creates the schema.
    started: list[CloudService] = []
    try:
        for name in ("a", "b"):
            started.append(_worker(mosquitto, tmp_path, sql_url, name))
        yield started
    finally:
        for service in started:
            service.stop()


def _total(workers: list[CloudService], field: str) -> int:
    return sum(getattr(w.ingest_stats(), field) for w in workers)


def _stats(workers: list[CloudService]) -> list[IngestStats]:
    return [w.ingest_stats() for w in workers]


def test_a_named_worker_has_its_own_session_and_a_shared_subscription() -> None:
    one = load_settings()
    assert (one.ingest_session_id, one.ingest_share) == ("paas-cloud-ingest", None)
    named = load_settings(ingest_worker="b-2")
    assert named.ingest_session_id == "paas-cloud-ingest-b-2"
    topics = [topic for topic, _qos in ingest_subscriptions(named.ingest_share)]
    assert topics == [f"$share/paas-ingest/{topic}" for topic, _ in ingest_subscriptions(None)]
    assert all(qos == 1 for _topic, qos in ingest_subscriptions(named.ingest_share))
    with pytest.raises(ConfigError, match="PAAS_INGEST_WORKER"):
        load_settings(ingest_worker="a/b")  # '/' or '+' would change the topic filter


def test_two_workers_split_the_load_and_store_each_reading_once_when_everything_is_sent_twice(
    workers: list[CloudService], mosquitto: MosquittoBroker
) -> None:
    listeners = [ConfirmListener(mosquitto.url, TENANT, device) for device in DEVICES[:2]]
    publisher = Publisher(mosquitto.url)
    try:
        batches = [telemetry(device, 1 + m * READINGS_PER_MESSAGE, READINGS_PER_MESSAGE)
                   for m in range(MESSAGES_PER_DEVICE) for device in DEVICES]
        for device in DEVICES:
            publisher.message(state(device))
        for _copy in range(2):  # the second copy is what a device re-sends when it missed the confirmation
            for batch in batches:
                publisher.message(batch)
        sent = len(DEVICES) + 2 * len(batches)
        wait_until(lambda: _total(workers, "accepted") == sent, timeout_s=30, what="every message accepted")
        per_device = MESSAGES_PER_DEVICE * READINGS_PER_MESSAGE
        expected = len(DEVICES) * per_device
        assert _total(workers, "readings_stored") == expected, _stats(workers)
        assert _total(workers, "duplicate_readings") == expected, _stats(workers)
        assert workers[0].fleet_counts().readings_stored == expected
        # Round robin: each worker took a share, and each confirmed what it committed.
        assert all(stats.accepted > 0 for stats in _stats(workers)), _stats(workers)
        assert all(stats.confirmations_sent > 0 for stats in _stats(workers)), _stats(workers)
        for listener in listeners:
            wait_until(lambda listener=listener: listener.readings() == list(range(1, per_device + 1)),  # type: ignore[misc]
                       what=f"every reading confirmed on {listener.topic}")
    finally:
        publisher.close()
        for listener in listeners:
            listener.close()


def test_anomalies_of_one_device_on_two_workers_open_one_work_order_and_lose_no_event(
    workers: list[CloudService], mosquitto: MosquittoBroker, sql_url: str
) -> None:
    publisher = Publisher(mosquitto.url)
    try:
        now = time.time()
        for device in DEVICES:
            publisher.message(state(device))
        events = [anomaly(device, now - 30 + i) for i in range(6) for device in DEVICES]
        for event in events:
            publisher.message(event)
        sent = len(DEVICES) + len(events)
        wait_until(lambda: _total(workers, "accepted") == sent, timeout_s=30, what="every event accepted")
    finally:
        publisher.close()
    # A race on the one-open-order-per-asset index fails one worker's batch; retried alone, its event attaches.
    assert _total(workers, "events_stored") == len(events), _stats(workers)
    assert _total(workers, "dead_lettered") == 0, _stats(workers)
    assert _total(workers, "work_orders_opened") == len(DEVICES), _stats(workers)
    database = Database(sql_url)
    try:
        with database.session() as session:
            rows = session.execute(sa.text("SELECT device_id, count(*) FROM work_orders GROUP BY device_id")).all()
    finally:
        database.close()
    assert sorted(rows) == [(device, 1) for device in sorted(DEVICES)]


def test_the_api_role_serves_without_an_ingest_and_the_ingest_role_without_an_api(
    mosquitto: MosquittoBroker, tmp_path: Path, workers: list[CloudService]
) -> None:
    with pytest.raises(CloudError, match="not running"):
        _ = workers[0].api_url  # an ingest worker listens on no port
    settings = service_settings(mosquitto.url, tmp_path, db_url=workers[0].settings.db_url,
                                tsdb_url=workers[0].settings.tsdb_url)
    api = CloudService(settings, role=ServiceRole.API)
    api.start()
    try:
        health = httpx.get(f"{api.api_url}/healthz", timeout=10).json()
        assert health["status"] == "ok"
        assert health["broker_connected"] is None  # the ingest's link is the ingest processes' own
        publisher = Publisher(mosquitto.url)
        try:
            publisher.message(telemetry("pump-9", 1, 5))
            wait_until(lambda: _total(workers, "readings_stored") == 5, what="stored by a worker")
        finally:
            publisher.close()
        assert api.ingest_stats().accepted == 0  # the API process ingested nothing itself
        assert api.fleet_counts().readings_stored == 5  # ... and reads what the workers stored
    finally:
        api.stop()
