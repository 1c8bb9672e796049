"""The tenant's catalogue of what may be offered: usage plans (prices) and services (a monthly fee, an expected saving).

Kept in the `offer_plans` table; a planner adds entries (`POST /api/v1/offer-plans`). A
service's `expected_saving` is the maker's estimate of what it saves a customer per month
(avoided failures, downtime); `basis` says where it comes from, and every offer built on
it quotes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.audit.trail import Change
from cloud.billing.money import ZERO
from cloud.errors import ConflictError
from cloud.offers.rules import CatalogueEntry, Prices
from cloud.store.offer_tables import CatalogueKind, OfferPlanRow


@dataclass(frozen=True)
class PlanSpec:
    """A new catalogue entry as asked for."""

    name: str
    kind: CatalogueKind
    currency: str
    price_per_hour: Decimal | None = None
    price_per_cycle: Decimal | None = None
    price_per_kwh: Decimal | None = None
    monthly_minimum: Decimal = ZERO
    monthly_fee: Decimal = ZERO
    expected_saving: Decimal = ZERO
    basis: str = ""


def add_plan(session: Session, tenant: str, spec: PlanSpec, now: float) -> tuple[OfferPlanRow, Change]:
    """Add an entry; a name the tenant uses already is a ConflictError."""
    if session.scalar(sa.select(OfferPlanRow.id).where(OfferPlanRow.tenant == tenant,
                                                        OfferPlanRow.name == spec.name)) is not None:
        raise ConflictError(f"the catalogue has an entry named {spec.name!r}")
    row = OfferPlanRow(tenant=tenant, name=spec.name, kind=spec.kind.value, currency=spec.currency.upper(),
                       price_per_hour=spec.price_per_hour, price_per_cycle=spec.price_per_cycle,
                       price_per_kwh=spec.price_per_kwh, monthly_minimum=spec.monthly_minimum,
                       monthly_fee=spec.monthly_fee, expected_saving=spec.expected_saving, basis=spec.basis,
                       created_at=now)
    session.add(row)
    session.flush()
    return row, Change("offer_plan.create", "offer_plan", str(row.id), tenant, None,
                       {"name": row.name, "kind": row.kind})


def plans_of(session: Session, tenant: str | None) -> list[OfferPlanRow]:
    select = sa.select(OfferPlanRow).order_by(OfferPlanRow.id)
    if tenant is not None:
        select = select.where(OfferPlanRow.tenant == tenant)
    return list(session.scalars(select).all())


def catalogue_of(session: Session, tenant: str) -> tuple[CatalogueEntry, ...]:
    """The tenant's catalogue as the rules read it."""
    return tuple(CatalogueEntry(row.id, row.name, CatalogueKind(row.kind),
                                Prices(row.currency, _d(row.price_per_hour), _d(row.price_per_cycle),
                                       _d(row.price_per_kwh), Decimal(row.monthly_minimum)),
                                Decimal(row.monthly_fee), Decimal(row.expected_saving), row.basis)
                 for row in plans_of(session, tenant))


def _d(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value)
