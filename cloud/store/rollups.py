"""Stored rollups of the SQL time-series store: per device, channel and 1-minute or 1-hour bucket.

Each rollup row holds the readings in its bucket, and of the channel's values there the
count, sum, min and max (the mean is sum / count, so rollups add up exactly across
buckets and across writes). They are maintained in the transaction that inserts the raw
rows, from the rows the insert reports as new: what a rollup says is what was committed,
a late reading updates its (old) bucket, and a duplicate the store skipped is not counted.
The update is one atomic `INSERT ... ON CONFLICT DO UPDATE` per row, so concurrent
ingest workers writing the same bucket add up instead of overwriting each other.

A store written before rollups existed is upgraded at start, once: the first process to
claim the marker row in `ts_rollup_state` builds the rollups from the raw rows it holds,
in the same transaction as the claim (a crash midway leaves no marker and no rollups).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa

from cloud.store.base import ID_LEN
from cloud.store.database import insert_ignoring_duplicates
from cloud.store.downsample import FloatArray, IntArray, unpack_rows

log = logging.getLogger(__name__)

ROLLUP_METADATA = sa.MetaData()
_BUILD_CHUNK_ROWS = 50_000


def _rollup_table(name: str) -> sa.Table:
    return sa.Table(
        name,
        ROLLUP_METADATA,
        sa.Column("device_id", sa.String(ID_LEN), primary_key=True),
        sa.Column("bucket", sa.Double, primary_key=True, comment="bucket start, epoch seconds, a multiple of its size"),
        sa.Column("channel", sa.Integer, primary_key=True, comment="column in ts_readings.vals"),
        sa.Column("readings", sa.BigInteger, nullable=False, comment="readings in the bucket, values or not"),
        sa.Column("n", sa.BigInteger, nullable=False, comment="of them, those with a value for this channel"),
        sa.Column("total", sa.Double, nullable=False),
        sa.Column("lo", sa.Double, nullable=True),
        sa.Column("hi", sa.Double, nullable=True),
        sqlite_with_rowid=False,
    )


@dataclass(frozen=True)
class Rollup:
    """One resolution: its bucket size in seconds, its name in `Series.resolution`, and its table."""

    seconds: float
    name: str
    table: sa.Table


ROLLUPS = (  # coarsest first: a query takes the first whose buckets fit in its own
    Rollup(3600.0, "1h", _rollup_table("ts_rollup_1h")),
    Rollup(60.0, "1m", _rollup_table("ts_rollup_1m")),
)
STATE = sa.Table(
    "ts_rollup_state",
    ROLLUP_METADATA,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("built_at_rows", sa.BigInteger, nullable=False, comment="raw readings the start-up build rolled up"),
)


def pick_rollup(start: float, end: float, step: float) -> Rollup | None:
    """The coarsest rollup whose buckets nest in the query's (`start` and `step` multiples of its size)."""
    for rollup in ROLLUPS:
        size = rollup.seconds
        if step % size == 0 and start % size == 0 and end - start >= size:
            return rollup
    return None


def rollup_rows(device_id: str, size: float, ts: FloatArray, values: FloatArray) -> list[dict[str, object]]:
    """Rollup rows (one per bucket and channel) of readings at `ts` with `values` [reading, channel]."""
    if ts.size == 0:
        return []
    buckets, inverse = np.unique(np.floor(ts / size) * size, return_inverse=True)
    n_buckets, n_channels = buckets.size, values.shape[1]
    present = ~np.isnan(values)
    readings: IntArray = np.bincount(inverse, minlength=n_buckets)
    flat = (inverse[:, None] * n_channels + np.arange(n_channels)).ravel()
    size_flat = n_buckets * n_channels
    counts = np.bincount(flat, weights=present.ravel().astype(np.float64), minlength=size_flat)
    sums = np.bincount(flat, weights=np.where(present, values, 0.0).ravel(), minlength=size_flat)
    lows, highs = np.full(size_flat, np.inf), np.full(size_flat, -np.inf)
    np.minimum.at(lows, flat, np.where(present, values, np.inf).ravel())
    np.maximum.at(highs, flat, np.where(present, values, -np.inf).ravel())
    rows: list[dict[str, object]] = []
    for b in range(n_buckets):
        for c in range(n_channels):
            i = b * n_channels + c
            n = int(counts[i])
            rows.append({
                "device_id": device_id, "bucket": float(buckets[b]), "channel": c, "readings": int(readings[b]),
                "n": n, "total": float(sums[i]),
                "lo": float(lows[i]) if n else None, "hi": float(highs[i]) if n else None,
            })
    return rows


@dataclass(frozen=True)
class NewReadings:
    """Readings a transaction stored for one device: times and values [reading, channel]."""

    device_id: str
    ts: FloatArray
    values: FloatArray


