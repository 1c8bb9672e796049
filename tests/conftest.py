"""Shared fixtures: real services, started or found, never mocked.

A test that needs a service it cannot get is skipped on a developer's machine and
fails under CI=true, so a green CI always means the service was really exercised.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.broker import MosquittoBroker, free_port

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
POSTGRES_ADMIN_URL = os.environ.get("PAAS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def missing_service(reason: str) -> None:
    """Skip locally, fail in CI: a required service is not there."""
    if IN_CI:
        pytest.fail(f"required service missing under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A private Mosquitto on a free port, with the project's broker config."""
    if not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
        missing_service("the mosquitto binary is not installed (apt-get install mosquitto)")
    broker = MosquittoBroker(port=free_port(), data_dir=tmp_path / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    try:
        import sqlalchemy as sa

        admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        missing_service(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc}")
    name = f"paas_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
