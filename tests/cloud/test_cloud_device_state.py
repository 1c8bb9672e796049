"""Desired and reported device state through the real HTTP API: set by an operator, reported by the device."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx
from cloudtest_support import PUMP, T0, TENANT, Stores, raw, telemetry
from otatest_support import PUBLIC_URL, api_with_commands, register, report
from registrytest_support import ServedApi, artifact, with_metadata

from cloud.auth.roles import Role


def fetch(served: ServedApi, link: str) -> httpx.Response:
    """GET `link` (under PUBLIC_URL, as devices are told) from the API the test serves, with the link's query."""
    parts = urlsplit(link)
    query = f"?{parts.query}" if parts.query else ""
    return httpx.get(f"{served.url}{parts.path}{query}", timeout=10)


def test_an_operator_sets_the_desired_model_and_the_device_report_brings_it_in_sync(
    stores: Stores, sql_url: str
) -> None:
    with api_with_commands(stores, sql_url) as (served, commands):
        api = served.as_role(Role.OPERATOR)
        model = register(api)
        register(api, version="2", seed=1)
        report(stores, "pump-001", T0, model=("old", "0"))
        before = api.get("/devices/pump-001/state").json()
        assert before["desired"] is None and before["in_sync"] is True
        assert before["reported"]["model_id"] == "old" and before["reported"]["update_status"] is None

        wish = {"model_id": "pump-det", "model_version": "1", "sample_rate_hz": 10, "requested_by": "planner-ann"}
        assert served.as_role(Role.VIEWER).put("/devices/pump-001/state", json=wish).status_code == 403
        put = api.put("/devices/pump-001/state", json=wish)  # who asks is the credential, not the body
        assert put.status_code == 200, put.text
        state = put.json()
        assert state["desired"]["model_id"] == "pump-det"
        assert state["desired"]["requested_by"] == "api_key:operator-acme"
        assert state["desired"]["sample_rate_hz"] == 10 and state["desired"]["command_published"] is True
        assert state["in_sync"] is False
        [command] = commands.to("pump-001")
        assert command.name == "set_desired_state" and command.params["sha256"] == model["sha256"]
        assert command.params["signature"] == model["signature"] and command.params["sample_rate_hz"] == 10

        # The device is sent a signed link for this version, under the public URL; it fetches with nothing else.
        link = command.params["artifact_url"]
        plain = f"{PUBLIC_URL}/api/v1/models/pump-det/versions/1/artifact"
        assert link.startswith(f"{plain}?token=")
        [token] = parse_qs(urlsplit(link).query)["token"]
        claims = served.tokens.verify_artifact(token)
        assert (claims.tenant, claims.device_id) == (TENANT, "pump-001")
        assert (claims.model_id, claims.version) == ("pump-det", "1")
        download = fetch(served, link)
        assert download.status_code == 200 and hashlib.sha256(download.content).hexdigest() == model["sha256"]
        assert fetch(served, plain).status_code == 401  # the same URL without the token
        other_version = f"{PUBLIC_URL}/api/v1/models/pump-det/versions/2/artifact?token={token}"
        assert fetch(served, other_version).status_code == 404  # registered, but not what this link is for

        report(stores, "pump-001", T0 + 5, model=("pump-det", "1"), status="probation", target="pump-det@1")
        assert api.get("/devices/pump-001/state").json()["in_sync"] is False  # still proving itself
        report(stores, "pump-001", T0 + 9, model=("pump-det", "1"), status="applied", target="pump-det@1")
        after = api.get("/devices/pump-001/state").json()
        assert after["in_sync"] is True and after["reported"]["update_status"] == "applied"
        assert after["reported"]["update_target"] == "pump-det@1" and after["reported"]["at"].startswith("2027")

        # The device reports the rate it samples at: in sync only once it is the desired one.
        report(stores, "pump-001", T0 + 12, model=("pump-det", "1"), status="applied", target="pump-det@1", rate=1.0)
        assert api.get("/devices/pump-001/state").json()["in_sync"] is False
        report(stores, "pump-001", T0 + 15, model=("pump-det", "1"), status="applied", target="pump-det@1", rate=10.0)
        synced = api.get("/devices/pump-001/state").json()
        assert synced["in_sync"] is True and synced["reported"]["sample_rate_hz"] == 10.0


def test_unknown_devices_and_models_are_404_and_unfit_models_422(stores: Stores, sql_url: str) -> None:
    with api_with_commands(stores, sql_url) as (served, commands):
        api = served.as_role(Role.OPERATOR)
        register(api)
        # A turbofan RUL model is not for a pump.
        turbofan_rul = with_metadata(artifact("rul-x", "1"), {"kind": "rul", "asset_kind": "turbofan"})
        rul = api.post("/models", content=turbofan_rul, headers={"content-type": "application/octet-stream"})
        assert rul.status_code == 201, rul.text
        report(stores, "pump-001", T0)
        report(stores, "fan-001", T0, kind="turbofan")
        assert api.get("/devices/nope/state").status_code == 404
        cases = [
            ("nope", "pump-det", "1", 404),
            ("pump-001", "pump-det", "9", 404),
            ("pump-001", "rul-x", "1", 422),
            ("fan-001", "pump-det", "1", 422),
        ]
        for device, model_id, version, code in cases:
            response = api.put(f"/devices/{device}/state", json={"model_id": model_id, "model_version": version})
            assert response.status_code == code, (device, model_id, response.text)
        # A device whose sensors are known to differ from the model's input.
        [outcome] = stores.handler.apply([raw(telemetry("pump-002", 1, channels=PUMP[:4]))])
        assert outcome.accepted
        wrong = api.put("/devices/pump-002/state", json={"model_id": "pump-det", "model_version": "1"})
        assert wrong.status_code == 422 and "expects channels" in wrong.json()["detail"]
        assert commands.sent == []
        assert api.put("/devices/pump-001/state", json={"model_id": "pump-det", "model_version": "1",
                                                        "sample_rate_hz": -1}).status_code == 422


def test_a_command_the_broker_did_not_take_is_stored_as_unpublished(stores: Stores, sql_url: str) -> None:
    with api_with_commands(stores, sql_url) as (served, commands):
        api = served.as_role(Role.OPERATOR)
        register(api)
        report(stores, "pump-001", T0)
        commands.accept = False
        state = api.put("/devices/pump-001/state", json={"model_id": "pump-det", "model_version": "1"}).json()
        assert state["desired"]["command_published"] is False
