"""Over-the-air update end to end: registry → planner's PUT → MQTT command → agent download/verify/swap → in sync.

Real parts only: a private Mosquitto, the cloud service (ingest, command publisher, API)
and one edge agent that trusts the cloud's signing key on first use.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

from cloud.broker import MosquittoBroker
from cloud.server import CloudService
from cloud.settings import CloudSettings
from contract.channels import PUMP_CHANNELS
from edge.agent import Agent
from edge.settings import AgentSettings
from models.anomaly.calibrated_detector import fit_detector


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)


def _artifact() -> bytes:
    calibration = np.random.default_rng(0).normal(1.0, 0.1, size=(60, len(PUMP_CHANNELS)))
    return fit_detector(calibration, [c.name for c in PUMP_CHANNELS], [c.unit for c in PUMP_CHANNELS],
                        created_at="2027-01-15T08:00:00Z", model_id="pump-det", version="7").artifact


def test_a_desired_model_reaches_the_agent_and_the_cloud_sees_it_in_sync(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    settings = CloudSettings(broker_url=mosquitto.url, db_url=f"sqlite:///{tmp_path / 'cloud.db'}",
                             tsdb_url=f"sqlite:///{tmp_path / 'ts.db'}", port=0, ingest_linger_s=0.02)
    agent_settings = AgentSettings(device_id="pump-001", tenant="acme", broker_url=mosquitto.url, rate_hz=50.0,
                                   publish_interval_s=0.1, heartbeat_s=1.0, model_path=None,
                                   state_dir=tmp_path / "edge")
    with CloudService(settings) as cloud, httpx.Client(base_url=f"{cloud.api_url}/api/v1", timeout=10) as api:
        registered = api.post("/models", content=_artifact(), headers={"content-type": "application/octet-stream"})
        assert registered.status_code == 201, registered.text
        with Agent(agent_settings) as agent:
            _wait_for(lambda: bool(api.get("/assets/pump-001").status_code == 200
                                   and api.get("/assets/pump-001").json()["channels"]), 15, "the asset")
            put = api.put("/devices/pump-001/state", json={"model_id": "pump-det", "model_version": "7",
                                                           "requested_by": "planner"})
            assert put.status_code == 200 and put.json()["desired"]["command_published"] is True, put.text

            def in_sync() -> bool:
                return bool(api.get("/devices/pump-001/state").json()["in_sync"])

            _wait_for(in_sync, 30, "the device to report the new model")
            assert agent.stats().model_version == "7"
        state = api.get("/devices/pump-001/state").json()
    assert state["reported"]["update_status"] == "applied" and state["reported"]["update_target"] == "pump-det@7"
    assert (tmp_path / "edge" / "updates" / "signing-key.json").is_file()  # trusted on first use
