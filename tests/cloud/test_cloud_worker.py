"""The ingest worker on PostgreSQL: poison messages and store outages, acknowledgements held or given."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from cloudtest_support import T0, anomaly, raw, telemetry, wait_until

from cloud.ingest.handler import MessageHandler
from cloud.ingest.stats import IngestCounters
from cloud.ingest.subscriber import Delivery
from cloud.ingest.worker import IngestWorker
from cloud.maintenance.rules import PersistentAnomalyRule
from cloud.store.database import Database
from cloud.store.schema import ensure_schema
from cloud.store.timeseries import SqlTimeSeriesStore
from contract.backoff import Backoff
from contract.clock import ManualClock

pytestmark = pytest.mark.postgres
ADMIN_URL = os.environ.get("PAAS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


class Acks:
    """Collects the deliveries the worker acknowledges (what the MQTT client would PUBACK)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.mids: list[int] = []

    def __call__(self, delivery: Delivery) -> None:
        with self._lock:
            self.mids.append(delivery.mid)


@pytest.fixture
def pg_handler(postgres_url: str) -> Iterator[tuple[MessageHandler, IngestCounters, SqlTimeSeriesStore]]:
    database, timeseries = Database(postgres_url), SqlTimeSeriesStore(postgres_url)
    try:
        ensure_schema(database)
        timeseries.create_schema()
        counters = IngestCounters()
        handler = MessageHandler(database, timeseries, PersistentAnomalyRule(3, 120.0), ManualClock(T0), counters)
        yield handler, counters, timeseries
    finally:
        timeseries.close()
        database.close()


def deliveries(messages: list[tuple[str, bytes]]) -> list[Delivery]:
    return [Delivery(topic, payload, mid, 1, 0) for mid, (topic, payload) in enumerate(messages, start=1)]


def _refuse_events_of(postgres_url: str, device_id: str) -> None:
    """A database-side refusal: a trigger that rejects one device's events (the wire accepts them)."""
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(
                "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.device_id = '{device_id}' THEN RAISE EXCEPTION 'refused by policy'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            ))
            conn.execute(sa.text(
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_poison()"
            ))
    finally:
        engine.dispose()


def test_a_message_the_database_refuses_is_rejected_alone_and_acknowledged(
    pg_handler: tuple[MessageHandler, IngestCounters, SqlTimeSeriesStore], postgres_url: str
) -> None:
    handler, counters, timeseries = pg_handler
    # Valid on the wire, but the database refuses it: the whole batch fails, then only this one.
    _refuse_events_of(postgres_url, "pump-poison")
    poison = anomaly("pump-poison", T0, is_anomaly=False)
    acks = Acks()
    worker = IngestWorker(handler, acks, batch_max=100, linger_s=0.2, backoff=Backoff(0.01, 0.05))
    batch = deliveries([raw(telemetry("pump-1", 0, 10)), raw(poison), raw(telemetry("pump-2", 0, 10))])
    worker.start()
    try:
        for delivery in batch:
            worker.submit(delivery)
        wait_until(lambda: len(acks.mids) == 3, what="all three acknowledged")
    finally:
        worker.stop()
    assert sorted(acks.mids) == [1, 2, 3]
    assert counters.snapshot().rejected == {"store_error": 1}
    assert (timeseries.count("pump-1"), timeseries.count("pump-2")) == (10, 10)


def test_while_the_database_is_gone_nothing_is_acknowledged_and_it_is_stored_once_it_is_back(
    pg_handler: tuple[MessageHandler, IngestCounters, SqlTimeSeriesStore], postgres_url: str
) -> None:
    handler, counters, timeseries = pg_handler
    acks = Acks()
    worker = IngestWorker(handler, acks, batch_max=100, linger_s=0.01, backoff=Backoff(0.05, 0.2))
    name = postgres_url.rsplit("/", 1)[1]
    parked = f"parked_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    worker.start()
    try:
        rename(admin, name, parked)  # the database disappears, its connections cut
        worker.submit(deliveries([raw(telemetry("pump-1", 0, 10))])[0])
        wait_until(lambda: not handler.stores_reachable(), what="the outage")
        time.sleep(0.5)
        assert acks.mids == []
        rename(admin, parked, name)
        wait_until(lambda: acks.mids == [1], what="stored after the database came back")
    finally:
        worker.stop()
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            rename(admin, parked, name)
        admin.dispose()
    assert timeseries.count("pump-1") == 10
    assert counters.snapshot().rejected == {}


def rename(admin: sa.Engine, old: str, new: str) -> None:
    with admin.connect() as conn:
        conn.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db"), {"db": old}
        )
        conn.execute(sa.text(f'ALTER DATABASE "{old}" RENAME TO "{new}"'))
