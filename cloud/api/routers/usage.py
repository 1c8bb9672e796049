"""Usage: an asset's metered use (operating hours, kWh, cycles), what a product-as-a-service bills by."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from cloud.api.access import PrincipalDep, allow
from cloud.api.deps import NowDep, SessionDep
from cloud.api.params import DeviceIdPath
from cloud.api.timestamps import IsoTime, epoch, optional_utc, utc
from cloud.api.usage_schemas import CounterValue, UsageView
from cloud.auth.roles import Permission
from cloud.store.assets import get_asset
from cloud.store.tables import UsageReportRow
from cloud.store.usage import usage_summary

router = APIRouter(prefix="/assets", tags=["usage"])


@router.get("/{device_id}/usage", dependencies=[allow(Permission.USAGE_READ)], responses={404: {}})
def read_usage(
    device_id: DeviceIdPath,
    session: SessionDep,
    principal: PrincipalDep,
    now: NowDep,
    start: Annotated[IsoTime | None, Query(description="ISO-8601; default: the beginning of time")] = None,
    end: Annotated[IsoTime | None, Query(description="ISO-8601; default: now or the newest report")] = None,
) -> UsageView:
    """The latest cumulative counters, and the use between the first and last report within the range."""
    get_asset(session, device_id, principal.scope)  # 404 for an asset the caller may not see
    start_ts = 0.0 if start is None else epoch(start)
    if end is not None and epoch(end) < start_ts:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "end is before start")
    summary = usage_summary(session, device_id, start_ts, None if end is None else epoch(end))
    newest = now if summary.latest is None else max(now, summary.latest.ts)
    end_ts = newest if end is None else epoch(end)
    units = {} if summary.last is None else summary.last.units
    return UsageView(
        device_id=device_id,
        latest_at=None if summary.latest is None else utc(summary.latest.ts),
        latest=_counters(summary.latest),
        start=utc(start_ts),
        end=utc(end_ts),
        reports_in_range=summary.reports_in_range,
        first_report_at=optional_utc(None if summary.first is None else summary.first.ts),
        last_report_at=optional_utc(None if summary.last is None else summary.last.ts),
        usage={name: CounterValue(value=used, unit=str(units.get(name, ""))) for name, used in
               summary.used().items()},
    )


def _counters(row: UsageReportRow | None) -> dict[str, CounterValue]:
    if row is None:
        return {}
    return {name: CounterValue(value=float(value), unit=str(row.units.get(name, ""))) for name, value in
            row.counters.items()}
