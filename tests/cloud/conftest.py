"""Fixtures of the cloud tests: stores on SQLite and PostgreSQL, a running service, a publisher."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from authtest_support import RoleClients, service_database
from cloudtest_support import T0, TENANT, Publisher, Stores, service_settings

from cloud.auth.roles import Role
from cloud.broker import MosquittoBroker
from cloud.ingest.handler import MessageHandler
from cloud.ingest.stats import IngestCounters
from cloud.maintenance.rules import PersistentAnomalyRule
from cloud.server import CloudService
from cloud.store.database import Database
from cloud.store.schema import ensure_schema
from cloud.store.timeseries import SqlTimeSeriesStore
from contract.clock import Clock, ManualClock, SystemClock


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database on each engine the stores support (PostgreSQL via the shared fixture)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(sql_url: str) -> Iterator[SqlTimeSeriesStore]:
    """A time-series store, its schema created, on each engine (a module may name another `store`)."""
    ts = SqlTimeSeriesStore(sql_url)
    ts.create_schema()
    try:
        yield ts
    finally:
        ts.close()


@pytest.fixture
def cloud_clock() -> Clock:
    """The clock of the `cloud` fixture's service (a test module may override it with a ManualClock)."""
    return SystemClock()


@pytest.fixture
def cloud(mosquitto: MosquittoBroker, tmp_path: Path, cloud_clock: Clock) -> Iterator[CloudService]:
    """The cloud service on SQLite files, ingesting from a private Mosquitto, API on a free port."""
    service = CloudService(service_settings(mosquitto.url, tmp_path / "cloud"), clock=cloud_clock)
    service.start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def clients(cloud: CloudService) -> Iterator[RoleClients]:
    """Clients of the running service's API for each role of the tenant the tests' messages come from."""
    with RoleClients(service_database(cloud), cloud.api_url, TENANT) as role_clients:
        yield role_clients


@pytest.fixture
def api(clients: RoleClients) -> httpx.Client:
    """A viewer: reads the tenant's fleet, changes nothing."""
    return clients(Role.VIEWER)


@pytest.fixture
def publisher(mosquitto: MosquittoBroker) -> Iterator[Publisher]:
    pub = Publisher(mosquitto.url)
    try:
        yield pub
    finally:
        pub.close()


@pytest.fixture
def stores(sql_url: str) -> Iterator[Stores]:
    database = Database(sql_url)
    # SQLite: one file per store, as in production (one writer per file); PostgreSQL: one database.
    timeseries = SqlTimeSeriesStore(sql_url.replace("store.db", "timeseries.db"))
    try:
        ensure_schema(database)
        timeseries.create_schema()
        counters, clock = IngestCounters(), ManualClock(T0 + 3600)
        handler = MessageHandler(database, timeseries, PersistentAnomalyRule(3, 120.0), clock, counters)
        yield Stores(database, timeseries, handler, counters, clock)
    finally:
        timeseries.close()
        database.close()
