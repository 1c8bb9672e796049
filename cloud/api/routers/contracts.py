"""Service contracts: each asset's maintenance horizon, which the RUL rule compares estimates against."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.api.deps import NowDep, SessionDep, SettingsDep
from cloud.api.model_schemas import ContractCreate, ContractPublic
from cloud.api.timestamps import utc
from cloud.store.contracts import find_contract, put_contract
from cloud.store.tables import ContractRow

router = APIRouter(prefix="/assets", tags=["contracts"])


@router.put("/{device_id}/contract")
def write_contract(device_id: str, contract: ContractCreate, session: SessionDep, now: NowDep) -> ContractPublic:
    """Set (or replace) the asset's contract; it may precede the device's first message."""
    row = put_contract(session, device_id, contract.maintenance_horizon_cycles, contract.customer, now)
    session.commit()
    return _public(device_id, row)


@router.get("/{device_id}/contract")
def read_contract(device_id: str, session: SessionDep, settings: SettingsDep) -> ContractPublic:
    """The horizon that applies to the asset: its contract's, or the platform default (`source` says which)."""
    row = find_contract(session, device_id)
    if row is None:
        return ContractPublic(
            device_id=device_id,
            maintenance_horizon_cycles=settings.default_maintenance_horizon_cycles,
            customer=None,
            source="default",
            updated_at=None,
        )
    return _public(device_id, row)


def _public(device_id: str, row: ContractRow) -> ContractPublic:
    return ContractPublic(
        device_id=device_id,
        maintenance_horizon_cycles=row.maintenance_horizon_cycles,
        customer=row.customer,
        source="contract",
        updated_at=utc(row.updated_at),
    )
