"""Service contracts: each asset's maintenance horizon (set by the business, read by the RUL rule) and its customer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from cloud.store.scope import Scope
from cloud.store.tables import ContractRow


@dataclass(frozen=True)
class ContractTerms:
    tenant: str
    maintenance_horizon_cycles: float
    customer: str | None
    customer_id: int | None
    approval_policy: dict[str, Any] | None = None  # cloud.maintenance.policy


def find_contract(session: Session, device_id: str) -> ContractRow | None:
    """The asset's contract, whoever asks (the service's own rules)."""
    return session.get(ContractRow, device_id)


def visible_contract(session: Session, device_id: str, scope: Scope) -> ContractRow | None:
    """The asset's contract if `scope` may see it."""
    row = session.get(ContractRow, device_id)
    if row is None or not scope.owns(row.tenant):
        return None
    if scope.customer_id is not None and row.customer_id != scope.customer_id:
        return None
    return row


def put_contract(session: Session, device_id: str, terms: ContractTerms, now: float) -> ContractRow:
    """Create or replace the asset's contract (the caller checked that the tenant may)."""
    row = session.get(ContractRow, device_id)
    if row is None:
        row = ContractRow(device_id=device_id, tenant=terms.tenant, updated_at=now,
                          maintenance_horizon_cycles=terms.maintenance_horizon_cycles)
        session.add(row)
    row.tenant = terms.tenant
    row.maintenance_horizon_cycles, row.customer, row.customer_id = (
        terms.maintenance_horizon_cycles, terms.customer, terms.customer_id)
    row.approval_policy = terms.approval_policy
    row.updated_at = now
    session.flush()
    return row
