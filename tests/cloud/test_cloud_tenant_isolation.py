"""Tenant isolation through the real API: tenant A's people see and touch nothing of tenant B's.

Two tenants share one running service: acme (A) and globex (B), each with two pumps that
sent telemetry, usage and anomalies (so each has work orders), a registered model under
the same id and version but other bytes, a contract, a device's desired state and a
rollout. A's users sign in with their passwords. Whatever of B's they list is absent,
whatever of B's they name is 404 (never 403: ids don't leak), and whatever of B's they
try to change stays as it was when B's admin looks afterwards.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from authtest_support import api_key, bearer, customer, service_database, sign_in, technician, user
from cloudtest_support import T0, Publisher, anomaly, service_settings, state, telemetry, wait_until
from registrytest_support import artifact
from service_support import private_mosquitto

from cloud.auth.roles import Permission, Role, roles_with
from cloud.auth.secrets import split_api_key
from cloud.server import CloudService
from contract.clock import ManualClock
from contract.wire import Usage

NOW = T0 + 600
A, B = "acme", "globex"
SHARED_MODEL, B_ONLY_MODEL = "pump-shared", "globex-only"
A_ROLES = (Role.PLANNER, Role.TECHNICIAN, Role.CUSTOMER, Role.VIEWER, Role.OPERATOR, Role.ADMIN)
# What of B's must never show in anything A is answered: its name, its devices, its people, its model's digest.
B_DEVICES = ("g-1", "g-2")


@dataclass
class Tenant:
    name: str
    devices: tuple[str, str]
    admin: dict[str, str]
    model_sha: str = ""
    orders: dict[str, int] | None = None
    rollout_id: int = 0
    event_id: int = 0
    customer_id: int = 0
    user_id: int = 0
    key_id: str = ""


@dataclass
class World:
    service: CloudService
    http: httpx.Client
    a: Tenant
    b: Tenant
    people: dict[Role, dict[str, str]]  # A's users, signed in: Authorization headers with their access tokens
    platform: dict[str, str]

    def get(self, who: dict[str, str], path: str, **params: object) -> httpx.Response:
        return self.http.get(f"/api/v1{path}", headers=who, params=params)  # type: ignore[arg-type]

    def b_markers(self) -> tuple[str, ...]:
        return (B, *B_DEVICES, "Hooli Industries", "Gil Globex-Tech", B_ONLY_MODEL, self.b.model_sha, "globex-admin")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = tmp_path_factory.mktemp("tenants")
    with private_mosquitto(data) as broker, CloudService(service_settings(broker.url, data / "cloud"),
                                                         clock=ManualClock(NOW)) as service:
        _publish(service, broker.url)
        database = service_database(service)
        a = Tenant(A, ("a-1", "a-2"), bearer(api_key(database, A, Role.ADMIN, "acme-admin")))
        b = Tenant(B, B_DEVICES, bearer(api_key(database, B, Role.ADMIN, "globex-admin")))
        a.customer_id, b.customer_id = customer(database, A, "Initech"), customer(database, B, "Hooli Industries")
        technician_id = technician(database, A, "Tess")
        technician(database, B, "Gil Globex-Tech")
        b.user_id = user(database, "gina", B, Role.VIEWER)
        b_key = api_key(database, B, Role.VIEWER, "globex-dashboard")
        b.key_id = (split_api_key(b_key) or ("", ""))[0]
        with httpx.Client(base_url=service.api_url, timeout=20.0) as http:
            for tenant, seed in ((a, 0), (b, 1)):
                _furnish(http, tenant, seed)
            people = {}
            for role in A_ROLES:
                username = f"acme-{role.value}"
                user(database, username, A, role, customer_id=a.customer_id if role is Role.CUSTOMER else None,
                     technician_id=technician_id if role is Role.TECHNICIAN else None)
                token = sign_in(service, username)
                assert token.status_code == 200, token.text
                people[role] = bearer(token.json()["access_token"])
            platform = bearer(api_key(database, None, Role.ADMIN, "platform-admin"))
            yield World(service, http, a, b, people, platform)


def _publish(service: CloudService, broker_url: str) -> None:
    publisher = Publisher(broker_url, client_id="isolation-publisher")
    try:
        for tenant, devices in ((A, ("a-1", "a-2")), (B, B_DEVICES)):
            for device in devices:
                publisher.message(state(device, tenant=tenant))
                publisher.message(telemetry(device, 0, 20, tenant=tenant))
                publisher.message(Usage(tenant=tenant, device_id=device, seq=1, ts=T0 + 60, period_start=T0,
                                        period_end=T0 + 60, counters={"operating_hours": 1.0},
                                        units={"operating_hours": "h"}))
                for i in range(3):
                    publisher.message(anomaly(device, NOW - 30 + i, tenant=tenant))
        wait_until(lambda: service.ingest_stats().work_orders_opened == 4 and service.ingest_stats().usage_stored == 4,
                   what="a work order and a usage report per pump")
    finally:
        publisher.close()


def _furnish(http: httpx.Client, tenant: Tenant, seed: int) -> None:
    """As the tenant's admin: its model (same id+version in both tenants, other bytes), a contract, a desired
    state and a rollout; remember the ids the tests aim at."""
    admin, first, second = tenant.admin, tenant.devices[0], tenant.devices[1]
    content = artifact(SHARED_MODEL, "1", seed=seed)
    tenant.model_sha = hashlib.sha256(content).hexdigest()
    octets = {**admin, "Content-Type": "application/octet-stream"}
    registered = http.post("/api/v1/models", content=content, headers=octets)
    assert registered.status_code == 201, f"{tenant.name}: {registered.status_code} {registered.text}"
    if tenant.name == B:
        assert http.post("/api/v1/models", content=artifact(B_ONLY_MODEL, "1"), headers=octets).status_code == 201
    contract = {"maintenance_horizon_cycles": 30.0 + seed, "customer": "Initech" if seed == 0 else "Hooli Industries",
                "customer_id": tenant.customer_id}
    assert http.put(f"/api/v1/assets/{first}/contract", json=contract, headers=admin).status_code == 200
    model = {"model_id": SHARED_MODEL, "model_version": "1"}
    assert http.put(f"/api/v1/devices/{first}/state", json=model, headers=admin).status_code == 200
    rollout = http.post("/api/v1/rollouts", json={**model, "devices": [second]}, headers=admin)
    assert rollout.status_code == 201, rollout.text
    tenant.rollout_id = rollout.json()["id"]
    tenant.orders = {o["device_id"]: o["id"] for o in http.get("/api/v1/work-orders", headers=admin).json()}
    assert set(tenant.orders) == set(tenant.devices)
    tenant.event_id = http.get("/api/v1/events", params={"limit": 1}, headers=admin).json()[0]["id"]


LISTINGS = {
    "/assets": Role.CUSTOMER, "/events": Role.TECHNICIAN, "/work-orders": Role.TECHNICIAN, "/models": Role.VIEWER,
    "/models/field-precision": Role.VIEWER, "/rollouts": Role.VIEWER, "/customers": Role.VIEWER,
    "/technicians": Role.VIEWER, "/stats": Role.VIEWER, "/audit": Role.PLANNER, "/users": Role.ADMIN,
    "/api-keys": Role.ADMIN,
}


def test_listings_hold_none_of_the_other_tenants_rows(world: World) -> None:
    seen = 0
    for role, who in world.people.items():
        for path in LISTINGS:
            response = world.get(who, path, limit=1000) if path in ("/events", "/audit") else world.get(who, path)
            if response.status_code == 403:
                continue  # the route walk checks who may list what; here: what those who may are shown
            assert response.status_code == 200, f"{path} as {role.value}: {response.text}"
            leaked = [marker for marker in world.b_markers() if marker in response.text]
            assert leaked == [], f"{path} as A's {role.value} shows B's {leaked}"
            seen += 1
    assert seen >= 40
    planner = world.people[Role.PLANNER]
    # The listings do hold A's own rows: the checks above are not passing on empty answers.
    assert {a["device_id"] for a in world.get(planner, "/assets").json()} == {"a-1", "a-2"}
    assert {o["device_id"] for o in world.get(planner, "/work-orders").json()} == {"a-1", "a-2"}
    assert {e["device_id"] for e in world.get(planner, "/events", limit=1000).json()} == {"a-1", "a-2"}
    assert [m["sha256"] for m in world.get(planner, "/models").json()] == [world.a.model_sha]
    assert [r["id"] for r in world.get(planner, "/rollouts").json()] == [world.a.rollout_id]
    stats = world.get(planner, "/stats").json()
    assert (stats["assets"], stats["readings_stored"], stats["ingest"]) == (2, 40, None)
    audit = world.get(planner, "/audit", limit=1000).json()
    assert audit and {e["tenant"] for e in audit} == {A}


def test_reads_of_the_other_tenants_ids_are_404(world: World) -> None:
    b = world.b
    assert b.orders is not None
    reads = {
        "/assets/g-1": Permission.ASSETS_READ, "/assets/g-1/telemetry": Permission.TELEMETRY_READ,
        "/assets/g-1/usage": Permission.USAGE_READ, "/assets/g-1/contract": Permission.CONTRACTS_READ,
        "/devices/g-1/state": Permission.DEVICES_READ, f"/events/{b.event_id}": Permission.EVENTS_READ,
        f"/work-orders/{b.orders['g-1']}": Permission.WORK_ORDERS_READ,
        f"/rollouts/{b.rollout_id}": Permission.ROLLOUTS_READ,
        f"/models/{B_ONLY_MODEL}/versions/1": Permission.MODELS_READ,
        f"/models/{B_ONLY_MODEL}/versions/1/artifact": Permission.ARTIFACTS_DOWNLOAD,
    }
    for role, who in world.people.items():
        for path, permission in reads.items():
            expected = 404 if role in roles_with(permission) else 403
            assert world.get(who, path).status_code == expected, f"{path} as A's {role.value}"
    admin = world.a.admin
    assert world.get(admin, "/work-orders", asset="g-1").json() == []
    assert world.get(admin, "/events", asset="g-1").json() == []
    assert world.get(admin, "/audit", object=f"work_order:{b.orders['g-1']}").json() == []
    assert world.get(admin, "/audit", actor="api_key:globex-admin").json() == []
    # A device of A holding a signed link for B's model gets nothing either.
    assert world.service.tokens is not None
    link = world.service.tokens.artifact_token(A, "a-1", B_ONLY_MODEL, "1")
    downloaded = world.http.get(f"/api/v1/models/{B_ONLY_MODEL}/versions/1/artifact", params={"token": link})
    assert downloaded.status_code == 404


def test_one_model_id_and_version_in_each_tenant_holds_each_tenants_own_bytes(world: World) -> None:
    for tenant in (world.a, world.b):
        described = world.get(tenant.admin, f"/models/{SHARED_MODEL}/versions/1")
        assert described.json()["sha256"] == tenant.model_sha
        download = world.get(tenant.admin, f"/models/{SHARED_MODEL}/versions/1/artifact")
        assert hashlib.sha256(download.content).hexdigest() == tenant.model_sha
    operator = world.people[Role.OPERATOR]
    mine = world.get(operator, f"/models/{SHARED_MODEL}/versions/1/artifact")
    assert hashlib.sha256(mine.content).hexdigest() == world.a.model_sha
    assert world.a.model_sha != world.b.model_sha


def test_writes_to_the_other_tenants_objects_are_404_and_change_nothing(world: World) -> None:
    b = world.b
    assert b.orders is not None
    before = _b_snapshot(world)
    people, admin = world.people, world.a.admin
    model = {"model_id": SHARED_MODEL, "model_version": "1"}  # registered in A too: only the device is B's
    attempts: list[tuple[dict[str, str], str, str, dict[str, object] | None]] = [
        (people[Role.PLANNER], "POST", f"/work-orders/{b.orders['g-1']}/approve", {"decided_by": "mallory"}),
        (people[Role.PLANNER], "POST", f"/work-orders/{b.orders['g-1']}/reject", {"reason": "mallory"}),
        (people[Role.TECHNICIAN], "POST", f"/work-orders/{b.orders['g-1']}/start", {}),
        (people[Role.TECHNICIAN], "POST", f"/work-orders/{b.orders['g-1']}/complete", {"finding": "true_fault"}),
        (people[Role.OPERATOR], "PUT", "/devices/g-1/state", {**model, "sample_rate_hz": 99.0}),
        (people[Role.OPERATOR], "POST", "/assets/g-1/detector", {"first_readings": 50}),
        (people[Role.OPERATOR], "POST", f"/rollouts/{b.rollout_id}/advance", None),
        (people[Role.OPERATOR], "POST", "/rollouts", {**model, "devices": ["g-2"], "tenant": B}),
        (people[Role.PLANNER], "PUT", "/assets/g-1/contract", {"maintenance_horizon_cycles": 1.0, "customer": "x"}),
        (people[Role.PLANNER], "PUT", "/assets/g-new/contract", {"maintenance_horizon_cycles": 1.0, "tenant": B}),
        (people[Role.PLANNER], "POST", "/customers", {"name": "Planted", "tenant": B}),
        (admin, "POST", f"/users/{b.user_id}/deactivate", None),
        (admin, "DELETE", f"/api-keys/{b.key_id}", None),
        (admin, "POST", "/users", {"username": "planted", "password": "x" * 16, "role": "viewer", "tenant": B}),
    ]
    for who, method, path, body in attempts:
        response = world.http.request(method, f"/api/v1{path}", headers=who, json=body)
        assert response.status_code == 404, f"{method} {path}: {response.status_code} {response.text}"
    octets = {**admin, "Content-Type": "application/octet-stream"}
    planted = world.http.post("/api/v1/models", params={"tenant": B}, content=artifact("planted", "1"),
                              headers=octets)
    assert planted.status_code == 404, planted.text
    # A rollout naming B's device from A's side finds no such device in A.
    assert world.http.post("/api/v1/rollouts", json={**model, "devices": ["g-2"]},
                           headers=people[Role.OPERATOR]).status_code == 422
    assert _b_snapshot(world) == before


def _b_snapshot(world: World) -> dict[str, object]:
    """What B's admin sees of everything A tried to change."""
    b, admin = world.b, world.b.admin
    assert b.orders is not None
    order = world.get(admin, f"/work-orders/{b.orders['g-1']}").json()
    return {
        "order": (order["status"], order["decided_by"], order["finding"]),
        "state": world.get(admin, "/devices/g-1/state").json()["desired"],
        "contract": world.get(admin, "/assets/g-1/contract").json(),
        "contract_new": world.get(admin, "/assets/g-new/contract").status_code,
        "rollouts": world.get(admin, "/rollouts").json(),
        "models": world.get(admin, "/models").json(),
        "customers": world.get(admin, "/customers").json(),
        "users": world.get(admin, "/users").json(),
        "keys": world.get(admin, "/api-keys").json(),
        "audit": world.get(admin, "/audit", limit=1000).json(),
    }


