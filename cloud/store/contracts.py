"""Service contracts: each asset's maintenance horizon (set by the business, read by the RUL rule)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cloud.store.tables import ContractRow


def find_contract(session: Session, device_id: str) -> ContractRow | None:
    return session.get(ContractRow, device_id)


def put_contract(
    session: Session, device_id: str, horizon_cycles: float, customer: str | None, now: float
) -> ContractRow:
    """Create or replace the asset's contract."""
    row = session.get(ContractRow, device_id)
    if row is None:
        row = ContractRow(
            device_id=device_id, maintenance_horizon_cycles=horizon_cycles, customer=customer, updated_at=now
        )
        session.add(row)
    else:
        row.maintenance_horizon_cycles, row.customer, row.updated_at = horizon_cycles, customer, now
    session.flush()
    return row
