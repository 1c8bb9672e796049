"""Personalised offers: drafted by rules under consent, approved or rejected by a planner, answered by the customer.

No route sends an unapproved offer: `approve` is the only way to `approved`, and delivery
(cloud.offers.delivery) takes nothing else. A customer sees only the offers sent to it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from sqlalchemy.orm import Session

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.deps import NowDep, SessionDep
from cloud.api.offer_schemas import (
    AcceptanceRatePublic,
    OfferDecisionIn,
    OfferPlanCreate,
    OfferPlanPublic,
    OfferPublic,
    OfferRejectIn,
    OfferResponseIn,
    OffersDrafted,
)
from cloud.api.params import RowIdPath
from cloud.api.timestamps import optional_utc, utc
from cloud.audit.trail import Change
from cloud.auth.roles import Permission
from cloud.offers import review
from cloud.offers.catalogue import PlanSpec, add_plan, plans_of
from cloud.offers.delivery import deliver
from cloud.offers.drafting import draft_offers
from cloud.offers.metrics import acceptance_rates
from cloud.store.offer_tables import CatalogueKind, OfferKind, OfferPlanRow, OfferRow, OfferStatus

router = APIRouter(tags=["offers"])

_READ, _DECIDE, _RESPOND = (allow(Permission.OFFERS_READ), allow(Permission.OFFERS_DECIDE),
                            allow(Permission.OFFERS_RESPOND))
_MISSING_OR_MOVED: dict[int | str, dict[str, Any]] = {
    404: {}, 409: {"description": "the offer is not in the status this needs"}}


@router.get("/offers", dependencies=[_READ])
def read_offers(session: SessionDep, principal: PrincipalDep,
                status: Annotated[OfferStatus | None, Query(description="e.g. draft: what awaits a planner")] = None,
                ) -> list[OfferPublic]:
    return [offer_public(row) for row in review.list_offers(session, principal.scope, status)]


@router.get("/offers/metrics", dependencies=[_READ])
def read_acceptance(session: SessionDep, principal: PrincipalDep) -> list[AcceptanceRatePublic]:
    """Acceptance per offer type: offered (sent), accepted, declined, and accepted / offered."""
    return [AcceptanceRatePublic(kind=r.kind, offered=r.offered, accepted=r.accepted, declined=r.declined,
                                 rate=r.rate) for r in acceptance_rates(session, principal.scope.tenant)]


# On the collection, not at /offers/draft: a static segment beside /offers/{offer_id} would be matched by that
# path too, and its 405 would then advertise the GET of /offers/{offer_id} as a method of /offers/draft.
@router.post("/offers", dependencies=[_DECIDE])
def run_rules(session: SessionDep, auditor: AuditDep, now: NowDep) -> OffersDrafted:
    """Draft offers now: run the offer rules for the caller's tenant (consenting customers only); the drafts added."""
    tenant = auditor.principal.tenant  # a platform administrator (no tenant) drafts for none
    rows = [] if tenant is None else draft_offers(session, tenant, now, auditor.principal, auditor.client)
    # The run itself is recorded too, so a run that drafted nothing still shows who ran the rules when.
    auditor.record(Change("offer.draft_run", "offers", tenant or "-", tenant, None, {"drafted": len(rows)}))
    session.commit()
    return OffersDrafted(drafted=[offer_public(row) for row in rows])


@router.get("/offers/{offer_id}", dependencies=[_READ], responses={404: {}})
def read_offer(offer_id: RowIdPath, session: SessionDep, principal: PrincipalDep) -> OfferPublic:
    return offer_public(review.get_offer(session, principal.scope, offer_id))


@router.post("/offers/{offer_id}/approve", dependencies=[_DECIDE], responses=_MISSING_OR_MOVED)
def approve_offer(offer_id: RowIdPath, body: OfferDecisionIn, session: SessionDep, auditor: AuditDep,
                  now: NowDep) -> OfferPublic:
    """Approve a draft: it goes out at once on the customer's preferred channel (withdrawn if consent is gone)."""
    row, change = review.approve(session, auditor.principal.scope, offer_id, auditor.principal.label, body.note, now)
    auditor.record(change)
    auditor.record(deliver(session, row, now))
    session.commit()
    return offer_public(row)


