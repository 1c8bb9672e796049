"""Helpers of the support and trust tests: a store with customers, an asset under contract, orders and findings."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
from apitest_support import api_alone
from authtest_support import RoleClients, api_key, bearer

from cloud.auth.accounts import create_customer
from cloud.auth.principal import Principal, PrincipalKind
from cloud.auth.roles import Role
from cloud.store.database import Database
from cloud.store.offer_tables import OfferRow
from cloud.store.schema import ensure_schema
from cloud.store.tables import AssetRow, ContractRow, FindingRow, WorkOrderRow

TENANT, OTHER = "acme", "globex"
NOW = 1_800_000_000.0
PLANNER = Principal(PrincipalKind.USER, "7", "pia", TENANT, Role.PLANNER)


@dataclass(frozen=True)
class Fleet:
    """Two customers of TENANT (A owns pump `p-a`, B owns `p-b`) and one of OTHER."""

    a: int
    b: int
    other: int

    def customer(self, customer_id: int, tenant: str = TENANT) -> Principal:
        return Principal(PrincipalKind.USER, f"c{customer_id}", f"customer-{customer_id}", tenant, Role.CUSTOMER,
                         customer_id=customer_id)


def support_database(url: str) -> Database:
    """A store migrated to this release's schema."""
    database = Database(url)
    ensure_schema(database)
    return database


def fleet(database: Database) -> Fleet:
    with database.session() as session:
        a, b = create_customer(session, TENANT, "Initech", NOW), create_customer(session, TENANT, "Hooli", NOW)
        other = create_customer(session, OTHER, "Globex", NOW)
        session.flush()
        for device, customer_id in (("p-a", a.id), ("p-b", b.id)):
            session.add(AssetRow(device_id=device, tenant=TENANT, first_seen=NOW - 86400, last_seen=NOW))
            session.add(ContractRow(device_id=device, tenant=TENANT, maintenance_horizon_cycles=40.0,
                                    customer_id=customer_id, updated_at=NOW))
        session.commit()
        return Fleet(a.id, b.id, other.id)


def done_order(database: Database, device: str, finding: str, at: float) -> int:
    """A work order completed at `at` with `finding` (straight in the store: the lifecycle is tested elsewhere)."""
    with database.session() as session:
        order = WorkOrderRow(device_id=device, tenant=TENANT, status="done", rule="persistent_anomaly",
                             reason="anomaly", evidence={}, created_at=at - 3600, updated_at=at)
        session.add(order)
        session.flush()
        session.add(FindingRow(work_order_id=order.id, device_id=device, model_id="m", model_version="1",
                               finding=finding, technician="user:tess", recorded_at=at))
        session.commit()
        return order.id


@dataclass
class Served:
    """The API alone over a store with `fleet`'s customers; `keys` a customer key of A and of B."""

    database: Database
    clients: RoleClients
    http: httpx.Client
    customers: Fleet
    keys: dict[str, str]

    def as_(self, who: str) -> dict[str, str]:
        return bearer(self.keys[who])


@contextmanager
def serve_api(tmp_path: Path) -> Iterator[Served]:
    """The API alone (no broker, no ingest) over a SQLite store, on a free port, its clock standing at NOW."""
    with api_alone(tmp_path, NOW) as api:
        customers = fleet(api.database)
        keys = {"a": api_key(api.database, TENANT, Role.CUSTOMER, "cust-a", customers.a),
                "b": api_key(api.database, TENANT, Role.CUSTOMER, "cust-b", customers.b)}
        with RoleClients(api.database, api.url, TENANT) as clients, \
                httpx.Client(base_url=f"{api.url}/api/v1") as http:
            yield Served(api.database, clients, http, customers, keys)


def offer(database: Database, customer_id: int, status: str, at: float, kind: str = "cheaper_plan") -> int:
    """An offer of `kind` to the customer, standing at `status` (straight in the store: drafting is P3's test)."""
    with database.session() as session:
        row = OfferRow(tenant=TENANT, customer_id=customer_id, kind=kind, status=status,
                       dedupe_key=f"test:{uuid.uuid4().hex}", title="A cheaper plan",
                       explanation="You use it a lot.", expected_value=Decimal("12.50"), currency="EUR",
                       data_used={}, purposes=["personalised_offers"], created_at=at)
        session.add(row)
        session.commit()
        return row.id
