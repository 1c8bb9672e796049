"""Desired and reported device state through the real HTTP API: set by a planner, reported by the device."""

from __future__ import annotations

from cloudtest_support import PUMP, T0, Stores, raw, telemetry
from otatest_support import api_with_commands, register, report
from registrytest_support import artifact, with_metadata


def test_a_planner_sets_the_desired_model_and_the_device_report_brings_it_in_sync(
    stores: Stores, sql_url: str
) -> None:
    with api_with_commands(stores, sql_url) as (api, commands):
        model = register(api)
        report(stores, "pump-001", T0, model=("old", "0"))
        before = api.get("/devices/pump-001/state").json()
        assert before["desired"] is None and before["in_sync"] is True
        assert before["reported"]["model_id"] == "old" and before["reported"]["update_status"] is None

        put = api.put("/devices/pump-001/state", json={"model_id": "pump-det", "model_version": "1",
                                                       "sample_rate_hz": 10, "requested_by": "planner-ann"})
        assert put.status_code == 200, put.text
        state = put.json()
        assert state["desired"]["model_id"] == "pump-det" and state["desired"]["requested_by"] == "planner-ann"
        assert state["desired"]["sample_rate_hz"] == 10 and state["desired"]["command_published"] is True
        assert state["in_sync"] is False
        [command] = commands.to("pump-001")
        assert command.name == "set_desired_state" and command.params["sha256"] == model["sha256"]
        assert command.params["artifact_url"] == "http://cloud.example/api/v1/models/pump-det/versions/1/artifact"
        assert command.params["signature"] == model["signature"] and command.params["sample_rate_hz"] == 10

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
    with api_with_commands(stores, sql_url) as (api, commands):
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
    with api_with_commands(stores, sql_url) as (api, commands):
        register(api)
        report(stores, "pump-001", T0)
        commands.accept = False
        state = api.put("/devices/pump-001/state", json={"model_id": "pump-det", "model_version": "1"}).json()
        assert state["desired"]["command_published"] is False
