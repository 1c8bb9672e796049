"""Every route of the API, walked from the service's own OpenAPI schema: who may call it, and what it leaves behind.

The list of operations is never written here: it is read from `/openapi.json`, so a new
route is walked as soon as it exists. What the walk needs to call a route (an id for
each path parameter, a body for each request schema) is looked up by name, and a name
it does not know fails the walk with what to add. For each operation: no credential
is 401 (but for the two public ones), each role the permission table refuses is 403,
each role it allows is let through, and each state-changing call that succeeded left an
audit entry naming the caller's credential.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from authtest_support import TEST_PASSWORD, api_key, bearer, service_database, sign_in, user
from billingtest_support import contract
from cloudtest_support import T0, publish_pump_fleet, service_settings
from fastapi import APIRouter
from fastapi.routing import APIRoute
from offertest_support import unapproved_offers_sent, walk_offers
from registrytest_support import artifact
from service_support import private_mosquitto

from cloud.api.access import PUBLIC, allow, check_routes
from cloud.api.app import create_app
from cloud.api.deps import ApiContext
from cloud.api.routers import stats
from cloud.auth.accounts import create_customer, create_technician
from cloud.auth.principal import SERVICE, Principal, PrincipalKind
from cloud.auth.roles import Permission, Role, roles_with
from cloud.auth.secrets import split_api_key
from cloud.auth.sign_in import SignIn
from cloud.auth.throttle import ThrottlePolicy
from cloud.auth.tokens import TokenIssuer
from cloud.billing.statements import close_period
from cloud.errors import ConfigError
from cloud.field.planning import PlanRequest, preview
from cloud.notify.events import enqueue_assignment
from cloud.server import CloudService
from cloud.settings import CloudSettings
from cloud.store.account_tables import AuditRow
from cloud.store.database import Database
from cloud.store.timeseries import open_timeseries_store
from cloud.support.requests import ask_for_a_person
from contract.clock import ManualClock

TENANT = "acme"
NOW = T0 + 600
MODEL_ID = "pump-walk"
PUBLIC_OPERATIONS = {("GET", "/healthz"), ("POST", "/api/v1/auth/token")}
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
# Non-admin roles first: the first allowed role's call is the one that changes state, and a narrow role
# succeeding proves more than an admin succeeding.
ROLES = (Role.PLANNER, Role.TECHNICIAN, Role.CUSTOMER, Role.OPERATOR, Role.VIEWER, Role.ADMIN)
# State-changing operations the walk cannot make succeed, with why (none today: each is set up to succeed once).
MAY_NOT_SUCCEED: dict[tuple[str, str], str] = {}
SIGN_IN_USER = "walk-signin"
# Which work order each action is tried on: the walk prepares one in the state that action needs.
ORDER_FOR_ACTION = {"approve": "p-1", "reject": "p-2", "start": "p-3", "complete": "p-4", "cancel": "p-5",
                    "merge": "p-6", "assign": "p-8", "unassign": "p-9", "accept": "p-10", "decline": "p-11",
                    "findings": "p-12", "attachments": "p-12", "{attachment_id}": "p-12"}
PUMPS = tuple(f"p-{n}" for n in range(1, 13))
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    permission: str
    spec: dict[str, Any] = field(compare=False, hash=False, repr=False)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def mutating(self) -> bool:
        return self.method in MUTATING


@dataclass
class Walk:
    """The running service, a key per role of tenant A, and ids of tenant A's objects to fill paths with."""

    service: CloudService
    http: httpx.Client
    keys: dict[Role, str]
    ids: dict[str, str]
    orders: dict[str, str]
    refresh_token: str
    customer_id: int
    counter: Iterator[int] = field(default_factory=itertools.count)

    def operations(self) -> list[Operation]:
        schema = self.http.get("/openapi.json").json()
        return [Operation(method.upper(), path, str(spec.get("x-permission", "")), spec)
                for path, methods in schema["paths"].items() for method, spec in methods.items()]

    def call(self, op: Operation, role: Role | None) -> httpx.Response:
        body = self.body(op)
        headers = {**body.pop("headers", {}), **({} if role is None else bearer(self.keys[role]))}
        return self.http.request(op.method, self.url(op), headers=headers, **body)

    def url(self, op: Operation) -> str:
        required_queries = [p["name"] for p in op.spec.get("parameters", [])
                            if p["in"] == "query" and p.get("required")]
        if required_queries:
            pytest.fail(f"{op} has required query parameters {required_queries}: teach the walk a value for them")
        return re.sub(r"\{(\w+)\}", lambda m: self.path_value(op, m.group(1)), op.path)

    def path_value(self, op: Operation, name: str) -> str:
        if name == "order_id":
            action = op.path.rsplit("/", 1)[-1]
            return self.orders[ORDER_FOR_ACTION.get(action, "p-1")]
        if name == "offer_id":  # an offer in the status the action needs (offertest_support.walk_offers)
            return self.ids.get(f"offer:{op.path.rsplit('/', 1)[-1]}", self.ids["offer:read"])
        if name == "customer_id" and op.path.endswith("/erase"):  # a spare: the walk's customer keeps its key
            return self.ids["customer:erase"]
        if name not in self.ids:
            pytest.fail(f"{op}: the walk knows no value for the path parameter {name!r}; add an id that exists in "
                        f"tenant {TENANT} to Walk.ids (in the `walk` fixture)")
        return self.ids[name]

    def body(self, op: Operation) -> dict[str, Any]:
        """httpx keyword arguments carrying a plausible body, fresh on each call (new names, new model versions)."""
        request_body = op.spec.get("requestBody")
        if request_body is None:
            return {}
        content = request_body["content"]
        if "image/png" in content:  # a technician's photo
            return {"content": PNG, "headers": {"Content-Type": "image/png"}}
        if "application/octet-stream" in content:
            version = f"walk-{next(self.counter)}"
            return {"content": artifact(MODEL_ID, version), "headers": {"Content-Type": "application/octet-stream"}}
        media = "application/json" if "application/json" in content else "application/x-www-form-urlencoded"
        name = _schema_name(content[media]["schema"])
        builder = self._bodies().get(name)
        if builder is None:
            pytest.fail(f"{op} takes a {name} body the walk cannot build: add a plausible one to Walk._bodies")
        return {"json": builder()} if media == "application/json" else {"data": builder()}

    def _bodies(self) -> dict[str, Callable[[], dict[str, Any]]]:
        n = next(self.counter)
        model = {"model_id": MODEL_ID, "model_version": "1"}
        return {
            "Body_issue_token_api_v1_auth_token_post": lambda: {
                "grant_type": "password", "username": SIGN_IN_USER, "password": TEST_PASSWORD},
            "SignOut": lambda: {"refresh_token": self.refresh_token},
            "UserCreate": lambda: {"username": f"walk-user-{n}", "password": TEST_PASSWORD, "role": "viewer"},
            "ApiKeyCreate": lambda: {"name": f"walk-key-{n}", "role": "viewer"},
            "DirectoryEntryCreate": lambda: {"name": f"walk entry {n}"},
            "DecisionIn": lambda: {"note": "walked"},
            "CompletionIn": lambda: {"finding": "true_fault", "notes": "walked"},
            "ReasonIn": lambda: {"reason": "walked"},
            "OptionalReasonIn": lambda: {"reason": "walked"},
            "WorkOrderEdit": lambda: {"priority": "high", "notes": "walked"},
            "MergeIn": lambda: {"into": int(self.orders["p-7"])},
            "AssignIn": lambda: {"technician_id": int(self.ids["technician_id"]), "start": "2027-01-15T08:00:00Z",
                                 "end": "2027-01-15T10:00:00Z"},
            "FindingIn": lambda: {"finding": "true_fault", "parts_used": [{"part": "walk seal"}]},
            "DetectorFitCreate": lambda: {"first_readings": 60},
            "ContractCreate": lambda: {"maintenance_horizon_cycles": 40.0, "customer": "Initech",
                                       "customer_id": self.customer_id},
            "DesiredStateChange": lambda: {**model, "sample_rate_hz": 10.0},
            "RolloutCreate": lambda: {**model, "devices": ["p-2"]},
            "ProfileCreate": lambda: {"kind": f"walk-kind-{n}", "channels": [{"name": "temp", "unit": "degC"}]},
            "TechnicianCreate": lambda: {"name": f"walk technician {n}", "skills": ["mechanical"]},
            "TechnicianUpdate": lambda: {"skills": ["mechanical"], "home": {"lat": 52.5, "lon": 13.4}},
            "AbsenceCreate": lambda: {"start": "2027-01-04T00:00:00Z", "end": "2027-01-05T00:00:00Z"},
            "SiteIn": lambda: {"name": "walk site", "lat": 52.4, "lon": 13.1},
            "FailureSkillIn": lambda: {"skill": "mechanical", "channels": ["accel1_rms"]},
            "DispatchPlanIn": lambda: {"horizon_hours": 24},
            "TechnicianContactUpdate": lambda: {"email": f"walk{n}@field.example"},
            "CustomerEmailContact": lambda: {"channel": "email", "email": f"walk{n}@initech.example"},
            "DispatchCommitIn": lambda: {"plan_id": self.fresh_plan()},
            "ServiceContractCreate": lambda: {"customer_id": self.customer_id, "name": f"walk contract {n}",
                                              "starts_on": "2027-01-01", "terms": {"currency": "EUR"}},
            # After December's closed statement, one day further on each call (a date takes one version).
            "ContractVersionCreate": lambda: {"effective_from": f"2027-{1 + n // 28 % 12:02d}-{1 + n % 28:02d}",
                                              "terms": {"currency": "EUR", "price_per_hour": "2.50"}},
            "ContractAssetIn": lambda: {"device_id": f"p-{2 + n % 11}"},
            "CustomerUpdate": lambda: {"language": "de-CH", "contacts": [{"name": "Walk Contact"}]},
            "StatementClose": lambda: {"period": "2026-12"},  # closed in the fixture: closing again is idempotent
            "HelpRequestCreate": lambda: {"message": f"walk help {n}", "customer_id": self.customer_id},
            "HelpAnswerIn": lambda: {"message": "walked"},
            "ConsentIn": lambda: {"granted": True, "source": "walk", "text": "walked"},
            "OfferDecisionIn": lambda: {"note": "walked"},
            "OfferRejectIn": lambda: {"reason": "walked"},
            "OfferResponseIn": lambda: {"note": "walked"},
            "OfferPlanCreate": lambda: {"name": f"walk plan {n}", "kind": "plan", "currency": "EUR",
                                        "price_per_hour": "2.00"},
        }

    def fresh_plan(self) -> int:
        """A dispatch preview made now, straight in the store (no audit entry): a commit of it goes through."""
        with service_database(self.service).session() as session:
            row = preview(session, TENANT, PlanRequest(horizon_hours=24), "walk", NOW)
            session.commit()
            return row.id

    def audit_mark(self) -> int:
        with service_database(self.service).session() as session:
            return int(session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditRow.id), 0))) or 0)

    def audit_since(self, mark: int) -> list[tuple[str, str]]:
        """(actor, action) of every audit entry written after `mark`."""
        with service_database(self.service).session() as session:
            rows = session.execute(sa.select(AuditRow.actor, AuditRow.action).where(AuditRow.id > mark)).all()
        return [(actor, action) for actor, action in rows]


