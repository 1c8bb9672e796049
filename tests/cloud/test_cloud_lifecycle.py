"""The work-order lifecycle: every move and every forbidden one, through the real HTTP API with a credential per
role (admin, planner, two technicians, two customers), and the store-level transition table on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import sqlalchemy as sa
from authtest_support import api_key, bearer, customer, technician
from cloudtest_support import T0, TENANT, Stores, anomaly, raw, state
from registrytest_support import api_over

from cloud.auth.accounts import create_technician
from cloud.auth.principal import Principal, PrincipalKind
from cloud.auth.roles import Role
from cloud.errors import TransitionError
from cloud.ingest.handler import MessageHandler
from cloud.ingest.stats import IngestCounters
from cloud.maintenance.lifecycle import TRANSITIONS, Action, move
from cloud.maintenance.rules import PersistentAnomalyRule
from cloud.maintenance.status import WorkOrderStatus
from cloud.maintenance.work_orders import get_work_order
from cloud.store.account_tables import AuditRow
from cloud.store.database import Database
from cloud.store.schema import ensure_schema
from cloud.store.scope import Scope
from cloud.store.tables import AssetRow, WorkOrderRow, WorkOrderTransitionRow
from cloud.store.timeseries import SqlTimeSeriesStore
from contract.clock import ManualClock

NOW = T0 + 3600
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def open_order(stores: Stores, device: str, score: float = 0.9) -> None:
    """Three anomalies on `device`: the persistent-anomaly rule proposes one order."""
    stores.handler.apply([raw(state(device))] + [raw(anomaly(device, NOW - 60 + i, score=score)) for i in range(3)])


@dataclass
class People:
    http: httpx.Client
    keys: dict[str, str]
    technicians: dict[str, int]

    def call(self, who: str, method: str, path: str, **kwargs: object) -> httpx.Response:
        headers = {**bearer(self.keys[who]), **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return self.http.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]

    def upload(self, who: str, path: str, content: bytes, kind: str) -> httpx.Response:
        return self.call(who, "POST", path, content=content, headers={"Content-Type": kind})

    def post(self, who: str, path: str, body: dict[str, object] | None = None) -> httpx.Response:
        return self.call(who, "POST", path, json={} if body is None else body)

    def get(self, who: str, path: str, **params: object) -> httpx.Response:
        return self.call(who, "GET", path, params=params)

    def orders(self) -> dict[str, int]:
        return {o["device_id"]: o["id"] for o in self.get("admin", "/work-orders").json()}


@pytest.fixture
def people(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stores, People]]:
    """The API over SQLite stores: pumps p-1 (customer c1's), p-2 (customer c2's), p-3 and p-4, each with an order."""
    url = f"sqlite:///{tmp_path_factory.mktemp('lifecycle') / 'store.db'}"
    database, timeseries = Database(url), SqlTimeSeriesStore(url.replace("store.db", "timeseries.db"))
    ensure_schema(database)
    timeseries.create_schema()
    counters, clock = IngestCounters(), ManualClock(NOW)
    stores = Stores(database, timeseries, MessageHandler(database, timeseries, PersistentAnomalyRule(3, 120.0),
                                                         clock, counters), counters, clock)
    try:
        tech = {name: technician(database, TENANT, f"tech {name}") for name in ("t1", "t2")}
        customers = {name: customer(database, TENANT, f"customer {name}") for name in ("c1", "c2")}
        keys = {role.value: api_key(database, TENANT, role, f"{role.value}-key") for role in
                (Role.ADMIN, Role.PLANNER, Role.VIEWER)}
        keys |= {name: api_key(database, TENANT, Role.TECHNICIAN, f"{name}-key", technician_id=tid)
                 for name, tid in tech.items()}
        keys |= {name: api_key(database, TENANT, Role.CUSTOMER, f"{name}-key", customer_id=cid)
                 for name, cid in customers.items()}
        with api_over(stores, url) as served, httpx.Client(base_url=f"{served.url}/api/v1", timeout=20) as http:
            crowd = People(http, keys, tech)
            for device, who in (("p-1", "c1"), ("p-2", "c2")):
                assert crowd.call("planner", "PUT", f"/assets/{device}/contract", json={
                    "maintenance_horizon_cycles": 50.0, "customer_id": customers[who]}).status_code == 200
            for device in ("p-1", "p-2", "p-3", "p-4"):
                open_order(stores, device)
            yield stores, crowd
    finally:
        timeseries.close()
        database.close()


def test_an_order_goes_from_proposal_to_done_and_its_history_says_who_when_and_why(
        people: tuple[Stores, People]) -> None:
    _stores, crowd = people
    order = crowd.orders()["p-1"]
    path = f"/work-orders/{order}"
    assert crowd.post("planner", f"{path}/approve", {"note": "bearing noise"}).json()["status"] == "approved"
    assigned = crowd.post("planner", f"{path}/assign", {"technician_id": crowd.technicians["t1"],
                                                        "start": "2027-01-15T08:00:00Z", "end": "2027-01-15T10:00:00Z"})
    assert assigned.status_code == 200, assigned.text
    assert (assigned.json()["status"], assigned.json()["technician_id"]) == ("assigned", crowd.technicians["t1"])
    assert assigned.json()["planned_start"] == "2027-01-15T08:00:00Z"

    [task] = crowd.get("t1", "/me/tasks").json()
    assert task["id"] == order and task["evidence"]["model"]["id"] and len(task["signal_ids"]) == 3
    assert task["series"]["href"].startswith("/api/v1/assets/p-1/telemetry?start=")
    assert crowd.get("admin", task["series"]["href"].removeprefix("/api/v1")).status_code == 200
    assert crowd.get("t2", "/me/tasks").json() == []

    assert crowd.post("t1", f"{path}/accept").json()["status"] == "accepted"
    assert crowd.post("t1", f"{path}/start").json()["status"] == "in_progress"
    found = crowd.post("t1", f"{path}/findings", {"finding": "true_fault", "notes": "spalled race",
                                                   "parts_used": [{"part": "bearing 6205", "quantity": 2}]})
    assert found.status_code == 200, found.text
    assert found.json()["finding"]["parts_used"] == [{"part": "bearing 6205", "quantity": 2}]
    photo = crowd.upload("t1", f"{path}/attachments", PNG, "image/png")
    assert photo.status_code == 201, photo.text
    fetched = crowd.get("c1", f"{path}/attachments/{photo.json()['id']}")
    assert (fetched.content, fetched.headers["content-type"]) == (PNG, "image/png")
    done = crowd.post("t1", f"{path}/complete", {})
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["finding"]["finding"]) == ("done", "true_fault")

    steps = crowd.get("c1", f"{path}/history").json()
    assert [(s["action"], s["from_status"], s["to_status"]) for s in steps] == [
        ("propose", None, "proposed"), ("approve", "proposed", "approved"), ("assign", "approved", "assigned"),
        ("accept", "assigned", "accepted"), ("start", "accepted", "in_progress"), ("complete", "in_progress", "done")]
    assert [s["actor"] for s in steps[1:]] == ["api_key:planner-key", "api_key:planner-key"] + ["api_key:t1-key"] * 3
    assert steps[1]["reason"] == "bearing noise"
    audited = {(e["action"], e["actor"]) for e in crowd.get("admin", "/audit", object=f"work_order:{order}").json()}
    assert {("assign", "api_key:planner-key"), ("accept", "api_key:t1-key"), ("finding", "api_key:t1-key"),
            ("attach", "api_key:t1-key"), ("complete", "api_key:t1-key")} <= audited


def test_who_may_do_what_and_see_which_orders(people: tuple[Stores, People]) -> None:
    _stores, crowd = people
    orders = crowd.orders()
    p1 = f"/work-orders/{orders['p-1']}"
    assert crowd.post("t1", f"{p1}/approve").status_code == 403  # a technician cannot approve
    assert crowd.post("c1", f"{p1}/approve").status_code == 403
    assert crowd.post("planner", f"{p1}/approve").status_code == 200
    assert crowd.post("planner", f"{p1}/assign", {"technician_id": crowd.technicians["t1"]}).status_code == 200
    for verb in ("accept", "start", "complete"):  # another technician's task is as unknown as a missing one
        assert crowd.post("t2", f"{p1}/{verb}").status_code == 404
    assert crowd.post("t2", f"{p1}/decline", {"reason": "not mine"}).status_code == 404
    assert crowd.get("t2", p1).status_code == 404 and crowd.get("t2", "/work-orders").json() == []
    assert [o["id"] for o in crowd.get("t1", "/work-orders").json()] == [orders["p-1"]]
    # Customers see the orders on their own assets only.
    assert {o["device_id"] for o in crowd.get("c1", "/work-orders").json()} == {"p-1"}
    assert {o["device_id"] for o in crowd.get("c2", "/work-orders").json()} == {"p-2"}
    assert crowd.get("c2", p1).status_code == 404 and crowd.get("c2", f"{p1}/history").status_code == 404
    assert crowd.get("viewer", "/me/tasks").status_code == 403


def test_forbidden_moves_are_409_naming_the_status_and_what_the_action_needs(people: tuple[Stores, People]) -> None:
    _stores, crowd = people
    p2 = f"/work-orders/{crowd.orders()['p-2']}"
    accept = crowd.post("admin", f"{p2}/accept")
    assert accept.status_code == 409
    assert accept.json()["detail"].endswith("is proposed; accept needs it assigned")
    assert crowd.post("planner", f"{p2}/assign", {"technician_id": crowd.technicians["t1"]}).status_code == 409
    assert crowd.post("planner", f"{p2}/reject", {}).status_code == 422  # a reason is required
    assert crowd.post("planner", f"{p2}/reject", {"reason": "   "}).status_code == 422
    assert crowd.post("planner", f"{p2}/approve").status_code == 200
    assert crowd.post("planner", f"{p2}/approve").status_code == 409
    assert crowd.post("admin", f"{p2}/start").status_code == 409  # approved: not assigned to anyone yet
    assert crowd.post("planner", f"{p2}/assign", {"technician_id": crowd.technicians["t2"]}).status_code == 200
    assert crowd.post("t2", f"{p2}/complete", {"finding": "true_fault"}).status_code == 409  # not started
    assert crowd.post("t2", f"{p2}/findings", {"finding": "true_fault"}).status_code == 409
    assert crowd.post("t2", f"{p2}/start").status_code == 200  # starting an assigned order accepts it
    assert crowd.post("t2", f"{p2}/complete", {}).status_code == 422  # no finding yet
    assert crowd.post("planner", f"{p2}/reject", {"reason": "too late"}).status_code == 409
    assert crowd.post("planner", f"{p2}/cancel", {}).status_code == 409
    rejected = crowd.post("planner", f"/work-orders/{crowd.orders()['p-3']}/reject", {"reason": "sensor swap"})
    assert (rejected.json()["status"], rejected.json()["decision_note"]) == ("rejected", "sensor swap")
    assert crowd.call("planner", "PATCH", f"/work-orders/{crowd.orders()['p-3']}",
                      json={"priority": "low"}).status_code == 409


def test_decline_unassign_reassign_cancel_and_edit(people: tuple[Stores, People]) -> None:
    _stores, crowd = people
    orders = crowd.orders()
    p1, t1, t2 = f"/work-orders/{orders['p-1']}", crowd.technicians["t1"], crowd.technicians["t2"]
    crowd.post("planner", f"{p1}/approve")
    assert crowd.post("planner", f"{p1}/assign", {"technician_id": t1, "start": "2027-01-15T08:00:00Z"}
                      ).status_code == 422  # a window needs both ends
    crowd.post("planner", f"{p1}/assign", {"technician_id": t1})
    assert crowd.post("t1", f"{p1}/decline", {}).status_code == 422  # a reason is required
    declined = crowd.post("t1", f"{p1}/decline", {"reason": "no ladder"}).json()
    assert (declined["status"], declined["technician_id"], declined["declined_by"]) == ("approved", None, [t1])
    assert crowd.post("planner", f"{p1}/assign", {"technician_id": t1}).status_code == 409  # declined it
    assert crowd.post("planner", f"{p1}/assign", {"technician_id": 999_999}).status_code == 404
    crowd.post("planner", f"{p1}/assign", {"technician_id": t2})
    crowd.post("t2", f"{p1}/accept")
    moved = crowd.post("planner", f"{p1}/assign", {"technician_id": t2, "start": "2027-01-16T08:00:00Z",
                                                    "end": "2027-01-16T09:00:00Z"}).json()
    assert (moved["status"], moved["planned_end"]) == ("assigned", "2027-01-16T09:00:00Z")  # reassigned
    absent = crowd.post("planner", f"{p1}/unassign", {"reason": "t2 is ill"}).json()
    assert (absent["status"], absent["technician_id"], absent["declined_by"]) == ("approved", None, [t1])
    actions = [s["action"] for s in crowd.get("planner", f"{p1}/history").json()]
    assert actions == ["propose", "approve", "assign", "decline", "assign", "accept", "reassign", "unassign"]

    edited = crowd.call("planner", "PATCH", p1, json={"priority": "critical", "due_at": "2027-01-20T00:00:00Z",
                                                      "required_skill": "mechanical", "notes": "bring a puller"})
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert (body["priority"], body["due_at"], body["required_skill"], body["notes"]) == (
        "critical", "2027-01-20T00:00:00Z", "mechanical", "bring a puller")
    [entry] = [e for e in crowd.get("admin", "/audit", object=f"work_order:{orders['p-1']}").json()
               if e["action"] == "edit"]
    assert entry["before"]["priority"] == "high" and entry["after"]["priority"] == "critical"
    cancelled = crowd.post("planner", f"{p1}/cancel", {"reason": "asset sold"}).json()
    assert cancelled["status"] == "cancelled"


def test_merging_moves_the_signals_to_an_order_of_the_same_site(people: tuple[Stores, People]) -> None:
    stores, crowd = people
    orders = crowd.orders()
    with stores.database.session() as session:
        for device in ("p-3", "p-4"):
            asset = session.get(AssetRow, device)
            assert asset is not None
            asset.site_name, asset.site_lat, asset.site_lon = "plant north", 48.1, 11.5
        session.commit()
    assert crowd.post("planner", f"/work-orders/{orders['p-1']}/merge", {"into": orders["p-2"]}).status_code == 422
    merged = crowd.post("planner", f"/work-orders/{orders['p-4']}/merge", {"into": orders["p-3"]})
    assert merged.status_code == 200, merged.text
    assert len(merged.json()["signal_ids"]) == 6  # its own three and p-4's
    gone = crowd.get("planner", f"/work-orders/{orders['p-4']}").json()
    assert (gone["status"], gone["merged_into"], gone["signal_ids"]) == ("cancelled", orders["p-3"], [])


def test_a_contract_policy_approves_critical_confident_proposals_at_once(people: tuple[Stores, People]) -> None:
    stores, crowd = people
    policy = {"name": "critical-confident", "min_priority": "critical", "min_confidence": 0.7}
    for device in ("p-5", "p-6"):
        put = crowd.call("planner", "PUT", f"/assets/{device}/contract",
                         json={"maintenance_horizon_cycles": 50.0, "approval_policy": policy})
        assert put.status_code == 200 and put.json()["approval_policy"] == policy
    open_order(stores, "p-5", score=2.5)  # 5x the threshold: critical, confidence 0.8
    open_order(stores, "p-6", score=0.9)  # 1.8x: high, stays with the planner
    orders = {o["device_id"]: o for o in crowd.get("planner", "/work-orders").json()}
    auto, manual = orders["p-5"], orders["p-6"]
    assert (auto["status"], auto["approved_by_policy"], auto["priority"]) == ("approved", "critical-confident",
                                                                              "critical")
    assert auto["confidence"] == pytest.approx(0.8)
    assert (manual["status"], manual["approved_by_policy"], manual["priority"]) == ("proposed", None, "high")
    steps = crowd.get("planner", f"/work-orders/{auto['id']}/history").json()
    assert steps[-1]["actor"] == "system:policy:critical-confident" and "critical-confident" in steps[-1]["reason"]


def test_photos_are_checked_by_their_bytes_and_size(people: tuple[Stores, People]) -> None:
    _stores, crowd = people
    p1 = f"/work-orders/{crowd.orders()['p-1']}"
    crowd.post("planner", f"{p1}/approve")
    crowd.post("planner", f"{p1}/assign", {"technician_id": crowd.technicians["t1"]})
    crowd.post("t1", f"{p1}/start")

    def upload(content: bytes, kind: str) -> httpx.Response:
        return crowd.upload("t1", f"{p1}/attachments", content, kind)

    assert upload(b"<html>hi</html>", "image/png").status_code == 422  # not a PNG whatever it says
    assert upload(PNG, "image/jpeg").status_code == 422  # a PNG declared as JPEG
    assert upload(b"GIF89a....", "image/gif").status_code == 415
    assert upload(b"\xff\xd8\xff" + b"\x00" * (5 * 1024 * 1024), "image/jpeg").status_code == 413
    assert upload(b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp").status_code == 201


@pytest.mark.parametrize("action", list(Action))
def test_the_transition_table_allows_exactly_its_moves(stores: Stores, action: Action) -> None:
    """Each action from every status, on SQLite and PostgreSQL: the table's moves happen, every other is refused."""
    stores.handler.apply([raw(state("x-1"))] + [raw(anomaly("x-1", NOW - 60 + i)) for i in range(3)])
    actor = Principal(PrincipalKind.SYSTEM, "test", "test", None)
    with stores.database.session() as session:
        tech = technician_for(session)
        order = session.scalars(sa.select(WorkOrderRow)).one()
        for status in WorkOrderStatus:
            order.status, order.technician_id, order.declined_by = status.value, tech, None
            target = TRANSITIONS[action].get(status)
            if target is None:
                with pytest.raises(TransitionError, match=f"is {status.value}; {action.value} needs it"):
                    move(session, order, action, actor, NOW, reason="why", technician_id=tech)
                continue
            moved = move(session, order, action, actor, NOW, reason="why", technician_id=tech)
            assert moved.status == target.value
        session.commit()
        get_work_order(session, order.id, Scope(TENANT))
        allowed = len(TRANSITIONS[action])
        assert session.scalar(sa.select(sa.func.count()).select_from(WorkOrderTransitionRow)
                              .where(WorkOrderTransitionRow.action == action.value)) == allowed
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditRow)
                              .where(AuditRow.action == action.value)) == allowed


def technician_for(session: sa.orm.Session) -> int:
    return create_technician(session, TENANT, "table tech", NOW).id
