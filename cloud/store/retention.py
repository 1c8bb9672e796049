"""Retention of the SQL time-series store: raw readings for N days (per tenant), rollups for longer.

A pass walks the devices with a series and, per device, deletes rows older than the
cutoffs of the device's tenant in transactions of at most `batch_rows` rows per table,
so no pass holds a long lock and ingest writes go on between batches. Raw rows go first
(`PAAS_RAW_RETENTION_DAYS`, overridden per tenant by `PAAS_RAW_RETENTION_BY_TENANT`);
the rollups, built when the raw rows were written, outlive them (1-minute rollups
`PAAS_ROLLUP_RETENTION_DAYS`, 1-hour rollups `PAAS_ROLLUP_1H_RETENTION_DAYS`), so a long
chart still reads after its raw rows are gone. Deleting old data is the documented
policy, not a silent loss: the series' `readings` count goes down with what was deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import sqlalchemy as sa

from cloud.store.rollups import ROLLUPS

log = logging.getLogger(__name__)

DAY_S = 86_400.0


@dataclass(frozen=True)
class RetentionCutoffs:
    """Rows older than these epoch seconds are deleted: raw readings, and each rollup by its name ("1m", "1h")."""

    raw_before: float
    rollup_before: Mapping[str, float]


@dataclass(frozen=True)
class RetentionPolicy:
    """Days kept: raw by default and per tenant, and per rollup."""

    raw_days: float
    rollup_days: Mapping[str, float]
    raw_days_by_tenant: Mapping[str, float] = field(default_factory=dict)

    def cutoffs(self, tenant: str | None, now: float) -> RetentionCutoffs:
        raw_days = self.raw_days_by_tenant.get(tenant, self.raw_days) if tenant is not None else self.raw_days
        return RetentionCutoffs(now - raw_days * DAY_S,
                                {name: now - days * DAY_S for name, days in self.rollup_days.items()})


@dataclass(frozen=True)
class Purged:
    """What one purge transaction deleted: raw readings, and whether some table had a full batch (more may be due)."""

    raw: int
    more: bool


class PurgeableStore(Protocol):
    def devices(self) -> list[str]: ...

    def purge(self, device_id: str, cutoffs: RetentionCutoffs, batch_rows: int) -> Purged: ...


def retention_pass(store: PurgeableStore, policy: RetentionPolicy, tenant_of: Callable[[str], str | None],
                   now: float, batch_rows: int = 5_000) -> int:
    """One pass over every device; returns the raw readings deleted. A device of no known tenant gets the default."""
    deleted = 0
    for device_id in store.devices():
        cutoffs = policy.cutoffs(tenant_of(device_id), now)
        more = True
        while more:  # one short transaction per batch, so ingest writes interleave
            purged = store.purge(device_id, cutoffs, batch_rows)
            deleted, more = deleted + purged.raw, purged.more
    if deleted:
        log.info("retention deleted %d raw readings", deleted)
    return deleted


def purge_device(conn: sa.Connection, readings: sa.Table, series: sa.Table, device_id: str,
                 cutoffs: RetentionCutoffs, batch_rows: int) -> Purged:
    """Delete up to `batch_rows` expired rows of `device_id` from each table."""
    raw = _delete_oldest(conn, readings, [readings.c.install, readings.c.seq],
                         readings.c.device_id == device_id, readings.c.ts < cutoffs.raw_before, readings.c.ts,
                         batch_rows)
    if raw:
        conn.execute(sa.update(series).where(series.c.device_id == device_id)
                     .values(readings=sa.case((series.c.readings > raw, series.c.readings - raw), else_=0)))
    more = raw == batch_rows
    for rollup in ROLLUPS:
        before = cutoffs.rollup_before.get(rollup.name)
        if before is not None:
            t = rollup.table
            gone = _delete_oldest(conn, t, [t.c.bucket, t.c.channel], t.c.device_id == device_id,
                                  t.c.bucket < before, t.c.bucket, batch_rows)
            more = more or gone == batch_rows
    return Purged(raw, more)


def _delete_oldest(conn: sa.Connection, table: sa.Table, key: list[sa.Column[object]], device: sa.ColumnElement[bool],
                   expired: sa.ColumnElement[bool], order: sa.Column[object], limit: int) -> int:
    """Delete the `limit` oldest expired rows of one device, picked by their key (both engines allow row values)."""
    oldest = sa.select(*key).where(device, expired).order_by(order).limit(limit)
    result = conn.execute(sa.delete(table).where(device, sa.tuple_(*key).in_(oldest)))
    return int(result.rowcount)
