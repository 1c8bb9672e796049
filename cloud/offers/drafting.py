"""Drafting offers: gather each consenting customer's facts, run the rules, store what they propose as drafts.

Consent first: a customer without consent to personalised offers is not looked at; its
usage is read only with consent to usage analytics, its assets' health and work orders
only with consent to maintenance (cloud.offers.rules says which rule needs which). The
period looked at is the last whole month before `now` (usage), the last 30 days (health)
and the last 90 days (faults). Idempotent: a proposal's key is unique, so drafting again
finds it and adds nothing; `draft_offers` returns only the drafts it added. A draft is
never sent from here: a planner approves it first (cloud.offers.review).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.audit.trail import Change, record
from cloud.auth.principal import SERVICE, Principal
from cloud.billing.metering import billable_use, period_bounds
from cloud.billing.plans import PlanTerms, contract_assets, terms_in_force
from cloud.consent.ledger import Purpose, has_consent
from cloud.offers.catalogue import catalogue_of
from cloud.offers.rules import Candidate, CustomerFacts, FaultFacts, Prices, UsageFacts, WearFacts, propose
from cloud.store.account_tables import CustomerRow
from cloud.store.contract_tables import ServiceContractRow
from cloud.store.offer_tables import OfferRow, OfferStatus
from cloud.store.tables import ContractRow, EventRow, FindingRow, WorkOrderRow

WEAR_WINDOW_S = 30 * 86400.0
FAULT_WINDOW_S = 90 * 86400.0
DEFAULT_CURRENCY = "EUR"


def draft_offers(session: Session, tenant: str, now: float, actor: Principal = SERVICE,
                 client: str = "service") -> list[OfferRow]:
    """Run the rules for every consenting customer of `tenant`; the drafts added now, each audited."""
    added = []
    customers = session.scalars(sa.select(CustomerRow).where(CustomerRow.tenant == tenant)
                                .order_by(CustomerRow.id)).all()
    for customer in customers:
        if not has_consent(session, customer.id, Purpose.PERSONALISED_OFFERS):
            continue
        consented = frozenset(p for p in Purpose if has_consent(session, customer.id, p))
        for candidate in propose(gather(session, customer, consented, now), consented):
            row = _store(session, tenant, candidate, now)
            if row is not None:
                added.append(row)
                record(session, actor, client, Change("offer.draft", "offer", str(row.id), tenant, None,
                                                      {"status": row.status, "kind": row.kind}), now)
    return added


def gather(session: Session, customer: CustomerRow, consented: frozenset[Purpose], now: float) -> CustomerFacts:
    """The facts the consented purposes allow reading about `customer`."""
    contracts = session.scalars(sa.select(ServiceContractRow).where(ServiceContractRow.customer_id == customer.id)
                                .order_by(ServiceContractRow.id)).all()
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    terms = {c.id: v.terms for c in contracts if (v := terms_in_force(session, c.id, today)) is not None}
    catalogue = catalogue_of(session, customer.tenant)
    currency = next((t.currency for t in terms.values()), catalogue[0].prices.currency if catalogue
                    else DEFAULT_CURRENCY)
    usage: tuple[UsageFacts, ...] = ()
    if Purpose.USAGE_ANALYTICS in consented:
        usage = tuple(u for c in contracts if (u := _usage(session, c.id, now)) is not None)
    wear: tuple[WearFacts, ...] = ()
    faults: tuple[FaultFacts, ...] = ()
    if Purpose.MAINTENANCE in consented:
        devices = _devices(session, customer.id, [c.id for c in contracts], now)
        wear = tuple(_wear(session, device, horizon, now) for device, horizon in devices.items())
        faults = tuple(f for device in devices if (f := _faults(session, device, now)) is not None)
    return CustomerFacts(customer.id, currency, catalogue, usage, wear, faults)


def _usage(session: Session, contract_id: int, now: float) -> UsageFacts | None:
    """The contract's use in the last whole month before `now`, under the plan in force on its first day."""
    first_of_month = dt.datetime.fromtimestamp(now, dt.UTC).date().replace(day=1)
    period = f"{first_of_month - dt.timedelta(days=1):%Y-%m}"
    start, end = period_bounds(period)
    version = terms_in_force(session, contract_id, dt.datetime.fromtimestamp(start, dt.UTC).date())
    if version is None:
        return None
    use = billable_use(session, contract_id, start, end)
    if not use.uses:
        return None
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for meter in use.uses:
        totals[meter.meter] += meter.quantity
    report_ids = tuple(sorted({rid for meter in use.uses for rid in meter.report_ids}))
    return UsageFacts(contract_id, period, prices_of(version.terms), dict(totals), report_ids)


