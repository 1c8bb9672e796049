"""Over-the-air update end to end: registry → operator's PUT → MQTT command → agent download/verify/swap → in sync.

Real parts only: a private Mosquitto, the cloud service (ingest, command publisher, API)
and one edge agent with the cloud's signing key pinned, as provisioning gives it. The agent has no
account: it can fetch the artifact only through the signed, expiring link in the command.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from authtest_support import api_client, role_key
from e2etest_support import OCTETS, pinned_key, pump_detector, tap_commands, wait_for

from cloud.auth.roles import Role
from cloud.broker import MosquittoBroker
from cloud.server import CloudService
from cloud.settings import CloudSettings
from edge.agent import Agent
from edge.settings import AgentSettings


def test_a_desired_model_reaches_the_agent_through_a_signed_link_and_the_cloud_sees_it_in_sync(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    settings = CloudSettings(broker_url=mosquitto.url, db_url=f"sqlite:///{tmp_path / 'cloud.db'}",
                             tsdb_url=f"sqlite:///{tmp_path / 'ts.db'}", port=0, ingest_linger_s=0.02)
    with CloudService(settings) as cloud, api_client(cloud, role_key(cloud, "acme", Role.OPERATOR)) as api, \
            tap_commands(mosquitto, "acme", "pump-001") as tap:
        registered = api.post("/models", content=pump_detector(), headers=OCTETS)
        assert registered.status_code == 201, registered.text
        plain_url = f"{cloud.api_url}/api/v1/models/pump-det/versions/7/artifact"
        assert httpx.get(plain_url).status_code == 401  # nobody downloads anonymously, not even a device
        agent_settings = AgentSettings(device_id="pump-001", tenant="acme", broker_url=mosquitto.url, rate_hz=50.0,
                                       publish_interval_s=0.1, heartbeat_s=1.0, model_path=None,
                                       state_dir=tmp_path / "edge",
                                       signing_key_file=pinned_key(settings, tmp_path / "bundle"))
        with Agent(agent_settings) as agent:
            wait_for(lambda: bool(api.get("/assets/pump-001").status_code == 200
                                  and api.get("/assets/pump-001").json()["channels"]), 15, "the asset")
            put = api.put("/devices/pump-001/state", json={"model_id": "pump-det", "model_version": "7"})
            assert put.status_code == 200 and put.json()["desired"]["command_published"] is True, put.text
            assert "token=" not in put.text  # people see the plain URL; only the device gets the link

            def in_sync() -> bool:
                return bool(api.get("/devices/pump-001/state").json()["in_sync"])

            wait_for(in_sync, 30, "the device to report the new model")
            assert agent.stats().model_version == "7"
        state = api.get("/devices/pump-001/state").json()
    links = [urlsplit(command.params["artifact_url"]) for command in tap.received("set_desired_state")]
    assert links, "the device was sent no set_desired_state"
    for link in links:
        assert f"{link.scheme}://{link.netloc}{link.path}" == plain_url
        assert parse_qs(link.query)["token"], "the device was sent a signed link"
    assert state["reported"]["update_status"] == "applied" and state["reported"]["update_target"] == "pump-det@7"
    assert not (tmp_path / "edge" / "updates" / "signing-key.json").exists()  # pinned: nothing fetched
