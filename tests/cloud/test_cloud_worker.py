"""The ingest worker on PostgreSQL: poison messages and store outages, acknowledgements held or given.

A constraint or data error is the message's fault: it is kept as a dead letter and acknowledged. Any
other database error is the database's: nothing is acknowledged until the database takes the batch.
"""

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
from cloud.store.dead_letters import list_dead_letters
from cloud.store.schema import ensure_schema
from cloud.store.scope import Scope
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


def _refuse_events_of(postgres_url: str, device_id: str, errcode: str = "check_violation") -> None:
    """A database-side refusal: a trigger that rejects one device's events (the wire accepts them) with `errcode`:
    a check violation is a constraint error (the message's fault); e.g. read_only_sql_transaction is not."""
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(
                "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.device_id = '{device_id}' THEN RAISE EXCEPTION 'refused by policy' USING ERRCODE = "
                f"'{errcode}'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            ))
            conn.execute(sa.text(
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_poison()"
            ))
    finally:
        engine.dispose()


def test_a_message_the_database_refuses_is_kept_as_a_dead_letter_alone_and_acknowledged(
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
    assert counters.snapshot().rejected == {"store_constraint": 1}
    assert counters.snapshot().dead_lettered == 1
    assert (timeseries.count("pump-1"), timeseries.count("pump-2")) == (10, 10)
    database = Database(postgres_url)
    try:
        with database.session() as session:
            [letter] = list_dead_letters(session, Scope.everything())
            assert (letter.reason, letter.device_id, letter.message_id) == ("store_constraint", "pump-poison",
                                                                            poison.message_id)
            assert "refused by policy" in letter.detail and letter.payload == raw(poison)[1]
    finally:
        database.close()


def test_a_database_that_refuses_every_write_is_transient_nothing_is_acknowledged_until_it_takes_them(
    pg_handler: tuple[MessageHandler, IngestCounters, SqlTimeSeriesStore], postgres_url: str
) -> None:
    # The database answers queries but refuses writes (as a read-only replica after a failover does): before,
    # answering "SELECT 1" made the message a poison one, thrown away; now it waits, unacknowledged.
    handler, counters, timeseries = pg_handler
    _refuse_events_of(postgres_url, "pump-9", errcode="read_only_sql_transaction")
    acks = Acks()
    worker = IngestWorker(handler, acks, batch_max=100, linger_s=0.01, backoff=Backoff(0.01, 0.05))
    worker.start()
    try:
        for delivery in deliveries([raw(telemetry("pump-9", 0, 10)), raw(anomaly("pump-9", T0))]):
            worker.submit(delivery)
        wait_until(lambda: worker.problem is not None, what="the problem reported")
        assert "refused by policy" in (worker.problem or "")
        time.sleep(0.5)
        assert acks.mids == []
        assert handler.stores_reachable()  # it answers: only the writes fail
        engine = sa.create_engine(postgres_url)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TRIGGER refuse_poison ON events"))
        engine.dispose()
        wait_until(lambda: sorted(acks.mids) == [1, 2], what="both stored once the database takes writes")
        wait_until(lambda: worker.problem is None, what="the problem cleared")
    finally:
        worker.stop()
    assert counters.snapshot().rejected == {}
    assert (timeseries.count("pump-9"), counters.snapshot().events_stored) == (10, 1)


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
