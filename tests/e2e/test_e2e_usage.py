"""Usage metering end to end: a simulated pump's agent meters hours and kWh, the cloud bills what it reported."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from authtest_support import api_client, role_key

from cloud.auth.roles import Role
from cloud.broker import MosquittoBroker
from cloud.server import CloudService
from cloud.settings import CloudSettings
from edge.agent import Agent
from edge.metering import read_usage
from edge.settings import AgentSettings

RATE_HZ = 20.0
RUN_S = 4.0


def test_the_cloud_shows_the_usage_the_agent_metered(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    settings = CloudSettings(
        broker_url=mosquitto.url, db_url=f"sqlite:///{tmp_path / 'cloud.db'}",
        tsdb_url=f"sqlite:///{tmp_path / 'ts.db'}", port=0,
    )
    state_dir = tmp_path / "edge" / "pump-001"
    agent = Agent(AgentSettings(
        device_id="pump-001", tenant="acme", broker_url=mosquitto.url, sensor="sim:pump", model_path=None,
        rate_hz=RATE_HZ, publish_interval_s=0.2, usage_interval_s=1.0, state_dir=state_dir,
    ))
    # A platform administrator: the ingest's tallies in /stats span tenants, so only it sees them.
    with CloudService(settings) as cloud, api_client(cloud, role_key(cloud, None, Role.ADMIN)) as api:
        agent.start()
        time.sleep(RUN_S)
        agent.stop(flush_timeout_s=20)
        assert agent.stats().queue_depth == 0  # every usage report was acknowledged by the broker
        local = read_usage(state_dir)  # the agent's counters as of its last report (at stop)

        def latest_seq_stored() -> bool:
            response = api.get("/assets/pump-001/usage")
            return response.status_code == 200 and response.json()["reports_in_range"] == local["seq"]

        deadline = time.monotonic() + 30
        while not latest_seq_stored():
            assert time.monotonic() < deadline, "the cloud did not store every usage report"
            time.sleep(0.2)
        body = api.get("/assets/pump-001/usage").json()
        ingest = api.get("/stats").json()["ingest"]
        assert ingest["usage_stored"] == local["seq"] and ingest["rejected_total"] == 0

    assert local["seq"] >= 3  # a report a second, and one at stop
    latest = {name: counter["value"] for name, counter in body["latest"].items()}
    assert latest == pytest.approx(local["counters"])
    assert 0 < latest["operating_hours"] <= (RUN_S + 2) / 3600  # the simulated pump runs (about 2.4 A)
    assert latest["energy_kwh"] > 0
    assert body["latest"]["energy_kwh"]["unit"] == "kWh" and body["latest"]["operating_hours"]["unit"] == "h"
    # The first report already counted some use: the range's use is the growth after it.
    assert 0 < body["usage"]["operating_hours"]["value"] < latest["operating_hours"]
