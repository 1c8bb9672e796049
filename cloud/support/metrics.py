"""Trust metrics for planners: are customers well served by the people and the automation behind the service?

Per customer and over the tenant, in a window [since, until) of UTC epoch seconds:

- offers: how many reached the customer (sent, accepted or declined: drafts, rejected and
  withdrawn ones never did), how many it accepted and declined, and the acceptance rate
  accepted / sent, as cloud.offers.metrics counts it per offer type; by creation time.
- complaints: help requests flagged as complaints, and the complaint rate (complaints / help
  requests), by the request's creation time.
- time to a human: seconds from a help request to its first person's answer, median and
  90th percentile by the nearest-rank method (the smallest value with at least p% of the
  values at or below it: always one that was observed); requests still waiting are counted
  in `waiting` and the longest wait so far in `longest_wait_s`, never left out silently.
- false alarms: of the work orders completed in the window (`done`, by the finding's time),
  the share whose finding was `false_alarm`; a customer's orders are those on the assets of
  its per-asset contracts.

A rate with no denominator is null, not 0: "no data" is not "perfect".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.maintenance.status import WorkOrderStatus
from cloud.offers.metrics import AcceptanceRate, acceptance_rates
from cloud.store.account_tables import CustomerRow
from cloud.store.offer_tables import OfferRow, OfferStatus
from cloud.store.scope import Scope
from cloud.store.support_tables import HelpRequestRow
from cloud.store.tables import ContractRow, FindingRow, WorkOrderRow

FALSE_ALARM = "false_alarm"
OFFERED = (OfferStatus.SENT, OfferStatus.ACCEPTED, OfferStatus.DECLINED)  # as cloud.offers.metrics counts them


@dataclass
class Trust:
    """The trust numbers of one customer, or of the whole tenant (`customer_id` None)."""

    customer_id: int | None
    name: str | None = None
    offers_sent: int | None = None
    offers_accepted: int | None = None
    offers_declined: int | None = None
    help_requests: int = 0
    complaints: int = 0
    waiting: int = 0
    longest_wait_s: float | None = None
    answer_times_s: list[float] = field(default_factory=list)
    orders_done: int = 0
    false_alarms: int = 0

    @property
    def offer_acceptance_rate(self) -> float | None:
        return None if not self.offers_sent else (self.offers_accepted or 0) / self.offers_sent

    @property
    def complaint_rate(self) -> float | None:
        return None if self.help_requests == 0 else self.complaints / self.help_requests

    @property
    def median_time_to_human_s(self) -> float | None:
        return percentile(self.answer_times_s, 50)

    @property
    def p90_time_to_human_s(self) -> float | None:
        return percentile(self.answer_times_s, 90)

    @property
    def false_alarm_rate(self) -> float | None:
        return None if self.orders_done == 0 else self.false_alarms / self.orders_done


# Where one row's numbers go: the tenant's and (if it has one) its customer's.
_Of = Callable[[int | None], list[Trust]]


@dataclass(frozen=True)
class TrustReport:
    since: float
    until: float
    overall: Trust
    customers: list[Trust]
    offers_source: str  # how the offer numbers are counted
    offers_by_type: list[AcceptanceRate]  # cloud.offers.metrics: per offer type, all time


def percentile(values: Sequence[float], pct: float) -> float | None:
    """The nearest-rank percentile of `values` (None for none)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def trust_report(session: Session, scope: Scope, since: float, until: float, now: float) -> TrustReport:
    """The trust numbers of the scope's tenant (see the module's docstring for each definition)."""
    overall = Trust(None)
    per: dict[int, Trust] = {}

    def of(customer_id: int | None) -> list[Trust]:
        if customer_id is None:
            return [overall]
        return [overall, per.setdefault(customer_id, Trust(customer_id))]

    for customer in session.scalars(sa.select(CustomerRow).where(scope.tenant_clause(CustomerRow.tenant))):
        per[customer.id] = Trust(customer.id, customer.name)
    _help(session, scope, since, until, now, of)
    _false_alarms(session, scope, since, until, of)
    source = _offers(session, scope, since, until, of, overall, per)
    return TrustReport(since, until, overall, [per[k] for k in sorted(per)], source,
                       acceptance_rates(session, scope.tenant))


def _help(session: Session, scope: Scope, since: float, until: float, now: float, of: _Of) -> None:
    rows = session.execute(sa.select(HelpRequestRow.customer_id, HelpRequestRow.complaint, HelpRequestRow.created_at,
                                     HelpRequestRow.first_answered_at).where(
        scope.tenant_clause(HelpRequestRow.tenant), HelpRequestRow.created_at >= since,
        HelpRequestRow.created_at < until)).all()
    for customer_id, complaint, created_at, answered_at in rows:
        for trust in of(customer_id):
            trust.help_requests += 1
            trust.complaints += int(bool(complaint))
            if answered_at is not None:
                trust.answer_times_s.append(max(0.0, answered_at - created_at))
            else:
                trust.waiting += 1
                trust.longest_wait_s = max(trust.longest_wait_s or 0.0, now - created_at)


def _false_alarms(session: Session, scope: Scope, since: float, until: float, of: _Of) -> None:
    rows = session.execute(
        sa.select(ContractRow.customer_id, FindingRow.finding)
        .select_from(WorkOrderRow).join(FindingRow, FindingRow.work_order_id == WorkOrderRow.id)
        .outerjoin(ContractRow, ContractRow.device_id == WorkOrderRow.device_id)
        .where(scope.tenant_clause(WorkOrderRow.tenant), WorkOrderRow.status == WorkOrderStatus.DONE.value,
               FindingRow.recorded_at >= since, FindingRow.recorded_at < until)).all()
    for customer_id, finding in rows:
        for trust in of(customer_id):
            trust.orders_done += 1
            trust.false_alarms += int(finding == FALSE_ALARM)


def _offers(session: Session, scope: Scope, since: float, until: float, of: _Of, overall: Trust,
            per: dict[int, Trust]) -> str:
    """Offers sent in the window (by creation time) and how they were answered, as cloud.offers.metrics counts."""
    for trust in (overall, *per.values()):
        trust.offers_sent, trust.offers_accepted, trust.offers_declined = 0, 0, 0
    select = sa.select(OfferRow.customer_id, OfferRow.status, sa.func.count()).where(
        scope.tenant_clause(OfferRow.tenant), OfferRow.created_at >= since, OfferRow.created_at < until,
        OfferRow.status.in_([s.value for s in OFFERED])).group_by(OfferRow.customer_id, OfferRow.status)
    for customer_id, status, n in session.execute(select).all():
        for trust in of(customer_id):
            trust.offers_sent = (trust.offers_sent or 0) + int(n)
            if status == OfferStatus.ACCEPTED:
                trust.offers_accepted = (trust.offers_accepted or 0) + int(n)
            elif status == OfferStatus.DECLINED:
                trust.offers_declined = (trust.offers_declined or 0) + int(n)
    return "offers sent (sent, accepted or declined) by creation time; rate = accepted / sent (cloud.offers.metrics)"
