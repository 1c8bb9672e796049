"""The whole pipeline through real parts: simulated pumps → edge agents (ONNX) → a private
Mosquitto → cloud ingest → stores → maintenance → the HTTP API."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from authtest_support import api_client, role_key

from cloud.auth.roles import Role
from cloud.broker import MosquittoBroker
from cloud.server import CloudService
from cloud.settings import CloudSettings
from edge.agent import Agent
from edge.runtime import OnnxModel
from edge.settings import AgentSettings
from models.paths import DEFAULT_PUMP_MODEL

RATE_HZ = 20.0
RUN_S = 12.0


def _agent(device_id: str, fault: str | None, broker: MosquittoBroker, tmp: Path, model: OnnxModel) -> Agent:
    settings = AgentSettings(
        device_id=device_id, tenant="acme", broker_url=broker.url, sensor="sim:pump", fault=fault,
        rate_hz=RATE_HZ, publish_interval_s=0.2, state_dir=tmp / "edge" / device_id,
    )
    return Agent(settings, model=model)


def _wait_for(condition: object, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


def test_readings_flow_end_to_end_and_a_faulty_pump_gets_one_work_order(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    settings = CloudSettings(
        broker_url=mosquitto.url, db_url=f"sqlite:///{tmp_path / 'cloud.db'}",
        tsdb_url=f"sqlite:///{tmp_path / 'ts.db'}", port=0,
    )
    model = OnnxModel.load(DEFAULT_PUMP_MODEL)
    with CloudService(settings) as cloud, api_client(cloud, role_key(cloud, "acme", Role.PLANNER)) as api:
        agents = [
            _agent("pump-001", None, mosquitto, tmp_path, model),
            _agent("pump-002", None, mosquitto, tmp_path, model),
            _agent("pump-003", "bearing_wear@1,ramp=2,severity=1.5", mosquitto, tmp_path, model),
        ]
        for agent in agents:
            agent.start()
        time.sleep(RUN_S)
        for agent in agents:
            agent.stop(flush_timeout_s=20)
        sampled = {a.settings.device_id: a.stats().readings_sampled for a in agents}
        assert all(agent.stats().queue_depth == 0 for agent in agents)

        def stored(device_id: str) -> int:
            return int(api.get(f"/assets/{device_id}").json()["readings_stored"])

        _wait_for(lambda: all(stored(d) == n for d, n in sampled.items()))
        for device_id, count in sampled.items():
            assert count >= RUN_S * RATE_HZ * 0.8
            assert stored(device_id) == count, device_id

        _wait_for(lambda: len(api.get("/work-orders").json()) >= 1)
        orders = api.get("/work-orders").json()
        assert [o["device_id"] for o in orders] == ["pump-003"]  # one order, only for the faulty pump
        detail = api.get(f"/work-orders/{orders[0]['id']}").json()
        assert detail["status"] == "proposed"  # a planner decides
        assert "accel1_rms" in str(detail["evidence"])  # the evidence names the vibrating sensor
        assert model.info.version in str(detail["evidence"])

        events = api.get("/events", params={"kind": "anomaly"}).json()
        assert events and {e["device_id"] for e in events} == {"pump-003"}

        asset = api.get("/assets/pump-001").json()
        assert asset["last_seen"] is not None
        assert httpx.get(f"{cloud.api_url}/api/v1/assets/pump-001").status_code == 401  # not without a credential
        series = api.get("/assets/pump-001/telemetry", params={"step": 1}).json()
        assert series  # a downsampled series comes back