def _schema_name(schema: dict[str, Any]) -> str:
    """The component name of a request body's schema (also inside anyOf, for an optional body)."""
    refs = re.findall(r"#/components/schemas/(\w+)", repr(schema))
    return refs[0] if refs else repr(schema)


def key_label(role: Role) -> str:
    return f"api_key:walk-{role.value}"


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walk]:
    """Tenant A (acme) with four pumps, a work order each, a registered model, a contract, a rollout and spares."""
    data = tmp_path_factory.mktemp("walk")
    with private_mosquitto(data) as broker, CloudService(service_settings(broker.url, data / "cloud"),
                                                         clock=ManualClock(NOW)) as service:
        publish_pump_fleet(broker.url, service.ingest_stats, PUMPS, NOW, "walk-publisher", TENANT)
        database = service_database(service)
        with database.session() as session:
            customer_id = create_customer(session, TENANT, "Initech", 0.0).id
            technician_id = create_technician(session, TENANT, "Tess", 0.0).id
            # A notification for the outbox routes to list and retry (Tess has no contact point yet: no_contact).
            [notification_id] = enqueue_assignment(session, tenant=TENANT, technician_id=technician_id, order_id=1,
                                                   device_id="p-1", window_start=NOW, window_end=NOW + 3600,
                                                   site=None, now=NOW)
            session.commit()
        # A service contract of the customer (December 2026 on) with December's statement issued.
        contract_id = contract(database, customer_id, ("p-1",), tenant=TENANT)
        with database.session() as session:
            statement_id = close_period(session, contract_id, "2026-12", NOW,
                                        Principal(PrincipalKind.SYSTEM, "walk", "walk", TENANT)).id
            session.commit()
        with database.session() as session:  # a help request of the customer, to read, answer and close
            request_id = ask_for_a_person(session, customer_id, None, "walk help", SERVICE, NOW).id
            session.commit()
        keys = {role: api_key(database, TENANT, role, f"walk-{role.value}",
                              customer_id if role is Role.CUSTOMER else None,
                              technician_id if role is Role.TECHNICIAN else None) for role in Role}
        spare_key = api_key(database, TENANT, Role.VIEWER, "walk-spare")
        spare_user = user(database, "walk-spare", TENANT, Role.VIEWER)
        user(database, SIGN_IN_USER, TENANT, Role.PLANNER)
        refresh_token = sign_in(service, SIGN_IN_USER).json()["refresh_token"]
        with httpx.Client(base_url=service.api_url, timeout=20.0) as http:
            ids = _prepare(http, keys[Role.ADMIN], customer_id, technician_id)
            orders = {o["device_id"]: str(o["id"]) for o in
                      http.get("/api/v1/work-orders", headers=bearer(keys[Role.ADMIN])).json()}
            ids["attachment_id"] = _prepare_orders(http, keys[Role.ADMIN], keys[Role.TECHNICIAN], orders,
                                                   technician_id)
            parts = split_api_key(spare_key)
            assert parts is not None
            ids |= {"device_id": "p-1", "user_id": str(spare_user), "key_id": parts[0],
                    "customer_id": str(customer_id), "notification_id": str(notification_id),
                    "contract_id": str(contract_id), "statement_id": str(statement_id),
                    "request_id": str(request_id)}
            ids |= walk_offers(database, TENANT, customer_id, NOW)
            yield Walk(service, http, keys, ids, orders, refresh_token, customer_id)


