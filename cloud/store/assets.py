"""Assets: created on first sight of a device, updated by its telemetry, state and events."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.errors import NotFoundError
from cloud.store.scope import Scope
from cloud.store.tables import OPEN_STATUSES, AssetRow, WorkOrderRow
from contract.wire import DeviceState, DeviceStatus, Event


def find_asset(session: Session, device_id: str) -> AssetRow | None:
    return session.get(AssetRow, device_id)


def get_asset(session: Session, device_id: str, scope: Scope) -> AssetRow:
    """The asset if `scope` sees it; otherwise `NotFoundError`, whether it exists elsewhere or not at all."""
    asset = session.get(AssetRow, device_id)
    if asset is None or not scope.sees_asset(session, asset):
        raise NotFoundError(f"asset {device_id!r} does not exist")
    return asset


def list_assets(session: Session, scope: Scope) -> Sequence[AssetRow]:
    query = sa.select(AssetRow).where(scope.asset_clause())
    return session.scalars(query.order_by(AssetRow.tenant, AssetRow.device_id)).all()


def touch_asset(session: Session, tenant: str, device_id: str, now: float) -> AssetRow:
    """The device's asset, created on first sight, with `last_seen` set to `now` (cloud time).

    Locked for the rest of the transaction (PostgreSQL; SQLite has one writer anyway): several ingest
    workers may store one device's messages at once, and the state and channels written back below must
    not overwrite another worker's. Two batches locking the same assets in other orders may deadlock;
    PostgreSQL then aborts one, a transient error the worker retries.
    """
    asset = session.get(AssetRow, device_id, with_for_update=True)
    if asset is None:
        asset = AssetRow(
            device_id=device_id, tenant=tenant, asset_kind="", first_seen=now, last_seen=now, online=True,
            channels=[], health={},
        )
        session.add(asset)
        # Flushed now so the rest of the batch (and the events' foreign key) sees it.
        session.flush()
    else:
        asset.last_seen = max(asset.last_seen, now)
    return asset


def record_channels(asset: AssetRow, channels: Sequence[tuple[str, str]]) -> None:
    """Add channels (name, canonical unit) the asset has not reported before."""
    known = {c["name"] for c in asset.channels}
    added = [{"name": name, "unit": unit} for name, unit in channels if name not in known]
    if added:
        # A new list, so the ORM sees the JSON column change.
        asset.channels = [*asset.channels, *added]


def apply_state(asset: AssetRow, state: DeviceState) -> bool:
    """Apply a birth/health/last-will message unless a newer one was applied; returns whether it was."""
    if asset.state_ts is not None and state.ts < asset.state_ts:
        return False
    asset.state_ts = state.ts
    asset.online = state.status is DeviceStatus.ONLINE
    if state.asset_kind:
        asset.asset_kind = state.asset_kind
    if state.agent_version:
        asset.agent_version = state.agent_version
    if state.model is not None:
        asset.model_id, asset.model_version = state.model.id, state.model.version
    if state.health:
        asset.health = dict(state.health)
    return True


def record_event(asset: AssetRow, event: Event) -> None:
    """Keep the latest score and anomaly time on the asset, so listing assets needs no event scan."""
    if asset.last_score_at is None or event.ts >= asset.last_score_at:
        asset.last_score, asset.last_score_at = event.score, event.ts
        asset.model_id, asset.model_version = event.model.id, event.model.version
    if event.is_anomaly and (asset.last_anomaly_at is None or event.ts > asset.last_anomaly_at):
        asset.last_anomaly_at = event.ts


def open_work_order_counts(session: Session, scope: Scope) -> dict[str, int]:
    """Open (proposed, approved, in progress) work orders per device within `scope`."""
    rows = session.execute(
        sa.select(WorkOrderRow.device_id, sa.func.count())
        .where(WorkOrderRow.status.in_(OPEN_STATUSES), scope.tenant_clause(WorkOrderRow.tenant))
        .group_by(WorkOrderRow.device_id)
    ).all()
    return {device_id: int(count) for device_id, count in rows}


def count_assets(session: Session, scope: Scope) -> tuple[int, int]:
    """(assets, assets online) within `scope`."""
    row = session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((AssetRow.online, 1), else_=0)), 0))
        .where(scope.asset_clause())
    ).one()
    return int(row[0]), int(row[1])
