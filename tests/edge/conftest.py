"""Fixtures of the edge tests: real artifacts, quick agent settings, an observer of the broker, a stand-in cloud."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from edge_testkit import Observer, build_model, healthy_center
from updatetest_support import ArtifactServer, CloudKey, artifact_server

from cloud.broker import MosquittoBroker
from edge.settings import AgentSettings


@pytest.fixture
def pump_model(tmp_path: Path) -> Path:
    """A model fitted to the healthy start of the simulated pump "pump-001" (the default test device)."""
    return build_model(tmp_path / "artifacts" / "test-pump.onnx", center=healthy_center("pump-001"))


@pytest.fixture
def observe(mosquitto: MosquittoBroker) -> Iterator[Callable[..., Observer]]:
    """Open observers on the test broker; all are closed at the end."""
    opened: list[Observer] = []

    def open_observer(**kwargs: Any) -> Observer:
        observer = Observer(mosquitto.url, **kwargs)
        opened.append(observer)
        return observer

    yield open_observer
    for observer in opened:
        observer.close()


@pytest.fixture
def cloud_stand_in(mosquitto: MosquittoBroker) -> Iterator[Observer]:
    """The cloud's part in end-to-end confirmation: a persistent subscriber that confirms what it receives.

    An agent keeps every row until the cloud confirms it, and its stop waits for that;
    set `.confirm = False` to play a cloud that stores nothing.
    """
    observer = Observer(mosquitto.url, client_id="cloud-stand-in", persistent=True, confirm=True)
    yield observer
    observer.close()


@pytest.fixture
def fast_settings(tmp_path: Path, mosquitto: MosquittoBroker, cloud_stand_in: Observer) -> Callable[..., AgentSettings]:
    """Settings for a quick agent on the test broker: 50 Hz, publishing every 0.1 s, no model unless given.

    The broker comes with `cloud_stand_in`, which confirms what the agent sends.
    """

    def make(device_id: str = "pump-001", **overrides: Any) -> AgentSettings:
        values: dict[str, Any] = {
            "device_id": device_id, "broker_url": mosquitto.url, "rate_hz": 50.0, "publish_interval_s": 0.1,
            "state_dir": tmp_path / "state" / device_id, "model_path": None, "connect_timeout_s": 5.0,
        }
        values.update(overrides)
        return AgentSettings(**values)

    return make


@pytest.fixture
def server() -> Iterator[ArtifactServer]:
    """A stand-in for the cloud's artifact downloads."""
    with artifact_server() as running:
        yield running


@pytest.fixture
def signer() -> CloudKey:
    """The cloud's model-signing key, for signing manifests."""
    return CloudKey()


@pytest.fixture
def key_file(tmp_path: Path, signer: CloudKey) -> Path:
    """The signer's public key, as a bundle's `signing-key.pem`."""
    return signer.write_pem(tmp_path / "signing-key.pem")