def _prepare_orders(http: httpx.Client, admin_key: str, technician_key: str, orders: dict[str, str],
                    technician_id: int) -> str:
    """Each order in the status its action needs (ORDER_FOR_ACTION); the id of a photo on p-12."""
    admin, tech = bearer(admin_key), bearer(technician_key)

    def post(who: dict[str, str], device: str, action: str, body: dict[str, object] | None = None) -> None:
        response = http.post(f"/api/v1/work-orders/{orders[device]}/{action}", json=body or {}, headers=who)
        assert response.status_code == 200, f"{action} {device}: {response.text}"

    for device in ("p-6", "p-7"):  # merge: two orders of one site
        site = http.put(f"/api/v1/assets/{device}/site", headers=admin, json={"name": "merge site", "lat": 52.0,
                                                                               "lon": 13.0})
        assert site.status_code == 200, site.text
    for device in ("p-3", "p-4", "p-8", "p-9", "p-10", "p-11", "p-12"):
        post(admin, device, "approve")
    for device in ("p-3", "p-4", "p-9", "p-10", "p-11", "p-12"):  # to the walk's technician, Tess
        post(admin, device, "assign", {"technician_id": technician_id})
    for device in ("p-4", "p-12"):
        post(tech, device, "start")
    photo = http.post(f"/api/v1/work-orders/{orders['p-12']}/attachments", content=PNG,
                      headers={**tech, "Content-Type": "image/png"})
    assert photo.status_code == 201, photo.text
    return str(photo.json()["id"])


