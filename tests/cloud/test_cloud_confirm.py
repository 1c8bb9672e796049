"""End-to-end confirmation, cloud side: after a batch commits, each device is told on its own confirm topic what of
it the cloud holds (stored, already stored, or kept as a dead letter), and never before the commit.

Through a real Mosquitto: the test publishes as a device would and listens on the device's confirm topic.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from cloudtest_support import PUMP, T0, TENANT, Publisher, anomaly, service_settings, state, telemetry, wait_until
from ingesttest_support import ConfirmListener

from cloud.broker import MosquittoBroker
from cloud.server import CloudService
from contract.wire import ChannelRef, Usage, encode, topic_of

UNITS = {"operating_hours": "h"}


def usage(seq: int, install: str, device: str = "pump-1") -> Usage:
    return Usage(TENANT, device, seq, T0 + 60 * seq, T0 + 60 * (seq - 1), T0 + 60 * seq, {"operating_hours": seq},
                 UNITS, install=install)


@pytest.fixture
def pump_1(mosquitto: MosquittoBroker) -> Iterator[ConfirmListener]:
    listener = ConfirmListener(mosquitto.url, TENANT, "pump-1")
    try:
        yield listener
    finally:
        listener.close()


def test_the_cloud_confirms_exactly_what_it_holds_per_device_and_install(
    cloud: CloudService, publisher: Publisher, pump_1: ConfirmListener, mosquitto: MosquittoBroker
) -> None:
    pump_2 = ConfirmListener(mosquitto.url, TENANT, "pump-2")
    volts = tuple(ChannelRef(c.name, "V" if c.name == "motor_temp" else c.unit) for c in PUMP)
    event, report = replace(anomaly("pump-1", T0 + 50), install="i1"), usage(1, "i1")
    try:
        publisher.message(state("pump-1"))
        for first in (1, 21, 100):
            publisher.message(replace(telemetry("pump-1", first, 20 if first < 100 else 10), install="i1"))
        publisher.message(event)
        publisher.message(report)
        publisher.message(replace(telemetry("pump-1", 200, 5, channels=volts), install="i1"))  # kept: a dead letter
        nan = encode(replace(telemetry("pump-1", 300, 3), install="i1")).replace(b'"values":[1.0', b'"values":[NaN')
        publisher.send(topic_of(telemetry("pump-1", 300)), nan)  # not JSON, yet its seqs can be read: kept too
        publisher.message(telemetry("pump-2", 1, 5))
        expected = [*range(1, 41), *range(100, 110), *range(200, 205), *range(300, 303)]
        wait_until(lambda: pump_1.readings("i1") == expected, what="pump-1's readings confirmed")
        wait_until(lambda: pump_1.events("i1") == {event.message_id}, what="its event confirmed")
        wait_until(lambda: pump_1.usage("i1") == {report.message_id}, what="its usage report confirmed")
        wait_until(lambda: pump_2.readings() == [1, 2, 3, 4, 5], what="pump-2's own confirmation")
        assert cloud.ingest_stats().dead_lettered == 2
        assert pump_1.readings("") == [] and pump_2.readings("i1") == []  # per install, per device, nothing else
        assert all(c.readings or c.events or c.usage for c in pump_1.confirms)  # the state message: no empty one
        assert {(c.tenant, c.device_id) for c in pump_1.confirms} == {(TENANT, "pump-1")}
    finally:
        pump_2.close()


def test_a_re_sent_batch_is_confirmed_again(
    cloud: CloudService, publisher: Publisher, pump_1: ConfirmListener
) -> None:
    batch = replace(telemetry("pump-1", 1, 10), install="i1")
    publisher.message(batch)
    wait_until(lambda: len(pump_1.confirms) == 1, what="the first confirmation")
    publisher.message(batch)  # the device did not get it in time, and sends again
    wait_until(lambda: len(pump_1.confirms) == 2, what="the re-send confirmed")
    assert [c.readings for c in pump_1.confirms] == [((1, 10),), ((1, 10),)]
    stats = cloud.ingest_stats()
    assert (stats.readings_stored, stats.duplicate_readings) == (10, 10)


def test_nothing_is_confirmed_while_the_database_refuses_writes_and_all_is_once_it_takes_them(
    mosquitto: MosquittoBroker, postgres_url: str, tmp_path: Path, publisher: Publisher, pump_1: ConfirmListener
) -> None:
    # Read-only, as a database that failed over to a replica is: it answers queries, refuses every write.
    service = CloudService(service_settings(mosquitto.url, tmp_path / "cloud", db_url=postgres_url))
    service.start()
    try:
        publisher.message(telemetry("pump-1", 1, 10))
        wait_until(lambda: pump_1.readings() == list(range(1, 11)), what="confirmed while the database works")
        read_only(postgres_url, True)
        publisher.message(telemetry("pump-1", 11, 10))
        wait_until(lambda: healthz(service).status_code == 503, timeout_s=30, what="/healthz reporting the stall")
        health = healthz(service).json()
        assert health["database"] is True and "read-only" in health["ingest_problem"]
        assert pump_1.readings() == list(range(1, 11))  # the failed batch: not confirmed
        read_only(postgres_url, False)
        wait_until(lambda: pump_1.readings() == list(range(1, 21)), timeout_s=60, what="confirmed once it writes")
        wait_until(lambda: healthz(service).status_code == 200, what="/healthz healthy again")
        assert service.fleet_counts().readings_stored == 20
        assert service.ingest_stats().rejected == {}
    finally:
        service.stop()
        read_only(postgres_url, False)


def healthz(service: CloudService) -> httpx.Response:
    return httpx.get(f"{service.api_url}/healthz", timeout=10)


def read_only(url: str, on: bool) -> None:
    """Make the database read-only (or not) for every new session, and end the current ones so they reconnect."""
    name = sa.make_url(url).database
    engine = sa.create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {json.dumps(on)}'))
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db "
                                 "AND pid <> pg_backend_pid()"), {"db": name})
    finally:
        engine.dispose()
