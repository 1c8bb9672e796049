"""Technicians in space and time, asset sites, failure skills and dispatch, through the real HTTP API.

A running service (uvicorn on a free port, a private Mosquitto, SQLite files) with a manual
clock at Monday 08:00 in Berlin; the approved orders are put in the store as the ingest and a
planner would leave them, and everything else goes through the API as planners, technicians
and others would call it.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from authtest_support import RoleClients, api_key, bearer, service_database
from cloudtest_support import TENANT
from fieldtest_support import (
    BERLIN,
    HAMBURG,
    MONDAY_8_BERLIN,
    OFFICE_HOURS,
    POTSDAM,
    add_asset,
    add_order,
)

from cloud.auth.roles import Role
from cloud.maintenance.status import Priority
from cloud.server import CloudService
from contract.clock import ManualClock

NOW = MONDAY_8_BERLIN


@pytest.fixture
def cloud_clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def service(cloud: CloudService) -> CloudService:
    return cloud


@pytest.fixture
def planner(clients: RoleClients) -> httpx.Client:
    return clients(Role.PLANNER)


def _technician(planner: httpx.Client, name: str, skills: list[str], home: tuple[float, float]) -> int:
    created = planner.post("/technicians", json={
        "name": name, "skills": skills, "home": {"lat": home[0], "lon": home[1]}, "time_zone": "Europe/Berlin",
        "working_hours": OFFICE_HOURS})
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def _orders(service: CloudService, *specs: tuple[str, str | None, Priority]) -> list[int]:
    """Approved orders on new assets without a site (a planner gives them one through the API)."""
    ids = []
    with service_database(service).session() as session:
        for device, skill, priority in specs:
            add_asset(session, TENANT, device, None, NOW)
            ids.append(add_order(session, TENANT, device, NOW, skill=skill, priority=priority))
        session.commit()
    return ids


def _site(planner: httpx.Client, device: str, where: tuple[float, float]) -> None:
    put = planner.put(f"/assets/{device}/site", json={"name": f"{device} hall", "lat": where[0], "lon": where[1]})
    assert put.status_code == 200, put.text


def _audit(clients: RoleClients, object_ref: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = clients(Role.ADMIN).get("/audit", params={"object": object_ref}).json()
    return entries


def test_technicians_are_kept_with_skills_home_hours_and_absences(service: CloudService, clients: RoleClients,
                                                                 planner: httpx.Client) -> None:
    anna = _technician(planner, "Anna", ["mechanical"], BERLIN)
    shown = planner.get(f"/technicians/{anna}").json()
    assert shown["skills"] == ["mechanical"] and shown["home"] == {"lat": BERLIN[0], "lon": BERLIN[1]}
    assert shown["time_zone"] == "Europe/Berlin" and shown["working_hours"][0] == OFFICE_HOURS[0]
    changed = planner.put(f"/technicians/{anna}", json={"skills": ["mechanical", "electrical"]})
    assert changed.status_code == 200 and changed.json()["skills"] == ["electrical", "mechanical"]
    assert changed.json()["working_hours"] == OFFICE_HOURS  # left out: kept
    for bad in ({"time_zone": "Mars/Olympus"}, {"home": {"lat": 91, "lon": 0}}, {"home": {"lat": 0, "lon": -181}},
                {"working_hours": [{"weekday": 0, "start": "17:00", "end": "08:00"}]},
                {"working_hours": [{"weekday": 7, "start": "08:00", "end": "17:00"}]}, {"skills": ["Not A Skill"]}):
        assert planner.put(f"/technicians/{anna}", json=bad).status_code == 422, bad
    away = planner.post(f"/technicians/{anna}/absences", json={
        "start": "2026-06-02T00:00:00Z", "end": "2026-06-03T00:00:00Z", "reason": "training"})
    assert away.status_code == 201, away.text
    assert away.json()["released_work_orders"] == []
    assert planner.post(f"/technicians/{anna}/absences", json={
        "start": "2026-06-03T00:00:00Z", "end": "2026-06-02T00:00:00Z"}).status_code == 422
    assert [a["reason"] for a in planner.get(f"/technicians/{anna}/absences").json()] == ["training"]
    assert planner.delete(f"/technicians/{anna}/absences/{away.json()['id']}").status_code == 204
    assert planner.get(f"/technicians/{anna}/absences").json() == []
    actions = [e["action"] for e in _audit(clients, f"technician:{anna}")]
    assert actions.count("update") == 2 and "create" in actions  # the create's fields, and the PUT
    assert [e["action"] for e in _audit(clients, "technician_absence")] == ["delete", "create"]
    # Reading is for the tenant's fleet readers; writing for planners and admins; another tenant sees nothing.
    assert clients(Role.VIEWER).get(f"/technicians/{anna}").status_code == 200
    assert clients(Role.VIEWER).put(f"/technicians/{anna}", json={"skills": []}).status_code == 403
    assert clients(Role.TECHNICIAN).post(f"/technicians/{anna}/absences", json={
        "start": "2026-06-02T00:00:00Z", "end": "2026-06-03T00:00:00Z"}).status_code == 403
    with RoleClients(service_database(service), service.api_url, "other-tenant") as other:
        assert other(Role.PLANNER).put(f"/technicians/{anna}", json={"skills": []}).status_code == 404
        assert other(Role.PLANNER).get(f"/technicians/{anna}/absences").status_code == 404


def test_sites_and_failure_skills(service: CloudService, clients: RoleClients, planner: httpx.Client) -> None:
    _orders(service, ("pump-1", None, Priority.NORMAL))
    assert planner.get("/assets/pump-1/site").status_code == 404  # none yet
    _site(planner, "pump-1", POTSDAM)
    assert clients(Role.VIEWER).get("/assets/pump-1/site").json() == {
        "device_id": "pump-1", "name": "pump-1 hall", "lat": POTSDAM[0], "lon": POTSDAM[1]}
    assert planner.put("/assets/pump-1/site", json={"name": "x", "lat": 100, "lon": 0}).status_code == 422
    assert planner.put("/assets/nope/site", json={"name": "x", "lat": 1, "lon": 0}).status_code == 404
    assert clients(Role.VIEWER).put("/assets/pump-1/site", json={"name": "x", "lat": 1, "lon": 0}).status_code == 403
    assert [e["action"] for e in _audit(clients, "asset:pump-1")] == ["set_site"]
    put = planner.put("/failure-skills/bearing_wear", json={"skill": "mechanical", "channels": ["accel1_rms"]})
    assert put.status_code == 200, put.text
    assert planner.put("/failure-skills/sensor_drift", json={"skill": "instrumentation", "rule": "persistent_anomaly",
                                                             "channels": ["pressure"]}).status_code == 200
    listed = {k["kind"]: k for k in clients(Role.VIEWER).get("/failure-skills").json()}
    assert listed["bearing_wear"]["skill"] == "mechanical" and listed["sensor_drift"]["rule"] == "persistent_anomaly"
    assert planner.put("/failure-skills/x", json={"skill": "Bad Skill"}).status_code == 422
    assert [e["action"] for e in _audit(clients, "failure_skill")] == ["put", "put"]


def test_plan_preview_commit_and_the_trail(service: CloudService, clients: RoleClients,
                                           planner: httpx.Client) -> None:
    anna = _technician(planner, "Anna", ["mechanical"], BERLIN)
    bert = _technician(planner, "Bert", ["electrical"], POTSDAM)
    mech, elec, far, nowhere = _orders(service, ("p-mech", "mechanical", Priority.CRITICAL),
                                       ("p-elec", "electrical", Priority.HIGH),
                                       ("p-any", None, Priority.LOW), ("p-nowhere", None, Priority.LOW))
    for device, where in (("p-mech", POTSDAM), ("p-elec", BERLIN), ("p-any", HAMBURG)):
        _site(planner, device, where)
    preview = planner.post("/dispatch/plan", json={"horizon_hours": 48})
    assert preview.status_code == 201, preview.text
    plan = preview.json()
    visits = {v["order_id"]: v for v in plan["visits"]}
    assert visits[mech]["technician_id"] == anna and visits[elec]["technician_id"] == bert  # skills decide
    assert visits[mech]["why"]["skill"] == "mechanical" and visits[mech]["why"]["distance_km"] > 0
    assert visits[mech]["why"]["slack_s"] > 0 and visits[mech]["why"]["text"]
    assert visits[mech]["device_id"] == "p-mech" and visits[mech]["technician_name"] == "Anna"
    assert {u["order_id"]: u["reason"] for u in plan["unassigned"]}[nowhere].startswith("asset p-nowhere has no site")
    # Hamburg is ~7.5 h away each way: no 9-hour shift has room for the trip there and back.
    assert far not in visits and "room" in {u["order_id"]: u["reason"] for u in plan["unassigned"]}[far]
    # A preview assigns nothing.
    assert {o["status"] for o in planner.get("/work-orders").json()} == {"approved"}
    committed = planner.post("/dispatch/commit", json={"plan_id": plan["id"]})
    assert committed.status_code == 200, committed.text
    assert set(committed.json()["assigned_work_orders"]) == set(visits)
    order = planner.get(f"/work-orders/{mech}").json()
    assert order["status"] == "assigned" and order["technician_id"] == anna
    assert [e["action"] for e in _audit(clients, f"work_order:{mech}")] == ["assign"]
    assert [e["action"] for e in _audit(clients, "dispatch_plan")] == ["commit", "preview"]
    assert planner.post("/dispatch/commit", json={"plan_id": plan["id"]}).status_code == 409  # once only
    assert planner.get(f"/dispatch/plans/{plan['id']}").json()["committed_by"] == "api_key:planner-" + TENANT
    # The technician is told (no contact point set yet: the notice is kept in the outbox, not lost).
    told = clients(Role.ADMIN).get("/notifications", params={"order_id": mech}).json()
    assert [(n["kind"], n["recipient_id"]) for n in told] == [("assignment", anna)]
    # The technician sees its task.
    anna_key = api_key(service_database(service), TENANT, Role.TECHNICIAN, "anna-key", technician_id=anna)
    tasks = httpx.get(f"{service.api_url}/api/v1/me/tasks", headers=bearer(anna_key), timeout=10).json()
    assert mech in [task["id"] for task in tasks]


def test_a_plan_is_refused_once_its_basis_changed(service: CloudService, planner: httpx.Client) -> None:
    anna = _technician(planner, "Anna", ["mechanical"], BERLIN)
    (order,) = _orders(service, ("p-1", "mechanical", Priority.NORMAL))
    _site(planner, "p-1", POTSDAM)
    first = planner.post("/dispatch/plan").json()
    assert [v["order_id"] for v in first["visits"]] == [order]
    assert planner.put(f"/technicians/{anna}", json={"skills": ["mechanical", "hydraulics"]}).status_code == 200
    stale = planner.post("/dispatch/commit", json={"plan_id": first["id"]})
    assert stale.status_code == 409 and "changed since" in stale.json()["detail"]
    again = planner.post("/dispatch/plan").json()
    assert planner.post("/dispatch/commit", json={"plan_id": again["id"]}).status_code == 200


def test_decline_and_absence_make_orders_plannable_again(service: CloudService, clients: RoleClients,
                                                         planner: httpx.Client) -> None:
    anna = _technician(planner, "Anna", ["mechanical"], BERLIN)
    bert = _technician(planner, "Bert", ["mechanical"], POTSDAM)
    first, second = _orders(service, ("p-1", "mechanical", Priority.HIGH),
                            ("p-2", "mechanical", Priority.HIGH))
    _site(planner, "p-1", BERLIN)  # Anna's doorstep
    _site(planner, "p-2", POTSDAM)  # Bert's
    plan = planner.post("/dispatch/plan", json={"technician_ids": [anna, bert]}).json()
    planner.post("/dispatch/commit", json={"plan_id": plan["id"]}).raise_for_status()
    assert planner.get(f"/work-orders/{first}").json()["technician_id"] == anna
    # Anna declines: the order is approved again and the next plan gives it to Bert, never to her.
    anna_key = api_key(service_database(service), TENANT, Role.TECHNICIAN, "anna-key", technician_id=anna)
    declined = httpx.post(f"{service.api_url}/api/v1/work-orders/{first}/decline", headers=bearer(anna_key),
                          json={"reason": "no ladder"}, timeout=10)
    assert declined.status_code == 200, declined.text
    replanned = planner.post("/dispatch/plan").json()
    assert {v["order_id"]: v["technician_id"] for v in replanned["visits"] if not v["pinned"]} == {first: bert}
    planner.post("/dispatch/commit", json={"plan_id": replanned["id"]}).raise_for_status()
    # Bert falls ill for his visits: both are taken back, and dispatch has no one left with the skill who may go.
    window = planner.get(f"/work-orders/{second}").json()
    ill = planner.post(f"/technicians/{bert}/absences", json={
        "start": window["planned_start"], "end": "2026-06-10T00:00:00Z", "reason": "ill"})
    assert ill.status_code == 201 and sorted(ill.json()["released_work_orders"]) == sorted([first, second])
    assert {planner.get(f"/work-orders/{o}").json()["status"] for o in (first, second)} == {"approved"}
    last = planner.post("/dispatch/plan").json()
    assigned = {v["order_id"]: v["technician_id"] for v in last["visits"]}
    assert assigned == {second: anna}  # Anna takes Bert's other order; the one she declined stays unassigned
    assert first in {u["order_id"] for u in last["unassigned"]}
    assert [e["action"] for e in _audit(clients, f"work_order:{second}")][:1] == ["unassign"]


def test_who_may_plan(service: CloudService, clients: RoleClients) -> None:
    for role in (Role.TECHNICIAN, Role.VIEWER, Role.CUSTOMER, Role.OPERATOR):
        assert clients(role).post("/dispatch/plan").status_code == 403, role
    assert clients(Role.ADMIN).post("/dispatch/plan", json={}).status_code == 201
    plan = clients(Role.PLANNER).post("/dispatch/plan").json()
    with RoleClients(service_database(service), service.api_url, "other-tenant") as other:
        assert other(Role.PLANNER).post("/dispatch/commit", json={"plan_id": plan["id"]}).status_code == 404
        assert other(Role.PLANNER).get(f"/dispatch/plans/{plan['id']}").status_code == 404
    assert clients.platform_admin().post("/dispatch/plan").status_code == 422  # must name the tenant
    assert clients.platform_admin().post("/dispatch/plan", json={"tenant": TENANT}).status_code == 201
    assert clients(Role.PLANNER).post("/dispatch/plan", json={"horizon_hours": 0}).status_code == 422
