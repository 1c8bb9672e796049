"""Service contracts in the store: created with their first plan version, versioned forward only, covering assets.

A version may not apply from a day inside a period already billed (`closed_until`), nor may an
asset join or leave a contract there: the past stays as it was billed. An asset is under at most
one contract at a time; attaching it to another closes its current cover at that moment.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.billing.plans import PlanTerms, terms_to_json
from cloud.errors import ConflictError, InvalidContractError, NotFoundError
from cloud.store.account_tables import CustomerRow
from cloud.store.contract_tables import ContractAssetRow, ContractVersionRow, ServiceContractRow
from cloud.store.scope import Scope
from cloud.store.tables import AssetRow

ClosedUntil = Callable[[Session, int], dt.date | None]


def _day_start(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()


def closed_until(session: Session, contract_id: int) -> dt.date | None:
    """The first day after the contract's last closed statement period (nothing before it may change); None when
    nothing is closed. cloud.billing.statements decides what is closed when it says (imported late: it builds on
    this module); until then, any statement of a period closes it."""
    try:
        statements = importlib.import_module("cloud.billing.statements")
    except ImportError:
        statements = None
    implementation = getattr(statements, "closed_until", None)
    if implementation is not None:
        return cast(ClosedUntil, implementation)(session, contract_id)
    from cloud.store.statement_tables import StatementRow

    last = session.scalar(sa.select(sa.func.max(StatementRow.period)).where(StatementRow.contract_id == contract_id))
    if last is None:
        return None
    year, month = (int(part) for part in str(last).split("-"))
    return dt.date(year + month // 12, month % 12 + 1, 1)


def visible_contract(session: Session, contract_id: int, scope: Scope) -> ServiceContractRow:
    """The contract if `scope` may see it (a customer only its own), else NotFoundError."""
    row = session.get(ServiceContractRow, contract_id)
    if row is None or not scope.owns(row.tenant) or (
        scope.customer_id is not None and row.customer_id != scope.customer_id
    ):
        raise NotFoundError(f"contract {contract_id} not found")
    return row


def contracts_in(session: Session, scope: Scope) -> list[ServiceContractRow]:
    """The contracts `scope` may see, by id."""
    query = sa.select(ServiceContractRow).where(scope.tenant_clause(ServiceContractRow.tenant))
    if scope.customer_id is not None:
        query = query.where(ServiceContractRow.customer_id == scope.customer_id)
    return list(session.scalars(query.order_by(ServiceContractRow.id)).all())


def create_contract(
    session: Session, tenant: str, customer_id: int, name: str, starts_on: dt.date, ends_on: dt.date | None,
    terms: PlanTerms, now: float, actor: str,
) -> ServiceContractRow:
    """A new contract of the tenant's customer, with plan version 1 in force from `starts_on`."""
    customer = session.get(CustomerRow, customer_id)
    if customer is None or customer.tenant != tenant:
        raise NotFoundError(f"customer {customer_id} not found")
    if ends_on is not None and ends_on < starts_on:
        raise InvalidContractError("a contract cannot end before it starts")
    row = ServiceContractRow(tenant=tenant, customer_id=customer_id, name=name, starts_on=starts_on,
                             ends_on=ends_on, created_at=now)
    session.add(row)
    session.flush()
    session.add(ContractVersionRow(contract_id=row.id, version=1, effective_from=starts_on,
                                   terms=terms_to_json(terms), created_at=now, created_by=actor))
    session.flush()
    return row


def add_version(
    session: Session, contract: ServiceContractRow, effective_from: dt.date, terms: PlanTerms, now: float, actor: str
) -> ContractVersionRow:
    """The contract's next plan version, in force from `effective_from`; never inside a closed period."""
    if effective_from < contract.starts_on:
        raise InvalidContractError(f"a version cannot apply before the contract starts ({contract.starts_on})")
    closed = closed_until(session, contract.id)
    if closed is not None and effective_from < closed:
        raise ConflictError(f"periods before {closed} are closed: a new version may apply from {closed} on")
    latest = session.scalar(
        sa.select(sa.func.max(ContractVersionRow.version)).where(ContractVersionRow.contract_id == contract.id))
    taken = session.scalar(sa.select(ContractVersionRow.id).where(
        ContractVersionRow.contract_id == contract.id, ContractVersionRow.effective_from == effective_from))
    if taken is not None:
        raise ConflictError(f"a version already applies from {effective_from}: versions are never rewritten")
    row = ContractVersionRow(contract_id=contract.id, version=int(latest or 0) + 1, effective_from=effective_from,
                             terms=terms_to_json(terms), created_at=now, created_by=actor)
    session.add(row)
    session.flush()
    return row


def attach_asset(session: Session, contract: ServiceContractRow, device_id: str, from_ts: float) -> ContractAssetRow:
    """Put the asset under `contract` from `from_ts`, ending its cover by another contract then."""
    asset = session.get(AssetRow, device_id)
    if asset is not None and asset.tenant != contract.tenant:
        raise NotFoundError(f"asset {device_id} not found")
    if from_ts < _day_start(contract.starts_on):
        raise InvalidContractError(f"an asset cannot join the contract before it starts ({contract.starts_on})")
    current = session.scalars(sa.select(ContractAssetRow).where(
        ContractAssetRow.device_id == device_id, ContractAssetRow.to_ts.is_(None)).with_for_update()).first()
    if current is not None and current.contract_id != contract.id:
        other = session.get(ServiceContractRow, current.contract_id)
        if other is None or other.tenant != contract.tenant:
            # Another tenant's device: as if it did not exist, and its cover there is not touched.
            raise NotFoundError(f"asset {device_id} not found")
    for contract_id in {contract.id, *([current.contract_id] if current is not None else [])}:
        closed = closed_until(session, contract_id)
        if closed is not None and from_ts < _day_start(closed):
            raise ConflictError(f"contract {contract_id} is billed up to {closed}: the asset may move from then on")
    if current is not None:
        if current.contract_id == contract.id:
            raise ConflictError(f"asset {device_id} is already under contract {contract.id}")
        if from_ts <= current.from_ts:
            raise ConflictError(f"asset {device_id} is under contract {current.contract_id} since a later time")
        current.to_ts = from_ts
    row = ContractAssetRow(contract_id=contract.id, device_id=device_id, from_ts=from_ts)
    session.add(row)
    session.flush()
    return row


def covers_of(session: Session, contract_id: int) -> list[ContractAssetRow]:
    """Every asset cover of the contract, past and present, by device and start."""
    return list(session.scalars(sa.select(ContractAssetRow).where(ContractAssetRow.contract_id == contract_id)
                                .order_by(ContractAssetRow.device_id, ContractAssetRow.from_ts)).all())