def test_a_customer_sees_only_the_assets_under_its_own_contracts(world: World) -> None:
    who = world.people[Role.CUSTOMER]
    assert [a["device_id"] for a in world.get(who, "/assets").json()] == ["a-1"]
    for path in ("/assets/a-1", "/assets/a-1/telemetry", "/assets/a-1/usage", "/assets/a-1/contract"):
        assert world.get(who, path).status_code == 200, path
    assert world.get(who, "/assets/a-1/contract").json()["customer_id"] == world.a.customer_id
    for path in ("/assets/a-2", "/assets/a-2/telemetry", "/assets/a-2/usage", "/assets/a-2/contract"):
        assert world.get(who, path).status_code == 404, path  # A's asset, but not under this customer's contract
    assert world.get(world.people[Role.VIEWER], "/assets/a-2").status_code == 200


def test_a_platform_admin_sees_both_tenants(world: World) -> None:
    platform = world.platform
    assert {a["device_id"] for a in world.get(platform, "/assets").json()} == {"a-1", "a-2", *B_DEVICES}
    assert {o["tenant"] for o in world.get(platform, "/work-orders").json()} == {A, B}
    assert {m["sha256"] for m in world.get(platform, "/models").json()} >= {world.a.model_sha, world.b.model_sha}
    assert {r["id"] for r in world.get(platform, "/rollouts").json()} == {world.a.rollout_id, world.b.rollout_id}
    assert {e["tenant"] for e in world.get(platform, "/audit", limit=1000).json()} >= {A, B}
    assert {c["tenant"] for c in world.get(platform, "/customers").json()} == {A, B}
    assert world.b.orders is not None
    for path in ("/assets/g-1", "/assets/a-1/usage", f"/work-orders/{world.b.orders['g-1']}",
                 f"/rollouts/{world.b.rollout_id}", "/devices/g-1/state", f"/models/{B_ONLY_MODEL}/versions/1"):
        assert world.get(platform, path).status_code == 200, path
    stats = world.get(platform, "/stats").json()
    assert stats["assets"] == 4 and stats["ingest"] is not None