@router.post("/offers/{offer_id}/reject", dependencies=[_DECIDE], responses=_MISSING_OR_MOVED)
def reject_offer(offer_id: RowIdPath, body: OfferRejectIn, session: SessionDep, auditor: AuditDep,
                 now: NowDep) -> OfferPublic:
    """Reject a draft, saying why; it is never sent."""
    row, change = review.reject(session, auditor.principal.scope, offer_id, auditor.principal.label, body.reason, now)
    return _done(session, auditor, row, change)


@router.post("/offers/{offer_id}/accept", dependencies=[_RESPOND], responses=_MISSING_OR_MOVED)
def accept_offer(offer_id: RowIdPath, body: OfferResponseIn, session: SessionDep, auditor: AuditDep,
                 now: NowDep) -> OfferPublic:
    """The customer accepts an offer it was sent."""
    row, change = review.respond(session, auditor.principal.scope, offer_id, True, body.note, now)
    return _done(session, auditor, row, change)


@router.post("/offers/{offer_id}/decline", dependencies=[_RESPOND], responses=_MISSING_OR_MOVED)
def decline_offer(offer_id: RowIdPath, body: OfferResponseIn, session: SessionDep, auditor: AuditDep,
                  now: NowDep) -> OfferPublic:
    """The customer declines an offer it was sent."""
    row, change = review.respond(session, auditor.principal.scope, offer_id, False, body.note, now)
    return _done(session, auditor, row, change)


@router.get("/offer-plans", dependencies=[_READ])
def read_offer_plans(session: SessionDep, principal: PrincipalDep) -> list[OfferPlanPublic]:
    """The tenant's catalogue: plans (prices) and services (fee, expected saving) that offers may propose."""
    return [plan_public(row) for row in plans_of(session, principal.scope.tenant)]


@router.post("/offer-plans", status_code=status.HTTP_201_CREATED, dependencies=[_DECIDE],
             responses={409: {"description": "the catalogue has an entry of this name"}})
def add_offer_plan(body: OfferPlanCreate, session: SessionDep, auditor: AuditDep, now: NowDep) -> OfferPlanPublic:
    spec = PlanSpec(body.name, body.kind, body.currency, _decimal(body.price_per_hour), _decimal(body.price_per_cycle),
                    _decimal(body.price_per_kwh), Decimal(body.monthly_minimum), Decimal(body.monthly_fee),
                    Decimal(body.expected_saving), body.basis)
    row, change = add_plan(session, auditor.principal.tenant_for(body.tenant), spec, now)
    auditor.record(change)
    session.commit()
    return plan_public(row)


def _done(session: Session, auditor: AuditDep, row: OfferRow, change: Change) -> OfferPublic:
    auditor.record(change)
    session.commit()
    return offer_public(row)


def offer_public(row: OfferRow) -> OfferPublic:
    return OfferPublic(
        id=row.id, customer_id=row.customer_id, contract_id=row.contract_id, device_id=row.device_id,
        plan_id=row.plan_id, kind=OfferKind(row.kind), status=OfferStatus(row.status), title=row.title,
        explanation=row.explanation,
        expected_value=f"{row.expected_value:f}", currency=row.currency, data_used=row.data_used,
        purposes=row.purposes, created_at=utc(row.created_at), decided_by=row.decided_by,
        decided_at=optional_utc(row.decided_at), reason=row.reason, sent_at=optional_utc(row.sent_at),
        responded_at=optional_utc(row.responded_at))


def plan_public(row: OfferPlanRow) -> OfferPlanPublic:
    return OfferPlanPublic(id=row.id, name=row.name, kind=CatalogueKind(row.kind), currency=row.currency,
                           price_per_hour=_text(row.price_per_hour), price_per_cycle=_text(row.price_per_cycle),
                           price_per_kwh=_text(row.price_per_kwh), monthly_minimum=_amount(row.monthly_minimum),
                           monthly_fee=_amount(row.monthly_fee), expected_saving=_amount(row.expected_saving),
                           basis=row.basis)


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else _amount(value)


def _amount(value: Decimal) -> str:
    """Exact, without the store's padding (2.012500 and 2.0125 are the same price): fixed point, no exponent."""
    return f"{Decimal(value).normalize():f}"