def _prepare(http: httpx.Client, admin_key: str, customer_id: int, technician_id: int) -> dict[str, str]:
    """As tenant A's admin: a model, a contract naming the customer, a rollout; the ids the walk fills in."""
    admin = bearer(admin_key)
    registered = http.post("/api/v1/models", content=artifact(MODEL_ID, "1"),
                           headers={**admin, "Content-Type": "application/octet-stream"})
    assert registered.status_code == 201, registered.text
    contract = http.put("/api/v1/assets/p-1/contract", headers=admin,
                        json={"maintenance_horizon_cycles": 30.0, "customer": "Initech", "customer_id": customer_id})
    assert contract.status_code == 200, contract.text
    rollout = http.post("/api/v1/rollouts", json={"model_id": MODEL_ID, "model_version": "1", "devices": ["p-2"]},
                        headers=admin)
    assert rollout.status_code == 201, rollout.text
    event = http.get("/api/v1/events", params={"asset": "p-1", "limit": 1}, headers=admin).json()[0]
    letter = http.get("/api/v1/dead-letters", params={"limit": 1}, headers=admin).json()[0]
    site = http.put("/api/v1/assets/p-1/site", headers=admin, json={"name": "walk site", "lat": 52.4, "lon": 13.1})
    assert site.status_code == 200, site.text
    absence = http.post(f"/api/v1/technicians/{technician_id}/absences", headers=admin,
                        json={"start": "2027-01-01T00:00:00Z", "end": "2027-01-02T00:00:00Z"})
    assert absence.status_code == 201, absence.text
    plan = http.post("/api/v1/dispatch/plan", headers=admin, json={})
    assert plan.status_code == 201, plan.text
    return {"event_id": str(event["id"]), "rollout_id": str(rollout.json()["id"]), "model_id": MODEL_ID,
            "version": "1", "dead_letter_id": str(letter["id"]), "technician_id": str(technician_id),
            "absence_id": str(absence.json()["id"]), "plan_id": str(plan.json()["id"]), "kind": "bearing_wear"}


