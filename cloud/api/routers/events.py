"""Events: anomaly and RUL estimates as the devices sent them, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cloud.api.access import PrincipalDep, allow
from cloud.api.deps import SessionDep
from cloud.api.params import DeviceQuery, RowIdPath
from cloud.api.schemas import EventKindName, EventOut, ModelOut, RulOut, WindowOut
from cloud.api.timestamps import IsoTime, epoch, optional_utc, utc
from cloud.auth.roles import Permission
from cloud.store.events import get_event, list_events
from cloud.store.tables import EventRow

router = APIRouter(prefix="/events", tags=["events"])


@router.get("", dependencies=[allow(Permission.EVENTS_READ)])
def read_events(
    session: SessionDep,
    principal: PrincipalDep,
    asset: DeviceQuery = None,
    kind: EventKindName | None = None,
    since: Annotated[IsoTime | None, Query(description="ISO-8601; events at or after this time")] = None,
    anomalies_only: Annotated[bool, Query(description="only events with is_anomaly")] = False,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 100,
) -> list[EventOut]:
    rows = list_events(
        session,
        principal.scope,
        device_id=asset,
        kind=kind,
        since=None if since is None else epoch(since),
        anomalies_only=anomalies_only,
        limit=limit,
    )
    return [event_out(row) for row in rows]


@router.get("/{event_id}", dependencies=[allow(Permission.EVENTS_READ)], responses={404: {}})
def read_event(event_id: RowIdPath, session: SessionDep, principal: PrincipalDep) -> EventOut:
    return event_out(get_event(session, event_id, principal.scope))


def event_out(row: EventRow) -> EventOut:
    rul = None
    if row.rul_cycles is not None and row.rul_lower is not None and row.rul_upper is not None:
        rul = RulOut(cycles=row.rul_cycles, lower=row.rul_lower, upper=row.rul_upper)
    return EventOut(
        id=row.id,
        message_id=row.message_id,
        device_id=row.device_id,
        tenant=row.tenant,
        kind="rul" if row.kind == "rul" else "anomaly",
        seq=row.seq,
        ts=utc(row.ts),
        received_at=utc(row.received_at),
        score=row.score,
        threshold=row.threshold,
        is_anomaly=row.is_anomaly,
        contributions={str(k): float(v) for k, v in row.contributions.items()},
        model=ModelOut(id=row.model_id, version=row.model_version),
        window=WindowOut(start=utc(row.window_start), end=utc(row.window_end), samples=row.window_samples),
        rul=rul,
        work_order_id=row.work_order_id,
        closed_at=optional_utc(row.closed_at),
    )
