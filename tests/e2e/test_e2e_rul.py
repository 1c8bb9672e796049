"""A simulated turbofan's RUL estimates reach the cloud, which opens one work order when the
pessimistic bound falls below the contract's maintenance horizon."""

from __future__ import annotations

import time
from pathlib import Path

from authtest_support import api_client, role_key

from cloud.auth.roles import Role
from cloud.broker import MosquittoBroker
from cloud.server import CloudService
from cloud.settings import CloudSettings
from edge.agent import Agent
from edge.settings import AgentSettings


def test_rul_below_the_horizon_opens_one_work_order(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    settings = CloudSettings(
        broker_url=mosquitto.url, db_url=f"sqlite:///{tmp_path / 'cloud.db'}",
        tsdb_url=f"sqlite:///{tmp_path / 'ts.db'}", port=0,
        default_maintenance_horizon_cycles=200.0,  # every estimate is below it (the model clips at 125)
    )
    agent = Agent(AgentSettings(
        device_id="engine-001", tenant="acme", broker_url=mosquitto.url, sensor="sim:turbofan",
        rate_hz=50.0, publish_interval_s=0.2, state_dir=tmp_path / "edge",
    ))
    with CloudService(settings) as cloud, api_client(cloud, role_key(cloud, "acme", Role.PLANNER)) as api:
        agent.start()
        time.sleep(4.0)
        agent.stop(flush_timeout_s=20)
        assert agent.stats().events_acked >= 3
        deadline = time.monotonic() + 20
        while not api.get("/work-orders").json() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # later estimates attach to the open order instead of opening more
        orders = api.get("/work-orders").json()
        assert [o["device_id"] for o in orders] == ["engine-001"]
        evidence = str(api.get(f"/work-orders/{orders[0]['id']}").json()["evidence"])
        assert "turbofan-rul" in evidence and "200" in evidence
        events = api.get("/events", params={"kind": "rul"}).json()
        assert len(events) >= 3