def test_every_operation_names_its_permission_and_only_liveness_and_sign_in_are_public(walk: Walk) -> None:
    operations = walk.operations()
    assert len(operations) > 30  # the whole API, not a stub schema
    unruled = [str(op) for op in operations if not op.permission]
    assert unruled == [], f"operations without x-permission: {unruled}"
    assert {(op.method, op.path) for op in operations if op.permission == "public"} == PUBLIC_OPERATIONS
    for op in operations:
        if op.permission != "public":
            assert roles_with(Permission(op.permission)), f"{op}: no role holds {op.permission}"


def test_without_a_credential_every_operation_but_the_public_ones_is_401(walk: Walk) -> None:
    mark = walk.audit_mark()
    for op in walk.operations():
        response = walk.call(op, None)
        if op.permission == "public":
            assert response.status_code == 200, f"{op} (public) answered {response.status_code}: {response.text}"
        else:
            assert response.status_code == 401, f"{op} without a token: {response.status_code} {response.text}"
            assert response.headers.get("www-authenticate") == "Bearer", str(op)
    assert {actor for actor, _action in walk.audit_since(mark)} <= {f"user:{SIGN_IN_USER}"}


def test_a_role_without_the_permission_is_403_and_changes_nothing(walk: Walk) -> None:
    mark, refused = walk.audit_mark(), 0
    for op in walk.operations():
        if op.permission == "public":
            continue
        for role in set(Role) - roles_with(Permission(op.permission)):
            response = walk.call(op, role)
            assert response.status_code == 403, f"{op} as {role.value}: {response.status_code} {response.text}"
            refused += 1
    assert refused > 50  # each role is refused somewhere (viewer and customer almost everywhere)
    assert walk.audit_since(mark) == []


