"""The service's retention pass: the settings' policy applied to the time-series store, tenants from the registry.

Run by `cloud serve` / `cloud api` on a `Periodic` thread (cloud.server). Only the SQL
store keeps rollups and deletes by itself; another backend (e.g. a TSDB with its own
retention) is left to its own policy.
"""

from __future__ import annotations

import sqlalchemy as sa

from cloud.settings import CloudSettings
from cloud.store.database import Database
from cloud.store.retention import RetentionPolicy, retention_pass
from cloud.store.tables import AssetRow
from cloud.store.timeseries import SqlTimeSeriesStore, TimeSeriesStore

RETENTION_INTERVAL_S = 3600.0  # hourly: raw rows are kept for days, an hour late is nothing


def retention_policy(settings: CloudSettings) -> RetentionPolicy:
    return RetentionPolicy(
        raw_days=settings.raw_retention_days,
        rollup_days={"1m": settings.rollup_retention_days, "1h": settings.rollup_1h_retention_days},
        raw_days_by_tenant=dict(settings.raw_retention_by_tenant),
    )


def run_retention(settings: CloudSettings, database: Database, store: TimeSeriesStore, now: float) -> int:
    """One pass; returns the raw readings deleted (0 for a store that keeps its own retention)."""
    if not isinstance(store, SqlTimeSeriesStore):
        return 0
    with database.session() as session:
        tenants = {device: tenant for device, tenant in session.execute(sa.select(AssetRow.device_id, AssetRow.tenant))}
    return retention_pass(store, retention_policy(settings), tenants.get, now)
