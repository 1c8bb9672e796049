"""Assets: the fleet with its health, one asset in detail, and its telemetry downsampled."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from cloud.api.access import PrincipalDep, allow
from cloud.api.deps import NowDep, SessionDep, SettingsDep, TimeSeriesDep
from cloud.api.params import DeviceIdPath
from cloud.api.schemas import AssetDetail, AssetSummary, ChannelInfo, ChannelSeries, TelemetrySeries
from cloud.api.timestamps import IsoTime, clamp, epoch, optional_utc, utc
from cloud.auth.roles import Permission
from cloud.maintenance.health import asset_health
from cloud.settings import CloudSettings
from cloud.store.assets import get_asset, list_assets, open_work_order_counts
from cloud.store.profiles import ProfileSource, asset_profile, registered_kinds, source_of
from cloud.store.tables import AssetRow

router = APIRouter(prefix="/assets", tags=["assets"])

DEFAULT_RANGE_S = 3600.0
TARGET_POINTS = 500
MAX_POINTS = 10_000
ProfileFilter = Annotated[ProfileSource | None, Query(description="only the assets whose profile is this: `pending` "
                                                                   "lists those of a kind without a profile")]


@router.get("", dependencies=[allow(Permission.ASSETS_READ)])
def read_assets(
    session: SessionDep, principal: PrincipalDep, settings: SettingsDep, now: NowDep, profile: ProfileFilter = None
) -> list[AssetSummary]:
    """Every asset the caller may see (its tenant's; a customer's own) with its health at a glance."""
    scope = principal.scope
    open_orders = open_work_order_counts(session, scope)
    registered = registered_kinds(session, scope)
    summaries = (_summary(asset, source_of(asset, registered), open_orders.get(asset.device_id, 0), now, settings)
                 for asset in list_assets(session, scope))
    return [summary for summary in summaries if profile is None or summary.profile is profile]


@router.get("/{device_id}", dependencies=[allow(Permission.ASSETS_READ)], responses={404: {}})
def read_asset(
    device_id: DeviceIdPath, session: SessionDep, principal: PrincipalDep, timeseries: TimeSeriesDep,
    settings: SettingsDep, now: NowDep,
) -> AssetDetail:
    """One asset: its channels (canonical units), model, health and how many readings are stored."""
    asset = get_asset(session, device_id, principal.scope)
    open_orders = open_work_order_counts(session, principal.scope).get(device_id, 0)
    kind_profile, source = asset_profile(session, asset)
    labels = {} if kind_profile is None else {c.name: c.label for c in kind_profile.channels}
    last_reading = timeseries.last_ts(device_id)
    return AssetDetail(
        **_summary(asset, source, open_orders, now, settings).model_dump(),
        first_seen=utc(asset.first_seen),
        agent_version=asset.agent_version,
        channels=[ChannelInfo(name=c["name"], unit=c["unit"], label=labels.get(c["name"], "")) for c in asset.channels],
        health=asset.health,
        readings_stored=timeseries.count(device_id),
        last_reading_at=optional_utc(last_reading),
    )


@router.get("/{device_id}/telemetry", dependencies=[allow(Permission.TELEMETRY_READ)], responses={404: {}})
def read_telemetry(
    device_id: DeviceIdPath,
    session: SessionDep,
    principal: PrincipalDep,
    timeseries: TimeSeriesDep,
    now: NowDep,
    start: Annotated[IsoTime | None, Query(description="ISO-8601; default: an hour before `end`")] = None,
    end: Annotated[IsoTime | None, Query(description="ISO-8601; default: now")] = None,
    step: Annotated[float | None, Query(gt=0, allow_inf_nan=False,
                                        description=f"bucket seconds; default: ≤ {TARGET_POINTS} buckets")] = None,
) -> TelemetrySeries:
    """Mean per channel of each `step`-second bucket in [start, end); empty buckets are left out."""
    asset = get_asset(session, device_id, principal.scope)
    first, last, bucket = _resolve_range(start, end, step, now)
    series = timeseries.query(device_id, first, last, bucket)
    units = {c["name"]: c["unit"] for c in asset.channels}
    means = series.buckets.means
    return TelemetrySeries(
        device_id=device_id,
        start=utc(first),
        end=utc(last),
        step_s=bucket,
        timestamps=[utc(t) for t in series.buckets.starts.tolist()],
        counts=series.buckets.counts.tolist(),
        channels=[
            ChannelSeries(
                name=name, unit=units.get(name, ""), mean=[None if math.isnan(v) else v for v in means[:, i].tolist()]
            )
            for i, name in enumerate(series.channels)
        ],
    )


def _resolve_range(
    start: IsoTime | None, end: IsoTime | None, step: float | None, now: float
) -> tuple[float, float, float]:
    last = now if end is None else epoch(end)
    first = clamp(last - DEFAULT_RANGE_S) if start is None else epoch(start)
    if not first < last:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="start must be before end")
    span = last - first
    bucket = max(1.0, math.ceil(span / TARGET_POINTS)) if step is None else step
    if not (math.isfinite(bucket) and bucket > 0):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="step must be a positive number of seconds")
    if span / bucket > MAX_POINTS:  # a tiny step makes this infinite: no ceil() of it
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=f"{span:g} s in steps of {bucket:g} s is over {MAX_POINTS} buckets (use a larger step)",
        )
    return first, last, bucket


def _summary(asset: AssetRow, profile: ProfileSource, open_orders: int, now: float,
             settings: CloudSettings) -> AssetSummary:
    return AssetSummary(
        device_id=asset.device_id,
        tenant=asset.tenant,
        asset_kind=asset.asset_kind,
        profile=profile,
        status=asset_health(asset, now, settings.offline_after_s, settings.anomaly_window_s).value,
        online=asset.online,
        last_seen=utc(asset.last_seen),
        open_work_orders=open_orders,
        last_anomaly_score=asset.last_score,
        last_anomaly_at=optional_utc(asset.last_anomaly_at),
        model_id=asset.model_id,
        model_version=asset.model_version,
    )