def prices_of(terms: PlanTerms) -> Prices:
    return Prices(terms.currency, terms.price_per_hour, terms.price_per_cycle, terms.price_per_kwh,
                  terms.monthly_minimum)


def _devices(session: Session, customer_id: int, contract_ids: Sequence[int], now: float) -> dict[str, float | None]:
    """The customer's assets (service contracts and per-asset contracts) with their maintenance horizon."""
    devices: dict[str, float | None] = {}
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    for contract_id in contract_ids:
        version = terms_in_force(session, contract_id, today)
        for device in contract_assets(session, contract_id, now - WEAR_WINDOW_S, now):
            devices[device] = None if version is None else version.terms.maintenance_horizon_cycles
    for row in session.scalars(sa.select(ContractRow).where(ContractRow.customer_id == customer_id)).all():
        if devices.get(row.device_id) is None:
            devices[row.device_id] = row.maintenance_horizon_cycles
    return dict(sorted(devices.items()))


def _wear(session: Session, device_id: str, horizon: float | None, now: float) -> WearFacts:
    since = now - WEAR_WINDOW_S
    events = session.execute(sa.select(EventRow.id, EventRow.is_anomaly, EventRow.rul_lower).where(
        EventRow.device_id == device_id, EventRow.ts >= since, EventRow.ts < now)
        .order_by(EventRow.ts, EventRow.id)).all()
    ruls = [rul for _id, _anomaly, rul in events if rul is not None]
    used = tuple(event_id for event_id, anomaly, rul in events if anomaly or rul is not None)
    return WearFacts(device_id, since, now, sum(1 for _id, anomaly, _rul in events if anomaly),
                     ruls[0] if ruls else None, ruls[-1] if ruls else None, horizon, used)


def _faults(session: Session, device_id: str, now: float) -> FaultFacts | None:
    """The asset's orders found to be real faults in the window, each with its top channel (or a named cavitation)."""
    since = now - FAULT_WINDOW_S
    rows = session.execute(sa.select(WorkOrderRow.id, FindingRow.notes).join(
        FindingRow, FindingRow.work_order_id == WorkOrderRow.id).where(
        WorkOrderRow.device_id == device_id, FindingRow.finding == "true_fault", FindingRow.recorded_at >= since,
        FindingRow.recorded_at < now).order_by(WorkOrderRow.id)).all()
    if not rows:
        return None
    orders = {}
    for order_id, notes in rows:
        orders[order_id] = "cavitation" if notes and "cavitation" in notes.lower() else _top_channel(session, order_id)
    return FaultFacts(device_id, since, now, orders)


def _top_channel(session: Session, order_id: int) -> str:
    totals: dict[str, float] = defaultdict(float)
    for contributions in session.scalars(sa.select(EventRow.contributions).where(EventRow.work_order_id == order_id)):
        for channel, value in (contributions or {}).items():
            if isinstance(value, int | float):
                totals[channel] += abs(float(value))
    return max(sorted(totals), key=lambda channel: totals[channel], default="unknown")


def _store(session: Session, tenant: str, candidate: Candidate, now: float) -> OfferRow | None:
    """The new draft, or None when this proposal exists already (in any status)."""
    if session.scalar(sa.select(OfferRow.id).where(OfferRow.dedupe_key == candidate.key)) is not None:
        return None
    row = OfferRow(tenant=tenant, customer_id=candidate.customer_id, contract_id=candidate.contract_id,
                   device_id=candidate.device_id, plan_id=candidate.plan_id, kind=candidate.kind.value,
                   status=OfferStatus.DRAFT.value, dedupe_key=candidate.key[:200], title=candidate.title,
                   explanation=candidate.explanation, expected_value=candidate.expected_value,
                   currency=candidate.currency, data_used=candidate.data_used,
                   purposes=[p.value for p in candidate.purposes], created_at=now)
    session.add(row)
    session.flush()
    return row
