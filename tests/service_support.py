"""Real services for tests, started or found, never mocked: a private Mosquitto, and what to do when one is missing.

A test that needs a service it cannot get is skipped on a developer's machine and
fails under CI=true, so a green CI always means the service was really exercised.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cloud.broker import MosquittoBroker, free_port

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing_service(reason: str) -> None:
    """Skip locally, fail in CI: a required service is not there."""
    if IN_CI:
        pytest.fail(f"required service missing under CI=true: {reason}", pytrace=False)
    pytest.skip(reason)


@contextmanager
def private_mosquitto(data_dir: Path) -> Iterator[MosquittoBroker]:
    """A private Mosquitto on a free port with the project's broker config, killed afterwards."""
    if not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
        missing_service("the mosquitto binary is not installed (apt-get install mosquitto)")
    broker = MosquittoBroker(port=free_port(), data_dir=data_dir / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()
