"""Technicians' findings become labels of the model that proposed the order; field precision per version."""

from __future__ import annotations

import httpx
from cloudtest_support import T0, Stores, raw
from registrytest_support import api_over, artifact, rul_event

from cloud.auth.roles import Role

OCTETS = {"content-type": "application/octet-stream"}


def open_rul_orders(stores: Stores, api: httpx.Client, devices: list[str]) -> dict[str, int]:
    """One proposed RUL work order per device (model turbofan-rul 2.0.0), by device."""
    stores.handler.apply([raw(rul_event(device, T0, 20, 10, 40)) for device in devices])
    return {o["device_id"]: o["id"] for o in api.get("/work-orders").json()}


def complete(technician: httpx.Client, order_id: int, finding: str, notes: str | None = None) -> httpx.Response:
    # The body names someone else: the finding is recorded as the caller's all the same.
    return technician.post(
        f"/work-orders/{order_id}/complete", json={"technician": "tech-tom", "finding": finding, "notes": notes}
    )


def assign_to_caller(planner: httpx.Client, technician: httpx.Client,
                     order_id: int) -> httpx.Response:
    """Assign the order to the technician record the technician client's key is bound to."""
    me = technician.get("/auth/me").json()
    return planner.post(f"/work-orders/{order_id}/assign", json={"technician_id": me["technician_id"]})


def test_findings_give_field_precision_per_model_version(stores: Stores, sql_url: str) -> None:
    with api_over(stores, sql_url) as served:
        api, operator = served.as_role(Role.VIEWER), served.as_role(Role.OPERATOR)
        planner, technician = served.as_role(Role.PLANNER), served.as_role(Role.TECHNICIAN)
        assert operator.post("/models", content=artifact("pump-test", "1"), headers=OCTETS).status_code == 201
        ids = open_rul_orders(stores, api, ["e1", "e2", "e3", "e4"])
        for device in ("e1", "e2", "e3"):
            assert planner.post(f"/work-orders/{ids[device]}/approve", json={}).status_code == 200
            assert assign_to_caller(planner, technician, ids[device]).status_code == 200
            assert technician.post(f"/work-orders/{ids[device]}/start", json={}).json()["status"] == "in_progress"

        assert complete(planner, ids["e1"], "true_fault").status_code == 403  # a planner decides, a technician works
        done = complete(technician, ids["e1"], "true_fault", "bearing spalled, replaced")
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "done"
        assert done.json()["finding"]["model"] == {"id": "turbofan-rul", "version": "2.0.0"}
        assert done.json()["finding"]["technician"] == "api_key:technician-acme"
        # A finding recorded first, then completed without repeating it.
        recorded = technician.post(f"/work-orders/{ids['e2']}/findings", json={"finding": "true_fault"})
        assert recorded.status_code == 200 and recorded.json()["status"] == "in_progress"
        assert technician.post(f"/work-orders/{ids['e2']}/complete", json={}).status_code == 200
        assert complete(technician, ids["e3"], "false_alarm").status_code == 200

        assert complete(technician, ids["e4"], "true_fault").status_code == 404  # proposed: not the technician's
        assert complete(technician, ids["e1"], "false_alarm").status_code == 409  # already done
        maybe = technician.post(f"/work-orders/{ids['e1']}/complete", json={"finding": "maybe"})
        assert maybe.status_code == 422

        precision = {(p["model_id"], p["model_version"]): p for p in api.get("/models/field-precision").json()}
        rul = precision[("turbofan-rul", "2.0.0")]
        assert (rul["completed"], rul["true_faults"], rul["false_alarms"]) == (3, 2, 1)
        assert abs(rul["precision"] - 2 / 3) < 1e-9
        unused = precision[("pump-test", "1")]
        assert (unused["completed"], unused["precision"]) == (0, None)

        detail = api.get(f"/work-orders/{ids['e1']}").json()
        assert (
            detail["finding"]["finding"] == "true_fault" and detail["finding"]["notes"] == "bearing spalled, replaced"
        )
        assert detail["decided_by"] == "api_key:planner-acme"  # the technician's steps keep the planner's decision
        listed = {o["id"]: o for o in api.get("/work-orders").json()}
        assert listed[ids["e3"]]["finding"]["finding"] == "false_alarm" and listed[ids["e4"]]["finding"] is None
