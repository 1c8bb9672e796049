"""All of a customer's data as one JSON document, read table by table from what this release stores.

Which rows are the customer's is decided from the schema, not a hand-kept list, so a table
another part adds is exported as soon as it exists:

1. `customers`: the customer's own row.
2. A table with a `customer_id` column: the rows naming the customer (contracts, consents,
   offers, statements, help requests, user accounts and API keys, ...).
3. `contact_points` and `notifications`: the rows whose recipient is the customer.
4. A table with a `device_id` column: the rows of the customer's assets (assets under its
   contracts now or before: usage reports, events, work orders, findings, ...), except the
   device's credentials and configuration (`DEVICE_INTERNAL`), which are the platform's.
5. A table with a foreign key to rows already exported: the rows pointing at them (plan
   versions of its contracts, answers to its help requests, transitions of its orders).

Never exported: secrets (a column named like a hash, secret or password) and binary content
(photos are listed, not embedded), and the audit trail (it names staff, and is kept
append-only apart). Telemetry stays in the time-series store and is read per asset through
`GET /api/v1/assets/{id}/telemetry`; the document says so.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.auth.accounts import get_customer
from cloud.errors import NotFoundError
from cloud.store.scope import Scope
from cloud.store.tables import METADATA

FORMAT = "paas-customer-export/1"
DEVICE_INTERNAL = frozenset({"device_credentials", "manifest_counters", "desired_state", "rollout_devices",
                             "dead_letters", "model_artifacts"})
NEVER = frozenset({"audit_log", "refresh_tokens", "sign_in_failures"})
_SECRET_WORDS = ("hash", "secret", "password")
NOT_INCLUDED = {
    "telemetry": "kept in the time-series store; read it per asset at GET /api/v1/assets/{device_id}/telemetry",
    "audit_log": "the platform's append-only trail of who changed what; it names staff",
    "secrets": "password and key hashes, webhook secrets: never shown",
    "binary content": "photos and model files are listed by id, not embedded",
}


def export_customer(session: Session, scope: Scope, customer_id: int, now: float) -> dict[str, Any]:
    """The customer's data as one JSON-ready document (a customer may export only its own)."""
    if scope.customer_id is not None and scope.customer_id != customer_id:
        raise NotFoundError(f"customer {customer_id} does not exist")
    customer = get_customer(session, scope, customer_id)
    present = set(sa.inspect(session.get_bind()).get_table_names())
    exported: dict[str, list[dict[str, Any]]] = {}
    ids: dict[str, set[Any]] = {}
    devices = customer_devices(session, customer.id, present)
    for table in METADATA.sorted_tables:
        if table.name not in present or table.name in NEVER or table.name in DEVICE_INTERNAL:
            continue
        clause = _clause(table, customer.id, devices, ids)
        if clause is None:
            continue
        rows = [dict(row._mapping) for row in session.execute(sa.select(table).where(clause))]
        if not rows:
            continue
        exported[table.name] = [_plain(table, row) for row in rows]
        if "id" in table.c:
            ids[table.name] = {row["id"] for row in rows}
    return {"format": FORMAT, "exported_at": _iso(now), "tenant": customer.tenant, "customer_id": customer.id,
            "tables": exported, "not_included": NOT_INCLUDED}


def customer_devices(session: Session, customer_id: int, present: set[str]) -> set[str]:
    """The assets ever under the customer's contracts: per-asset contracts and service contracts' covers."""
    devices: set[str] = set()
    tables = METADATA.tables
    if "contracts" in present:
        contracts = tables["contracts"]
        devices |= set(session.scalars(sa.select(contracts.c.device_id).where(contracts.c.customer_id == customer_id)))
    if {"contract_assets", "service_contracts"} <= present:
        covers, service = tables["contract_assets"], tables["service_contracts"]
        mine = sa.select(service.c.id).where(service.c.customer_id == customer_id)
        devices |= set(session.scalars(sa.select(covers.c.device_id).where(covers.c.contract_id.in_(mine))))
    return devices


def _clause(table: sa.Table, customer_id: int, devices: set[str],
            ids: dict[str, set[Any]]) -> sa.ColumnElement[bool] | None:
    if table.name == "customers":
        return table.c.id == customer_id
    if "customer_id" in table.c:
        return sa.and_(table.c.customer_id == customer_id)
    if "recipient_kind" in table.c and "recipient_id" in table.c:
        return sa.and_(table.c.recipient_kind == "customer", table.c.recipient_id == customer_id)
    if "device_id" in table.c and devices:
        return table.c.device_id.in_(sorted(devices))
    links = [column.in_(sorted(ids[fk.column.table.name])) for column in table.c for fk in column.foreign_keys
             if fk.column.table.name in ids and fk.column.name == "id" and fk.column.table.name != "customers"]
    return sa.or_(*links) if links else None


def _plain(table: sa.Table, row: dict[str, Any]) -> dict[str, Any]:
    return {name: _value(value) for name, value in row.items()
            if not any(word in name for word in _SECRET_WORDS)
            and not isinstance(table.c[name].type, sa.LargeBinary)}


def _value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    return value


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")
