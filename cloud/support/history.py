"""What a person answering a customer sees: the customer's whole history, as one JSON-safe snapshot.

The snapshot holds the customer, its assets (under per-asset contracts and, where the
billing tables exist, under service contracts), their work orders with findings, its
offers, statements and notifications, and its earlier help requests. Billing and offers
arrive in their own releases: a section whose table is not in this service's metadata or
database is simply absent, and `absent` names it, so a reader knows it was not left out
by mistake. Each section keeps the newest `SECTION_LIMIT` rows and says when it kept fewer.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.store.account_tables import CustomerRow
from cloud.store.notify_tables import NotificationRow, RecipientKind
from cloud.store.support_tables import HelpRequestRow
from cloud.store.tables import METADATA, AssetRow, ContractRow, FindingRow, WorkOrderRow

SECTION_LIMIT = 500
# Tables of later releases, read by name so this module does not depend on them: section -> table name.
OPTIONAL_TABLES = {"service_contracts": "service_contracts", "offers": "offers", "statements": "statements"}
SERVICE_CONTRACT_ASSETS = "contract_assets"
# Offers a customer has been sent: drafts, rejected and withdrawn ones never reached it and stay out of its history
# (which the customer reads back), so nothing unapproved reaches a customer this way.
OFFERS_SENT = ("sent", "accepted", "declined")


def customer_history(session: Session, customer: CustomerRow) -> dict[str, Any]:
    """The snapshot of `customer`'s history now (see the module's docstring for what it holds)."""
    absent: list[str] = []
    service_contracts = _optional_rows(session, "service_contracts", customer.id, (), absent)
    contract_ids = tuple(int(row["id"]) for row in service_contracts if "id" in row)
    devices = customer_devices(session, customer.id, contract_ids)
    return {
        "customer": {"id": customer.id, "name": customer.name, "tenant": customer.tenant},
        "assets": _assets(session, devices),
        "service_contracts": service_contracts,
        "work_orders": _work_orders(session, devices),
        "offers": _optional_rows(session, "offers", customer.id, contract_ids, absent),
        "statements": _optional_rows(session, "statements", customer.id, contract_ids, absent),
        "notifications": _notifications(session, customer.id),
        "help_requests": _help_requests(session, customer.id),
        "absent": absent,
    }


def customer_devices(session: Session, customer_id: int, contract_ids: Sequence[int] = ()) -> list[str]:
    """The device ids of the customer's assets: per-asset contracts, and service contracts' assets where known."""
    devices = set(session.scalars(sa.select(ContractRow.device_id).where(ContractRow.customer_id == customer_id)))
    table = _table(session, SERVICE_CONTRACT_ASSETS)
    if table is not None and contract_ids and {"contract_id", "device_id"} <= set(table.c.keys()):
        devices |= set(session.scalars(sa.select(table.c.device_id).where(table.c.contract_id.in_(contract_ids))))
    return sorted(devices)


def optional_table(session: Session, section: str) -> sa.Table | None:
    """The table behind an optional section (`offers`, `statements`, ...) if this release and database have it."""
    return _table(session, OPTIONAL_TABLES[section])


def owner_clause(table: sa.Table, customer_id: int, contract_ids: Sequence[int]) -> sa.ColumnElement[bool] | None:
    """Rows of `table` that are the customer's (offers: only those sent to it): by its `customer_id`, else by its
    `contract_id`; None: cannot tell."""
    if "customer_id" in table.c:
        clause = table.c.customer_id == customer_id
    elif "contract_id" in table.c:
        clause = table.c.contract_id.in_(contract_ids)
    else:
        return None
    if table.name == OPTIONAL_TABLES["offers"]:
        if "status" not in table.c:
            return None
        clause = sa.and_(clause, table.c.status.in_(OFFERS_SENT))
    return clause


def _table(session: Session, name: str) -> sa.Table | None:
    table = METADATA.tables.get(name)
    if table is None or not sa.inspect(session.connection()).has_table(name):
        return None
    return table


def _optional_rows(session: Session, section: str, customer_id: int, contract_ids: Sequence[int],
                   absent: list[str]) -> list[dict[str, Any]]:
    table = optional_table(session, section)
    where = None if table is None else owner_clause(table, customer_id, contract_ids)
    if table is None or where is None:
        absent.append(section)
        return []
    order = table.c.id.desc() if "id" in table.c else sa.true()
    rows = session.execute(sa.select(table).where(where).order_by(order).limit(SECTION_LIMIT)).mappings().all()
    return [json_safe({str(key): value for key, value in row.items()}) for row in rows]


def _assets(session: Session, devices: Sequence[str]) -> list[dict[str, Any]]:
    assets = {row.device_id: row for row in session.scalars(sa.select(AssetRow).where(
        AssetRow.device_id.in_(devices)))}
    contracts = {row.device_id: row for row in session.scalars(sa.select(ContractRow).where(
        ContractRow.device_id.in_(devices)))}
    out = []
    for device in devices:
        asset, contract = assets.get(device), contracts.get(device)
        out.append({
            "device_id": device, "kind": None if asset is None else asset.asset_kind,
            "online": None if asset is None else asset.online, "last_seen": None if asset is None else asset.last_seen,
            "maintenance_horizon_cycles": None if contract is None else contract.maintenance_horizon_cycles,
        })
    return out


def _work_orders(session: Session, devices: Sequence[str]) -> list[dict[str, Any]]:
    rows = session.execute(
        sa.select(WorkOrderRow, FindingRow.finding).outerjoin(FindingRow, FindingRow.work_order_id == WorkOrderRow.id)
        .where(WorkOrderRow.device_id.in_(devices)).order_by(WorkOrderRow.id.desc()).limit(SECTION_LIMIT)
    ).all()
    return [{"id": order.id, "device_id": order.device_id, "status": order.status, "rule": order.rule,
             "reason": order.reason, "created_at": order.created_at, "updated_at": order.updated_at,
             "planned_start": order.planned_start, "planned_end": order.planned_end, "finding": finding}
            for order, finding in rows]


def _notifications(session: Session, customer_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(sa.select(NotificationRow).where(
        NotificationRow.recipient_kind == RecipientKind.CUSTOMER.value, NotificationRow.recipient_id == customer_id,
    ).order_by(NotificationRow.id.desc()).limit(SECTION_LIMIT))
    return [{"id": row.id, "kind": row.kind, "status": row.status, "channel": row.channel,
             "order_id": row.order_id, "created_at": row.created_at, "sent_at": row.sent_at,
             "facts": json_safe(row.facts)} for row in rows]


def _help_requests(session: Session, customer_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(sa.select(HelpRequestRow).where(HelpRequestRow.customer_id == customer_id)
                           .order_by(HelpRequestRow.id.desc()).limit(SECTION_LIMIT))
    return [{"id": row.id, "about_kind": row.about_kind, "about_id": row.about_id, "message": row.message,
             "complaint": row.complaint, "status": row.status, "created_at": row.created_at,
             "first_answered_at": row.first_answered_at} for row in rows]


def json_safe(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as JSON: money and other decimals as exact text, dates as ISO-8601, bytes as base64."""
    return {str(key): _value(value) for key, value in row.items()}


def _value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Mapping):
        return json_safe(value)
    if isinstance(value, list | tuple):
        return [_value(item) for item in value]
    return value
