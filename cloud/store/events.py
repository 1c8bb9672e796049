"""Events: stored once per (device, message id), queried by asset, kind and time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.errors import NotFoundError
from cloud.store.database import insert_ignoring_duplicates
from cloud.store.scope import Scope
from cloud.store.tables import EventRow
from contract.wire import Event


def insert_event(session: Session, event: Event, received_at: float) -> EventRow | None:
    """Store `event`; `None` when the device's message id was stored before (a redelivery).

    Per device: another device sending the same id (a clash, or a forgery) must not hide this one's event.
    """
    rul = event.rul
    values = {
        "message_id": event.message_id,
        "device_id": event.device_id,
        "tenant": event.tenant,
        "seq": event.seq,
        "kind": event.kind.value,
        "ts": event.ts,
        "received_at": received_at,
        "score": event.score,
        "threshold": event.threshold,
        "is_anomaly": event.is_anomaly,
        "contributions": dict(event.contributions),
        "model_id": event.model.id,
        "model_version": event.model.version,
        "window_start": event.window_start,
        "window_end": event.window_end,
        "window_samples": event.window_samples,
        "rul_cycles": None if rul is None else rul.cycles,
        "rul_lower": None if rul is None else rul.lower,
        "rul_upper": None if rul is None else rul.upper,
    }
    # The ORM must see the asset row first, or the foreign key check runs before it is written.
    session.flush()
    table = cast(sa.Table, EventRow.__table__)
    insert = insert_ignoring_duplicates(session.get_bind().dialect.name, table).returning(table.c.id)
    new_id = session.execute(insert, values).scalar()
    return None if new_id is None else session.get(EventRow, new_id)


def get_event(session: Session, event_id: int, scope: Scope) -> EventRow:
    query = sa.select(EventRow).where(EventRow.id == event_id, scope.rows_clause(EventRow.tenant, EventRow.device_id))
    event = session.scalars(query).first()
    if event is None:
        raise NotFoundError(f"event {event_id} does not exist")
    return event


def anomalies_between(session: Session, device_id: str, start: float, end: float) -> Sequence[EventRow]:
    """The device's anomalous events with `start < ts <= end`, oldest first."""
    return session.scalars(
        sa.select(EventRow)
        .where(EventRow.device_id == device_id, EventRow.is_anomaly, EventRow.ts > start, EventRow.ts <= end)
        .order_by(EventRow.ts, EventRow.id)
    ).all()


def list_events(
    session: Session,
    scope: Scope,
    device_id: str | None = None,
    kind: str | None = None,
    since: float | None = None,
    anomalies_only: bool = False,
    limit: int = 100,
) -> Sequence[EventRow]:
    """Events within `scope` matching the filters, newest first."""
    query = sa.select(EventRow).where(scope.rows_clause(EventRow.tenant, EventRow.device_id))
    if device_id is not None:
        query = query.where(EventRow.device_id == device_id)
    if kind is not None:
        query = query.where(EventRow.kind == kind)
    if since is not None:
        query = query.where(EventRow.ts >= since)
    if anomalies_only:
        query = query.where(EventRow.is_anomaly)
    return session.scalars(query.order_by(EventRow.ts.desc(), EventRow.id.desc()).limit(limit)).all()


def count_events(session: Session, scope: Scope) -> tuple[int, int]:
    """(events, anomalous events) within `scope`."""
    row = session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((EventRow.is_anomaly, 1), else_=0)), 0))
        .where(scope.rows_clause(EventRow.tenant, EventRow.device_id))
    ).one()
    return int(row[0]), int(row[1])
