"""Fleet-wide counts: assets, readings, events, work orders and the ingest's tallies."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.api.deps import ContextDep, SessionDep
from cloud.api.schemas import FleetStats, IngestOut
from cloud.maintenance.work_orders import count_by_status
from cloud.store.assets import count_assets
from cloud.store.events import count_events

router = APIRouter(prefix="/stats", tags=["stats"])


@router.get("")
def read_stats(context: ContextDep, session: SessionDep) -> FleetStats:
    assets, online = count_assets(session)
    events, anomalies = count_events(session)
    ingest = None
    if context.ingest_stats is not None:
        snapshot = context.ingest_stats()
        ingest = IngestOut(
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
        )
    return FleetStats(
        assets=assets,
        online=online,
        readings_stored=context.timeseries.total(),
        events=events,
        anomalies=anomalies,
        work_orders=count_by_status(session),
        ingest=ingest,
    )
