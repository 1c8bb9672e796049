"""Fleet-wide counts of the caller's tenant: assets, readings, events, work orders (and, for a platform
administrator, the ingest's tallies, which span tenants)."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.api.access import PrincipalDep, allow
from cloud.api.deps import ContextDep, SessionDep
from cloud.api.schemas import FleetStats, IngestOut
from cloud.auth.roles import Permission
from cloud.maintenance.work_orders import count_by_status
from cloud.store.assets import count_assets, list_assets
from cloud.store.events import count_events

router = APIRouter(prefix="/stats", tags=["stats"])


@router.get("", dependencies=[allow(Permission.STATS_READ)])
def read_stats(context: ContextDep, session: SessionDep, principal: PrincipalDep) -> FleetStats:
    scope = principal.scope
    assets, online = count_assets(session, scope)
    events, anomalies = count_events(session, scope)
    devices = None if principal.platform else [asset.device_id for asset in list_assets(session, scope)]
    return FleetStats(
        assets=assets,
        online=online,
        readings_stored=context.timeseries.total(devices),
        events=events,
        anomalies=anomalies,
        work_orders=count_by_status(session, scope),
        ingest=_ingest(context) if principal.platform else None,
    )


def _ingest(context: ContextDep) -> IngestOut | None:
    if context.ingest_stats is None:
        return None
    snapshot = context.ingest_stats()
    return IngestOut(
        accepted=snapshot.accepted,
        rejected=snapshot.rejected,
        rejected_total=snapshot.rejected_total,
        readings_stored=snapshot.readings_stored,
        duplicate_readings=snapshot.duplicate_readings,
        events_stored=snapshot.events_stored,
        duplicate_events=snapshot.duplicate_events,
        work_orders_opened=snapshot.work_orders_opened,
        usage_stored=snapshot.usage_stored,
        duplicate_usage=snapshot.duplicate_usage,
        dead_lettered=snapshot.dead_lettered,
        dead_letters_dropped=snapshot.dead_letters_dropped,
        confirmations_sent=snapshot.confirmations_sent,
    )
