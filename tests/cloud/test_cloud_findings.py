"""Technicians' findings become labels of the model that proposed the order; field precision per version."""

from __future__ import annotations

import httpx
from cloudtest_support import T0, Stores, raw
from registrytest_support import api_over, artifact, rul_event

OCTETS = {"content-type": "application/octet-stream"}


def open_rul_orders(stores: Stores, api: httpx.Client, devices: list[str]) -> dict[str, int]:
    """One proposed RUL work order per device (model turbofan-rul 2.0.0), by device."""
    stores.handler.apply([raw(rul_event(device, T0, 20, 10, 40)) for device in devices])
    return {o["device_id"]: o["id"] for o in api.get("/work-orders").json()}


def complete(api: httpx.Client, order_id: int, finding: str, notes: str | None = None) -> httpx.Response:
    return api.post(
        f"/work-orders/{order_id}/complete", json={"technician": "tech-tom", "finding": finding, "notes": notes}
    )


def test_findings_give_field_precision_per_model_version(stores: Stores, sql_url: str) -> None:
    with api_over(stores, sql_url) as api:
        assert api.post("/models", content=artifact("pump-test", "1"), headers=OCTETS).status_code == 201
        ids = open_rul_orders(stores, api, ["e1", "e2", "e3", "e4"])
        for device in ("e1", "e2", "e3"):
            assert (
                api.post(f"/work-orders/{ids[device]}/approve", json={"decided_by": "planner-ann"}).status_code == 200
            )
        assert (
            api.post(f"/work-orders/{ids['e1']}/start", json={"decided_by": "crew-1"}).json()["status"] == "in_progress"
        )

        done = complete(api, ids["e1"], "true_fault", "bearing spalled, replaced")
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "done"
        assert done.json()["finding"]["model"] == {"id": "turbofan-rul", "version": "2.0.0"}
        assert complete(api, ids["e2"], "true_fault").status_code == 200  # straight from approved
        assert complete(api, ids["e3"], "false_alarm").status_code == 200

        assert complete(api, ids["e4"], "true_fault").status_code == 409  # still proposed: a planner decides first
        assert complete(api, ids["e1"], "false_alarm").status_code == 409  # already done
        assert (
            api.post(f"/work-orders/{ids['e4']}/complete", json={"technician": "t", "finding": "maybe"}).status_code
            == 422
        )

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
        listed = {o["id"]: o for o in api.get("/work-orders").json()}
        assert listed[ids["e3"]]["finding"]["finding"] == "false_alarm" and listed[ids["e4"]]["finding"] is None
