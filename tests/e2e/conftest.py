"""Fixtures of the end-to-end tests: the cloud's settings over a private Mosquitto and SQLite files."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.broker import MosquittoBroker
from cloud.settings import CloudSettings


@pytest.fixture
def cloud_settings(mosquitto: MosquittoBroker, tmp_path: Path) -> CloudSettings:
    return CloudSettings(
        broker_url=mosquitto.url, db_url=f"sqlite:///{tmp_path / 'cloud.db'}",
        tsdb_url=f"sqlite:///{tmp_path / 'ts.db'}", port=0,
    )
