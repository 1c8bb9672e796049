"""Service contracts with customers: create one with its first plan version, add versions, put assets under it.

A customer user sees only its own contracts; another tenant's or customer's contract is a 404.
Every change is audited in the request's transaction.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, status
from sqlalchemy.orm import Session

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.contract_schemas import (
    ContractAssetIn,
    ContractAssetPublic,
    ContractVersionCreate,
    ContractVersionPublic,
    CreditTierIn,
    PlanTermsIn,
    PlanTermsOut,
    ServiceContractCreate,
    ServiceContractPublic,
)
from cloud.api.deps import NowDep, SessionDep
from cloud.api.params import RowIdPath
from cloud.api.timestamps import epoch, optional_utc, utc
from cloud.audit.trail import Change
from cloud.auth.accounts import get_customer
from cloud.auth.roles import Permission
from cloud.billing import contracts
from cloud.billing.plans import ContractVersion, CreditTier, PlanTerms, terms_to_json, versions_of
from cloud.store.contract_tables import ServiceContractRow
from cloud.store.scope import Scope

router = APIRouter(prefix="/contracts", tags=["service contracts"])

_READ, _WRITE = allow(Permission.CONTRACTS_READ), allow(Permission.CONTRACTS_WRITE)
_CLOSED = {"description": "the date falls in a period already closed by a statement, or it is already taken"}


@router.get("", dependencies=[_READ])
def read_contracts(session: SessionDep, principal: PrincipalDep) -> list[ServiceContractPublic]:
    """The contracts the caller may see (a customer: its own), by id."""
    return [_public(session, row) for row in contracts.contracts_in(session, principal.scope)]


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[_WRITE], responses={404: {}, 422: {}})
def add_contract(body: ServiceContractCreate, session: SessionDep, auditor: AuditDep,
                 now: NowDep) -> ServiceContractPublic:
    """A contract with a customer of the tenant; its plan's version 1 applies from `starts_on`."""
    principal = auditor.principal
    tenant = principal.tenant_for(body.tenant)
    get_customer(session, Scope(tenant), body.customer_id)  # 404 unless a customer of that tenant
    row = contracts.create_contract(session, tenant, body.customer_id, body.name, body.starts_on, body.ends_on,
                                    _terms(body.terms), now, principal.label)
    public = _public(session, row)
    auditor.record(Change("create", "service_contract", str(row.id), tenant, after=public.model_dump(mode="json")))
    session.commit()
    return public


@router.get("/{contract_id}", dependencies=[_READ], responses={404: {}})
def read_contract(contract_id: RowIdPath, session: SessionDep, principal: PrincipalDep) -> ServiceContractPublic:
    """The contract with every plan version and every asset cover, past and present."""
    return _public(session, contracts.visible_contract(session, contract_id, principal.scope))


@router.post("/{contract_id}/versions", status_code=status.HTTP_201_CREATED, dependencies=[_WRITE],
             responses={404: {}, 409: _CLOSED, 422: {}})
def add_version(contract_id: RowIdPath, body: ContractVersionCreate, session: SessionDep, auditor: AuditDep,
                now: NowDep) -> ContractVersionPublic:
    """A new plan version from `effective_from` on; earlier versions and closed periods never change."""
    row = contracts.visible_contract(session, contract_id, auditor.principal.scope)
    terms = _terms(body.terms)
    version = contracts.add_version(session, row, body.effective_from, terms, now, auditor.principal.label)
    auditor.record(Change("create", "contract_version", f"{row.id}/{version.version}", row.tenant,
                          after={"effective_from": body.effective_from.isoformat(), "terms": terms_to_json(terms)}))
    session.commit()
    return _version_public(next(v for v in versions_of(session, row.id) if v.version == version.version))


@router.post("/{contract_id}/assets", status_code=status.HTTP_201_CREATED, dependencies=[_WRITE],
             responses={404: {}, 409: _CLOSED, 422: {}})
def add_asset(contract_id: RowIdPath, body: ContractAssetIn, session: SessionDep, auditor: AuditDep,
              now: NowDep) -> ContractAssetPublic:
    """Put an asset under the contract from `start` (default now), ending its cover by another contract then."""
    row = contracts.visible_contract(session, contract_id, auditor.principal.scope)
    cover = contracts.attach_asset(session, row, body.device_id, now if body.start is None else epoch(body.start))
    auditor.record(Change("create", "contract_asset", f"{row.id}/{cover.device_id}", row.tenant,
                          after={"device_id": cover.device_id, "from_ts": cover.from_ts}))
    session.commit()
    return ContractAssetPublic(device_id=cover.device_id, start=utc(cover.from_ts), end=optional_utc(cover.to_ts))


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _terms(body: PlanTermsIn) -> PlanTerms:
    return PlanTerms(
        currency=body.currency, price_per_hour=_decimal(body.price_per_hour),
        price_per_cycle=_decimal(body.price_per_cycle), price_per_kwh=_decimal(body.price_per_kwh),
        monthly_minimum=Decimal(body.monthly_minimum), included_maintenance=body.included_maintenance,
        sla_uptime_pct=_decimal(body.sla_uptime_pct),
        credit_tiers=tuple(sorted((CreditTier(Decimal(t.below_pct), Decimal(t.credit_pct)) for t in body.credit_tiers),
                                  key=lambda t: t.below_pct, reverse=True)),
        maintenance_horizon_cycles=body.maintenance_horizon_cycles, tax_rate_pct=Decimal(body.tax_rate_pct),
    )


def _terms_out(terms: PlanTerms) -> PlanTermsOut:
    data: dict[str, Any] = terms_to_json(terms)
    data["credit_tiers"] = [CreditTierIn(**tier) for tier in data["credit_tiers"]]
    return PlanTermsOut(**data)


def _version_public(version: ContractVersion) -> ContractVersionPublic:
    return ContractVersionPublic(version=version.version, effective_from=version.effective_from,
                                 terms=_terms_out(version.terms), created_at=utc(version.created_at),
                                 created_by=version.created_by)


def _public(session: Session, row: ServiceContractRow) -> ServiceContractPublic:
    return ServiceContractPublic(
        id=row.id, tenant=row.tenant, customer_id=row.customer_id, name=row.name, starts_on=row.starts_on,
        ends_on=row.ends_on, created_at=utc(row.created_at),
        versions=[_version_public(v) for v in versions_of(session, row.id)],
        assets=[ContractAssetPublic(device_id=c.device_id, start=utc(c.from_ts), end=optional_utc(c.to_ts))
                for c in contracts.covers_of(session, row.id)],
    )
