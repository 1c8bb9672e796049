"""Fixtures of the cloud tests: stores on SQLite and PostgreSQL, a running service, a publisher."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cloudtest_support import T0, Publisher, Stores, service_settings

from cloud.broker import MosquittoBroker
from cloud.ingest.handler import MessageHandler
from cloud.ingest.stats import IngestCounters
from cloud.maintenance.rules import PersistentAnomalyRule
from cloud.server import CloudService
from cloud.store.database import Database
from cloud.store.tables import METADATA
from cloud.store.timeseries import SqlTimeSeriesStore
from contract.clock import ManualClock


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database on each engine the stores support (PostgreSQL via the shared fixture)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def cloud(mosquitto: MosquittoBroker, tmp_path: Path) -> Iterator[CloudService]:
    """The cloud service on SQLite files, ingesting from a private Mosquitto, API on a free port."""
    service = CloudService(service_settings(mosquitto.url, tmp_path / "cloud"))
    service.start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def api(cloud: CloudService) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{cloud.api_url}/api/v1", timeout=10.0) as client:
        yield client


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
        database.create_schema(METADATA)
        timeseries.create_schema()
        counters, clock = IngestCounters(), ManualClock(T0 + 3600)
        handler = MessageHandler(database, timeseries, PersistentAnomalyRule(3, 120.0), clock, counters)
        yield Stores(database, timeseries, handler, counters, clock)
    finally:
        timeseries.close()
        database.close()
