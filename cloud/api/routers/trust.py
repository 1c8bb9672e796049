"""Trust metrics for planners: offer acceptance, complaints, time to a human, false alarms (cloud.support.metrics)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cloud.api.access import PrincipalDep, allow
from cloud.api.deps import NowDep, SessionDep
from cloud.api.support_schemas import OfferTypeRatePublic, TrustPublic, TrustReportPublic
from cloud.api.timestamps import IsoTime, epoch, utc
from cloud.auth.roles import Permission
from cloud.support.metrics import Trust, trust_report

router = APIRouter(prefix="/metrics", tags=["metrics"])
DEFAULT_WINDOW_S = 30 * 86400.0


@router.get("/trust", dependencies=[allow(Permission.METRICS_READ)])
def read_trust(
    session: SessionDep, principal: PrincipalDep, now: NowDep,
    since: Annotated[IsoTime | None, Query(description="ISO-8601, inclusive; default: 30 days before `until`")] = None,
    until: Annotated[IsoTime | None, Query(description="ISO-8601, exclusive; default: now")] = None,
) -> TrustReportPublic:
    """Per customer and over the tenant; an empty window (since at or after until) counts nothing."""
    end = now if until is None else epoch(until)
    start = end - DEFAULT_WINDOW_S if since is None else epoch(since)
    report = trust_report(session, principal.scope, start, end, now)
    return TrustReportPublic(since=utc(report.since), until=utc(report.until), overall=_public(report.overall),
                             customers=[_public(trust) for trust in report.customers],
                             offers_source=report.offers_source, offers_by_type=[
                                 OfferTypeRatePublic(kind=r.kind.value, offered=r.offered, accepted=r.accepted,
                                                     declined=r.declined, rate=r.rate) for r in report.offers_by_type])


def _public(trust: Trust) -> TrustPublic:
    return TrustPublic(
        customer_id=trust.customer_id, name=trust.name, offers_sent=trust.offers_sent,
        offers_accepted=trust.offers_accepted,
        offers_declined=trust.offers_declined, offer_acceptance_rate=trust.offer_acceptance_rate,
        help_requests=trust.help_requests, complaints=trust.complaints, complaint_rate=trust.complaint_rate,
        answered=len(trust.answer_times_s), waiting=trust.waiting, longest_wait_s=trust.longest_wait_s,
        median_time_to_human_s=trust.median_time_to_human_s, p90_time_to_human_s=trust.p90_time_to_human_s,
        orders_done=trust.orders_done, false_alarms=trust.false_alarms, false_alarm_rate=trust.false_alarm_rate,
    )
