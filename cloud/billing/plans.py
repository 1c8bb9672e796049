"""A contract's plan: its priced terms, the version in force on a day, and the assets it covers over a time.

Versions never change once written: a new version applies from its `effective_from` date (UTC)
until the next one's, so a past period always reads the terms it was billed under. Decimals are
stored as strings in the version's JSON, so no price ever passes through a float.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.store.account_tables import CustomerRow
from cloud.store.contract_tables import ContractAssetRow, ContractVersionRow, ServiceContractRow


@dataclass(frozen=True)
class CreditTier:
    """Uptime below `below_pct` earns `credit_pct` of the period's usage charges."""

    below_pct: Decimal
    credit_pct: Decimal


@dataclass(frozen=True)
class PlanTerms:
    """One version of a contract's plan: prices per unit of use, the monthly minimum, the SLA, taxes."""

    currency: str  # ISO 4217, e.g. "EUR"
    price_per_hour: Decimal | None
    price_per_cycle: Decimal | None
    price_per_kwh: Decimal | None
    monthly_minimum: Decimal
    included_maintenance: bool
    sla_uptime_pct: Decimal | None
    credit_tiers: tuple[CreditTier, ...]
    maintenance_horizon_cycles: float | None
    tax_rate_pct: Decimal


@dataclass(frozen=True)
class ContractVersion:
    """A plan version as stored: in force from `effective_from` (a UTC date) until the next version's."""

    contract_id: int
    version: int
    effective_from: dt.date
    terms: PlanTerms
    created_at: float
    created_by: str


def _decimal_or_none(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def terms_to_json(terms: PlanTerms) -> dict[str, Any]:
    """The terms as JSON, each decimal as its exact string."""
    def text(value: Decimal | None) -> str | None:
        return None if value is None else str(value)

    return {
        "currency": terms.currency, "price_per_hour": text(terms.price_per_hour),
        "price_per_cycle": text(terms.price_per_cycle), "price_per_kwh": text(terms.price_per_kwh),
        "monthly_minimum": str(terms.monthly_minimum), "included_maintenance": terms.included_maintenance,
        "sla_uptime_pct": text(terms.sla_uptime_pct),
        "credit_tiers": [{"below_pct": str(t.below_pct), "credit_pct": str(t.credit_pct)} for t in terms.credit_tiers],
        "maintenance_horizon_cycles": terms.maintenance_horizon_cycles, "tax_rate_pct": str(terms.tax_rate_pct),
    }


def terms_from_json(data: dict[str, Any]) -> PlanTerms:
    """The terms `terms_to_json` wrote."""
    horizon = data.get("maintenance_horizon_cycles")
    return PlanTerms(
        currency=str(data["currency"]),
        price_per_hour=_decimal_or_none(data.get("price_per_hour")),
        price_per_cycle=_decimal_or_none(data.get("price_per_cycle")),
        price_per_kwh=_decimal_or_none(data.get("price_per_kwh")),
        monthly_minimum=Decimal(str(data.get("monthly_minimum", "0"))),
        included_maintenance=bool(data.get("included_maintenance", False)),
        sla_uptime_pct=_decimal_or_none(data.get("sla_uptime_pct")),
        credit_tiers=tuple(
            CreditTier(below_pct=Decimal(str(t["below_pct"])), credit_pct=Decimal(str(t["credit_pct"])))
            for t in data.get("credit_tiers", [])
        ),
        maintenance_horizon_cycles=None if horizon is None else float(horizon),
        tax_rate_pct=Decimal(str(data.get("tax_rate_pct", "0"))),
    )


def version_of(row: ContractVersionRow) -> ContractVersion:
    """The stored version as a value."""
    return ContractVersion(
        contract_id=row.contract_id, version=row.version, effective_from=row.effective_from,
        terms=terms_from_json(row.terms), created_at=row.created_at, created_by=row.created_by,
    )


def versions_of(session: Session, contract_id: int) -> list[ContractVersion]:
    """Every version of the contract's plan, oldest first."""
    rows = session.scalars(
        sa.select(ContractVersionRow).where(ContractVersionRow.contract_id == contract_id)
        .order_by(ContractVersionRow.effective_from)
    ).all()
    return [version_of(row) for row in rows]


def terms_in_force(session: Session, contract_id: int, day: dt.date) -> ContractVersion | None:
    """The version in force on `day` (the latest with `effective_from <= day`); None before the first."""
    row = session.scalars(
        sa.select(ContractVersionRow)
        .where(ContractVersionRow.contract_id == contract_id, ContractVersionRow.effective_from <= day)
        .order_by(ContractVersionRow.effective_from.desc()).limit(1)
    ).first()
    return None if row is None else version_of(row)


@dataclass(frozen=True)
class AssetWindow:
    """An asset under a contract over [start, end) (already clipped to the period asked about)."""

    device_id: str
    start: float
    end: float


def _day_start(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()


def asset_windows(session: Session, contract_id: int, start: float, end: float) -> list[AssetWindow]:
    """The contract's assets over [start, end), each with the part of it they were under the contract (and the
    contract ran: from the start of its `starts_on` day to the end of its `ends_on` day, both included)."""
    contract = session.get(ServiceContractRow, contract_id)
    if contract is None:
        return []
    start = max(start, _day_start(contract.starts_on))
    if contract.ends_on is not None:
        end = min(end, _day_start(contract.ends_on + dt.timedelta(days=1)))
    if end <= start:
        return []
    rows = session.scalars(
        sa.select(ContractAssetRow).where(
            ContractAssetRow.contract_id == contract_id,
            ContractAssetRow.from_ts < end,
            sa.or_(ContractAssetRow.to_ts.is_(None), ContractAssetRow.to_ts > start),
        ).order_by(ContractAssetRow.device_id, ContractAssetRow.from_ts)
    ).all()
    return [
        AssetWindow(row.device_id, max(start, row.from_ts), end if row.to_ts is None else min(end, row.to_ts))
        for row in rows
    ]


def contract_assets(session: Session, contract_id: int, start: float, end: float) -> list[str]:
    """The device ids under the contract at any time in [start, end), sorted."""
    return sorted({window.device_id for window in asset_windows(session, contract_id, start, end)})


@dataclass(frozen=True)
class ServiceHorizon:
    """The maintenance horizon a service contract sets for an asset now, and whose contract it is."""

    cycles: float
    contract_id: int
    customer_name: str | None


def service_horizon(session: Session, device_id: str, at: float) -> ServiceHorizon | None:
    """The horizon of the plan version in force at `at` of the service contract covering the asset then; None
    when no contract covers it or its version sets no horizon."""
    cover = session.scalars(sa.select(ContractAssetRow).where(
        ContractAssetRow.device_id == device_id, ContractAssetRow.from_ts <= at,
        sa.or_(ContractAssetRow.to_ts.is_(None), ContractAssetRow.to_ts > at),
    ).order_by(ContractAssetRow.from_ts.desc()).limit(1)).first()
    if cover is None:
        return None
    version = terms_in_force(session, cover.contract_id, dt.datetime.fromtimestamp(at, tz=dt.UTC).date())
    if version is None or version.terms.maintenance_horizon_cycles is None:
        return None
    contract = session.get(ServiceContractRow, cover.contract_id)
    customer = None if contract is None else session.get(CustomerRow, contract.customer_id)
    return ServiceHorizon(version.terms.maintenance_horizon_cycles, cover.contract_id,
                          None if customer is None else customer.name)
