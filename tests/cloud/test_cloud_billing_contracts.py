"""Service contracts through the running API: plans versioned forward only, assets covered over time, customer
records, who may see what, and the maintenance horizon the rules take from the contract in force."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
import sqlalchemy as sa
from authtest_support import RoleClients, service_database
from billingtest_support import JAN, TERMS, contract, customer
from cloudtest_support import TENANT

from cloud.auth.roles import Role
from cloud.billing.contracts import add_version, closed_until
from cloud.billing.plans import terms_in_force
from cloud.maintenance.work_orders import horizon_for
from cloud.server import CloudService
from cloud.store.account_tables import AuditRow, CustomerRow
from cloud.store.contract_tables import ServiceContractRow
from cloud.store.database import Database
from cloud.store.statement_tables import StatementRow
from cloud.store.tables import ContractRow

PLAN = {"currency": "EUR", "price_per_hour": "2.50", "price_per_kwh": "0.12", "monthly_minimum": "100.00",
        "included_maintenance": True, "sla_uptime_pct": "99.5", "tax_rate_pct": "19",
        "credit_tiers": [{"below_pct": "95", "credit_pct": "25"}, {"below_pct": "99.5", "credit_pct": "10"}],
        "maintenance_horizon_cycles": 500.0}


@pytest.fixture
def db(cloud: CloudService) -> Database:
    return service_database(cloud)


@pytest.fixture
def planner(clients: RoleClients, db: Database) -> httpx.Client:
    return clients(Role.PLANNER)


def _customer_of(db: Database, label: str) -> int:
    with db.session() as session:
        found = session.scalar(sa.select(CustomerRow.id).where(CustomerRow.name == f"customer of {label}"))
        assert found is not None
        return int(found)


def _new(planner: httpx.Client, customer_id: int, **changes: object) -> httpx.Response:
    return planner.post("/contracts", json={"customer_id": customer_id, "name": "Pumps by the hour",
                                            "starts_on": "2026-12-01", "terms": PLAN, **changes})


def test_a_contract_is_created_with_version_1_and_later_versions_never_rewrite_the_past(
    planner: httpx.Client, db: Database
) -> None:
    owner = customer(db)
    created = _new(planner, owner)
    assert created.status_code == 201, created.text
    body = created.json()
    contract_id = body["id"]
    [first] = body["versions"]
    assert (first["version"], first["effective_from"]) == (1, "2026-12-01")
    # Decimal text in, the same text out; tiers from the highest threshold down.
    assert first["terms"]["price_per_hour"] == "2.50" and first["terms"]["credit_tiers"][0]["below_pct"] == "99.5"
    dearer = {**PLAN, "price_per_hour": "2.75"}
    second = planner.post(f"/contracts/{contract_id}/versions", json={"effective_from": "2027-03-01",
                                                                      "terms": dearer})
    assert second.status_code == 201, second.text
    assert second.json()["version"] == 2
    again = planner.post(f"/contracts/{contract_id}/versions", json={"effective_from": "2027-03-01", "terms": PLAN})
    assert again.status_code == 409
    early = planner.post(f"/contracts/{contract_id}/versions", json={"effective_from": "2026-11-30", "terms": PLAN})
    assert early.status_code == 422
    with db.session() as session:
        feb, mar = (terms_in_force(session, contract_id, dt.date(2027, m, 1)) for m in (2, 3))
        before = terms_in_force(session, contract_id, dt.date(2026, 11, 30))
        audited = session.scalars(sa.select(AuditRow.object_type).where(AuditRow.action == "create")).all()
    assert feb is not None and mar is not None and before is None
    assert (feb.version, str(feb.terms.price_per_hour)) == (1, "2.50")
    assert (mar.version, str(mar.terms.price_per_hour)) == (2, "2.75")
    assert {"service_contract", "contract_version"} <= set(audited)
    assert [v["version"] for v in planner.get(f"/contracts/{contract_id}").json()["versions"]] == [1, 2]


def test_a_closed_period_refuses_new_versions_and_asset_moves_inside_it(planner: httpx.Client, db: Database) -> None:
    owner = customer(db)
    contract_id = _new(planner, owner).json()["id"]
    assert planner.post(f"/contracts/{contract_id}/assets",
                        json={"device_id": "p-1", "start": "2026-12-01T00:00:00Z"}).status_code == 201
    with db.session() as session:
        session.add(StatementRow(tenant=TENANT, contract_id=contract_id, customer_id=owner, period="2027-01",
                                 revision=0, currency="EUR", total="0", document={}, content_hash="0" * 64,
                                 closed_at=JAN + 40 * 86_400, closed_by="user:planner"))
    with db.session() as session:
        assert closed_until(session, contract_id) == dt.date(2027, 2, 1)
    inside = planner.post(f"/contracts/{contract_id}/versions", json={"effective_from": "2027-01-15", "terms": PLAN})
    assert inside.status_code == 409
    assert planner.post(f"/contracts/{contract_id}/versions",
                        json={"effective_from": "2027-02-01", "terms": PLAN}).status_code == 201
    other = _new(planner, owner).json()["id"]
    moved_back = planner.post(f"/contracts/{other}/assets", json={"device_id": "p-1", "start": "2027-01-20T00:00:00Z"})
    assert moved_back.status_code == 409  # it would change January's closed statement of the first contract
    moved = planner.post(f"/contracts/{other}/assets", json={"device_id": "p-1", "start": "2027-02-10T00:00:00Z"})
    assert moved.status_code == 201, moved.text
    covers = planner.get(f"/contracts/{contract_id}").json()["assets"]
    assert covers == [{"device_id": "p-1", "start": "2026-12-01T00:00:00Z", "end": "2027-02-10T00:00:00Z"}]
    assert planner.post(f"/contracts/{other}/assets", json={"device_id": "p-1"}).status_code == 409  # already


def test_a_customer_sees_only_its_own_contracts_and_changes_none(
    cloud: CloudService, clients: RoleClients, planner: httpx.Client, db: Database
) -> None:
    customer_client = clients(Role.CUSTOMER)
    mine = _customer_of(db, "customer-acme")
    theirs = customer(db, "Someone Else")
    own = _new(planner, mine).json()["id"]
    foreign = _new(planner, theirs).json()["id"]
    listed = customer_client.get("/contracts")
    assert listed.status_code == 200 and [c["id"] for c in listed.json()] == [own]
    assert customer_client.get(f"/contracts/{own}").status_code == 200
    assert customer_client.get(f"/contracts/{foreign}").status_code == 404
    assert customer_client.post(f"/contracts/{own}/versions",
                                json={"effective_from": "2027-05-01", "terms": PLAN}).status_code == 403
    # Another tenant: neither its contracts nor its customers nor its devices are there for acme's planner.
    with RoleClients(db, cloud.api_url, "globex") as globex:
        other_planner = globex(Role.PLANNER)
        assert other_planner.get(f"/contracts/{own}").status_code == 404
        assert other_planner.get("/contracts").json() == []
        assert _new(other_planner, mine).status_code == 404
        other_contract = _new(other_planner, customer(db, "Globex Customer", "globex")).json()["id"]
    assert planner.post(f"/contracts/{own}/assets", json={"device_id": "g-1",
                                                          "start": "2027-01-01T00:00:00Z"}).status_code == 201
    taken = planner.get(f"/contracts/{other_contract}")
    assert taken.status_code == 404
    with db.session() as session:
        contract_row = session.get(ServiceContractRow, other_contract)
        assert contract_row is not None and contract_row.tenant == "globex"


def test_a_customer_record_keeps_language_and_contacts_and_shows_the_preferred_channel(
    planner: httpx.Client, db: Database
) -> None:
    owner = customer(db)
    fresh = planner.get(f"/customers/{owner}")
    assert fresh.status_code == 200 and fresh.json()["language"] == "en" and fresh.json()["preferred_channel"] is None
    contacts = [{"name": "Ana Ruiz", "email": "ana@hydro.example", "phone": "+34 600 000 000", "role": "plant manager"}]
    updated = planner.put(f"/customers/{owner}", json={"language": "es-ES", "contacts": contacts})
    assert updated.status_code == 200, updated.text
    assert planner.put(f"/customers/{owner}/contact", json={"channel": "email",
                                                             "email": "ops@hydro.example"}).status_code == 200
    record = planner.get(f"/customers/{owner}").json()
    assert (record["language"], record["contacts"], record["preferred_channel"]) == ("es-ES", contacts, "email")
    assert planner.put(f"/customers/{owner}", json={"language": "not a tag"}).status_code == 422
    assert planner.put("/customers/999999", json={"language": "de"}).status_code == 404
    with db.session() as session:
        audit = session.scalars(sa.select(AuditRow).where(AuditRow.object_type == "customer",
                                                          AuditRow.action == "update")).all()
    assert [(a.action, (a.after or {}).get("language")) for a in audit] == [("update", "es-ES")]


def test_the_rules_take_the_horizon_of_the_service_contract_version_in_force(db: Database) -> None:
    owner = customer(db)
    contract_id = contract(db, owner, ("p-1",))
    with db.session() as session:
        session.add(ContractRow(device_id="p-1", tenant=TENANT, maintenance_horizon_cycles=40.0, customer="Old",
                                updated_at=0.0))
        row = session.get(ServiceContractRow, contract_id)
        assert row is not None
        # From March on the plan sets no horizon: the asset's own contract applies again.
        add_version(session, row, dt.date(2027, 3, 1), TERMS.__class__(**{**TERMS.__dict__,
                                                                          "maintenance_horizon_cycles": None}),
                    now=JAN, actor="user:planner")
    march = dt.datetime(2027, 3, 2, tzinfo=dt.UTC).timestamp()
    with db.session() as session:
        in_force = horizon_for(session, "p-1", 100.0, JAN)
        later = horizon_for(session, "p-1", 100.0, march)
        unknown_time = horizon_for(session, "p-1", 100.0)
        uncovered = horizon_for(session, "p-2", 100.0, JAN)
    assert (in_force.cycles, in_force.source, in_force.customer) == (500.0, "contract", "Hydro Works")
    assert (later.cycles, later.customer) == (40.0, "Old")
    assert unknown_time.cycles == 40.0 and (uncovered.cycles, uncovered.source) == (100.0, "default")