def test_a_role_with_the_permission_gets_through_and_each_change_it_makes_is_audited(walk: Walk) -> None:
    succeeded: set[Operation] = set()
    operations = walk.operations()
    for op in operations:
        allowed = set(Role) if op.permission == "public" else roles_with(Permission(op.permission))
        for role in (r for r in ROLES if r in allowed):
            mark = walk.audit_mark()
            response = walk.call(op, role)
            assert response.status_code not in (401, 403), f"{op} as {role.value}: {response.text}"
            assert response.status_code < 500, f"{op} as {role.value}: {response.status_code} {response.text}"
            if op.method == "GET" and role is Role.ADMIN:
                assert response.is_success, f"{op} as admin: {response.status_code} {response.text} (a bad id?)"
            if not (op.mutating and response.is_success):
                continue
            succeeded.add(op)
            entries = walk.audit_since(mark)
            expected = f"user:{SIGN_IN_USER}" if op.permission == "public" else key_label(role)
            assert expected in {actor for actor, _action in entries}, f"{op} as {role.value} left {entries}"
    never = {(op.method, op.path) for op in operations if op.mutating and op not in succeeded}
    assert never == set(MAY_NOT_SUCCEED), f"state-changing operations that never succeeded in the walk: {never}"


def test_after_every_route_was_walked_no_offer_went_out_that_a_planner_did_not_approve(walk: Walk) -> None:
    assert unapproved_offers_sent(service_database(walk.service)) == []  # approve-before-send (docs/billing.md)


def test_a_route_without_exactly_one_access_rule_stops_the_app(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    unruled, doubled = APIRouter(prefix="/stats"), APIRouter(prefix="/stats")

    @unruled.get("")
    def forgotten() -> dict[str, str]:
        return {}

    @doubled.get("", dependencies=[PUBLIC, allow(Permission.STATS_READ)])
    def confused() -> dict[str, str]:
        return {}

    with _offline_context(tmp_path) as context:
        create_app(context)  # as shipped: every route has its rule
        for router, count in ((unruled, 0), (doubled, 2)):
            with pytest.raises(ConfigError, match=f"GET /stats declares {count} access rules"):
                check_routes(r for r in router.routes if isinstance(r, APIRoute))
            monkeypatch.setattr(stats, "router", router)
            with pytest.raises(ConfigError, match=f"/stats declares {count} access rules"):
                create_app(context)


@contextmanager
def _offline_context(tmp_path: Path) -> Iterator[ApiContext]:
    """What create_app needs, without a running service (the refusal happens before anything is served)."""
    settings = CloudSettings(db_url=f"sqlite:///{tmp_path / 'cloud.db'}", tsdb_url=f"sqlite:///{tmp_path / 'ts.db'}")
    clock = ManualClock(NOW)
    tokens = TokenIssuer(b"x" * 48, clock, 900.0, 3600.0)
    database, timeseries = Database(settings.db_url), open_timeseries_store(settings.tsdb_url)
    try:
        yield ApiContext(database, timeseries, settings, clock, tokens, SignIn(tokens, ThrottlePolicy(5, 30, 900.0),
                                                                                3600.0))
    finally:
        timeseries.close()
        database.close()
