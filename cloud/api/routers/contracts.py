"""Service contracts: each asset's maintenance horizon (which the RUL rule compares estimates against) and customer."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.deps import NowDep, SessionDep, SettingsDep
from cloud.api.model_schemas import ContractCreate, ContractPublic
from cloud.api.params import DeviceIdPath
from cloud.api.timestamps import utc
from cloud.api.work_order_schemas import ApprovalPolicyIn
from cloud.audit.trail import Change
from cloud.auth.accounts import get_customer
from cloud.auth.principal import Principal
from cloud.auth.roles import Permission
from cloud.errors import NotFoundError
from cloud.store.assets import find_asset, get_asset
from cloud.store.contracts import ContractTerms, find_contract, put_contract, visible_contract
from cloud.store.scope import Scope
from cloud.store.tables import ContractRow

router = APIRouter(prefix="/assets", tags=["contracts"])


@router.put("/{device_id}/contract", dependencies=[allow(Permission.CONTRACTS_WRITE)], responses={404: {}, 422: {}})
def write_contract(device_id: DeviceIdPath, contract: ContractCreate, session: SessionDep, auditor: AuditDep,
                   now: NowDep) -> ContractPublic:
    """Set (or replace) the asset's contract; it may precede the device's first message."""
    principal = auditor.principal
    tenant = _contract_tenant(session, principal, device_id, contract.tenant)
    if contract.customer_id is not None:
        get_customer(session, Scope(tenant), contract.customer_id)  # 404 unless a customer of the same tenant
    existing = find_contract(session, device_id)
    before = None if existing is None else _fields(existing)
    row = put_contract(session, device_id, ContractTerms(tenant, contract.maintenance_horizon_cycles,
                                                         contract.customer, contract.customer_id,
                                                         None if contract.approval_policy is None else
                                                         contract.approval_policy.model_dump(mode="json")), now)
    auditor.record(Change("put", "contract", device_id, tenant, before, _fields(row)))
    session.commit()
    return _public(device_id, row)


@router.get("/{device_id}/contract", dependencies=[allow(Permission.CONTRACTS_READ)], responses={404: {}})
def read_contract(
    device_id: DeviceIdPath, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> ContractPublic:
    """The horizon that applies to the asset: its contract's, or the platform default (`source` says which)."""
    row = visible_contract(session, device_id, principal.scope)
    if row is not None:
        return _public(device_id, row)
    get_asset(session, device_id, principal.scope)  # no contract the caller may see: the asset must be its own
    if find_contract(session, device_id) is not None:
        raise NotFoundError(f"asset {device_id!r} does not exist")  # a contract of another tenant or customer
    return ContractPublic(
        device_id=device_id,
        maintenance_horizon_cycles=settings.default_maintenance_horizon_cycles,
        customer=None,
        source="default",
        updated_at=None,
    )


def _contract_tenant(session: Session, principal: Principal, device_id: str, requested: str | None) -> str:
    """The tenant of the asset (or of its earlier contract); a new device's tenant is the caller's."""
    asset, existing = find_asset(session, device_id), find_contract(session, device_id)
    owner = asset.tenant if asset is not None else existing.tenant if existing is not None else None
    if owner is None:
        return principal.tenant_for(requested)
    if not principal.scope.owns(owner):
        raise NotFoundError(f"asset {device_id!r} does not exist")
    return owner


def _fields(row: ContractRow) -> dict[str, object]:
    return {"maintenance_horizon_cycles": row.maintenance_horizon_cycles, "customer": row.customer,
            "customer_id": row.customer_id, "approval_policy": row.approval_policy}


def _public(device_id: str, row: ContractRow) -> ContractPublic:
    return ContractPublic(
        device_id=device_id,
        maintenance_horizon_cycles=row.maintenance_horizon_cycles,
        customer=row.customer,
        customer_id=row.customer_id,
        source="contract",
        updated_at=utc(row.updated_at),
        approval_policy=None if row.approval_policy is None else ApprovalPolicyIn.model_validate(row.approval_policy),
    )