def add_to_rollups(conn: sa.Connection, new: Sequence[NewReadings]) -> None:
    """Add newly stored readings to every rollup, in `conn`'s transaction: one statement per rollup."""
    for rollup in ROLLUPS:
        rows = [row for part in new for row in rollup_rows(part.device_id, rollup.seconds, part.ts, part.values)]
        if rows:
            conn.execute(_upsert(conn.dialect.name, rollup.table), rows)


@functools.cache  # built once: constructing the statement costs more than running it
def _upsert(dialect: str, table: sa.Table) -> sa.Insert:
    """INSERT that adds to an existing bucket: counts and sums add up, min and max keep the extreme."""
    key = [table.c.device_id, table.c.bucket, table.c.channel]
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(table)
        return pg.on_conflict_do_update(index_elements=key, set_=_merged(table, pg.excluded, "least", "greatest"))
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    lite = sqlite_insert(table)
    # SQLite's two-argument min() and max() are its scalar least and greatest.
    return lite.on_conflict_do_update(index_elements=key, set_=_merged(table, lite.excluded, "min", "max"))


def _merged(table: sa.Table, new: sa.ColumnCollection[str, sa.ColumnElement[object]], least: str,
            greatest: str) -> dict[str, sa.ColumnElement[object]]:
    old = table.c
    lo, hi = getattr(sa.func, least)(old.lo, new.lo), getattr(sa.func, greatest)(old.hi, new.hi)
    return {
        "readings": old.readings + new.readings,
        "n": old.n + new.n,
        "total": old.total + new.total,
        # A NULL is "no value yet" on either side; SQLite's min() would return NULL for it.
        "lo": sa.case((new.lo.is_(None), old.lo), (old.lo.is_(None), new.lo), else_=lo),
        "hi": sa.case((new.hi.is_(None), old.hi), (old.hi.is_(None), new.hi), else_=hi),
    }


@dataclass(frozen=True)
class RollupRead:
    """Rollup buckets of one range: starts, readings per bucket, and per channel the value counts and sums."""

    starts: FloatArray
    readings: IntArray
    counts: FloatArray
    sums: FloatArray


def read_rollup(
    conn: sa.Connection, rollup: Rollup, device_id: str, start: float, end: float, n_channels: int
) -> RollupRead:
    """The rollup's buckets of `device_id` starting in `[start, end)`."""
    t = rollup.table
    rows = conn.execute(
        sa.select(t.c.bucket, t.c.channel, t.c.readings, t.c.n, t.c.total)
        .where(t.c.device_id == device_id, t.c.bucket >= start, t.c.bucket < end, t.c.channel < n_channels)
    ).all()
    if not rows:
        empty = np.zeros((0, n_channels))
        return RollupRead(np.zeros(0), np.zeros(0, dtype=np.int64), empty, empty)
    data = np.asarray(rows, dtype=np.float64)
    starts, inverse = np.unique(data[:, 0], return_inverse=True)
    channel = data[:, 1].astype(np.int64)
    counts, sums = np.zeros((starts.size, n_channels)), np.zeros((starts.size, n_channels))
    counts[inverse, channel], sums[inverse, channel] = data[:, 3], data[:, 4]
    # Every reading has a value slot for channel 0 at least; a channel added later saw fewer readings.
    readings = np.zeros(starts.size, dtype=np.int64)
    np.maximum.at(readings, inverse, data[:, 2].astype(np.int64))
    return RollupRead(starts, readings, counts, sums)


def build_rollups_once(conn: sa.Connection, readings: sa.Table, series: sa.Table) -> int | None:
    """Roll up the raw rows already stored, unless done before; returns the readings rolled up, None if done before.

    Claiming the marker is the transaction's first write: a second process starting at the same time
    waits on it (PostgreSQL) or fails to upgrade its read to a write (SQLite), and never builds twice.
    """
    claim = insert_ignoring_duplicates(conn.dialect.name, STATE).returning(STATE.c.name)
    if conn.execute(claim, {"name": "rollups", "built_at_rows": 0}).first() is None:
        return None
    total = 0
    for device_id, channels in conn.execute(sa.select(series.c.device_id, series.c.channels)).all():
        width = max(1, len(channels))
        select = (
            sa.select(readings.c.ts, readings.c.vals)
            .where(readings.c.device_id == device_id)
            .execution_options(yield_per=_BUILD_CHUNK_ROWS)
        )
        for chunk in conn.execute(select).partitions():
            times, blobs = zip(*chunk, strict=True)
            ts, values = np.asarray(times, dtype=np.float64), unpack_rows(list(blobs), width)
            add_to_rollups(conn, [NewReadings(device_id, ts, values)])
            total += len(chunk)
    conn.execute(sa.update(STATE).where(STATE.c.name == "rollups").values(built_at_rows=total))
    if total:
        log.warning("built the time-series store's rollups from %d stored readings", total)
    return total

