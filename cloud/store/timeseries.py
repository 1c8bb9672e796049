"""The time-series store: readings per device, written once, read back downsampled.

`TimeSeriesStore` is what the ingest and the API need; `SqlTimeSeriesStore` is the
embedded default (SQLite, one file) and also runs on PostgreSQL. One row per
reading, keyed by (device_id, install, seq), so a re-sent reading is stored exactly
once, and a device that lost its state directory (a new install, its seqs from 1
again) does not have its new readings taken for the old ones; the values are one
float64 array per row, laid out by a channel list kept per device. Reads are per
device and time range, whatever install wrote the rows. 1-minute and 1-hour rollups
(cloud.store.rollups) are kept in the same transaction as the raw rows; a query whose
buckets they fit reads them instead, and raw rows age out first (cloud.store.retention).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import sqlalchemy as sa

from cloud.store.base import ID_LEN
from cloud.store.database import create_engine, describe, insert_ignoring_duplicates, translate_errors
from cloud.store.downsample import BucketMeans, Buckets, pack_rows, unpack_rows
from cloud.store.retention import Purged, RetentionCutoffs, purge_device
from cloud.store.rollups import (
    ROLLUP_METADATA,
    NewReadings,
    add_to_rollups,
    build_rollups_once,
    pick_rollup,
    read_rollup,
)
from cloud.store.timeseries_rekey import rekey_readings
from contract.wire import Reading

READ_CHUNK_ROWS = 50_000

_METADATA = sa.MetaData()
SERIES = sa.Table(
    "ts_series",
    _METADATA,
    sa.Column("device_id", sa.String(ID_LEN), primary_key=True),
    sa.Column("channels", sa.JSON, nullable=False, comment="column order of ts_readings.vals"),
    sa.Column("readings", sa.BigInteger, nullable=False, default=0),
    sa.Column("last_ts", sa.Double, nullable=True),
)
READINGS = sa.Table(
    "ts_readings",
    _METADATA,
    sa.Column("device_id", sa.String(ID_LEN), primary_key=True),
    # The device's outbox that numbered `seq` ("" for agents that do not say, and for rows of release 0.2).
    sa.Column("install", sa.String(ID_LEN), primary_key=True, server_default=""),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("ts", sa.Double, nullable=False),
    sa.Column("vals", sa.LargeBinary, nullable=False),
    sa.Index("ix_ts_readings_device_ts", "device_id", "ts"),
    sqlite_with_rowid=False,
)


@dataclass(frozen=True)
class SeriesBatch:
    """Readings of one device's `install`; `channels` names the values of each reading, in canonical units."""

    device_id: str
    channels: tuple[str, ...]
    readings: Sequence[Reading]
    install: str = ""


@dataclass(frozen=True)
class Series:
    """A downsampled range: per non-empty bucket its start, reading count and mean per channel."""

    device_id: str
    channels: tuple[str, ...]
    start: float
    end: float
    step: float
    buckets: Buckets
    resolution: str = "raw"  # what was read for the range's bulk: "raw", or the rollup "1m" or "1h"


class TimeSeriesStore(Protocol):
    """Where readings go; implementations must store a (device_id, install, seq) at most once."""

    def create_schema(self) -> None:
        """Create the tables if missing, and bring an older store's to this release's key."""
        ...

    def write_batch(
        self, device_id: str, channels: Sequence[str], readings: Sequence[Reading], install: str = ""
    ) -> int:
        """Store readings; returns how many were new (duplicates are skipped)."""
        ...

    def write_many(self, batches: Sequence[SeriesBatch]) -> list[int]:
        """Store several batches in one transaction; returns the new readings per batch."""
        ...

    def count(self, device_id: str) -> int: ...

    def total(self, device_ids: Sequence[str] | None = None) -> int:
        """Readings stored, of every device or of `device_ids` only."""
        ...

    def last_ts(self, device_id: str) -> float | None: ...

    def channels(self, device_id: str) -> tuple[str, ...]: ...

    def query(self, device_id: str, start: float, end: float, step: float) -> Series:
        """Mean per channel of each `step`-second bucket in `[start, end)`."""
        ...

    def reachable(self) -> bool: ...

    def close(self) -> None: ...


class SqlTimeSeriesStore:
    """`TimeSeriesStore` on SQLite (WAL) or PostgreSQL."""

    def __init__(self, url: str) -> None:
        self._engine = create_engine(url)
        self._where = f"time-series store {describe(self._engine)}"
        self._insert = insert_ignoring_duplicates(self._engine.dialect.name, READINGS).returning(
            READINGS.c.install, READINGS.c.seq, READINGS.c.ts
        )

    def create_schema(self) -> None:
        with translate_errors(self._where):
            _METADATA.create_all(self._engine)
            rekey_readings(self._engine, READINGS)
            ROLLUP_METADATA.create_all(self._engine)
            with self._engine.begin() as conn:
                build_rollups_once(conn, READINGS, SERIES)

    def write_batch(
        self, device_id: str, channels: Sequence[str], readings: Sequence[Reading], install: str = ""
    ) -> int:
        return self.write_many([SeriesBatch(device_id, tuple(channels), readings, install)])[0]

    def write_many(self, batches: Sequence[SeriesBatch]) -> list[int]:
        by_device: dict[str, list[int]] = {}
        for index, batch in enumerate(batches):
            by_device.setdefault(batch.device_id, []).append(index)
        stored = [0] * len(batches)
        new: list[NewReadings] = []
        with translate_errors(self._where), self._engine.begin() as conn:
            for device_id, indexes in by_device.items():
                counts = self._write_device(conn, device_id, [batches[i] for i in indexes], new)
                for index, count in zip(indexes, counts, strict=True):
                    stored[index] = count
            add_to_rollups(conn, new)
        return stored

    def _write_device(
        self, conn: sa.Connection, device_id: str, batches: list[SeriesBatch], new: list[NewReadings]
    ) -> list[int]:
        """One INSERT for all of a device's readings in this transaction; returns the new ones per batch."""
        layout = self._layout(conn, device_id, list(dict.fromkeys(n for b in batches for n in b.channels)))
        width = max(layout.values()) + 1
        owner: dict[tuple[str, int], int] = {}  # (install, seq) -> the batch that first offered it
        rows: list[dict[str, object]] = []
        for index, batch in enumerate(batches):
            fresh = [r for r in batch.readings if (batch.install, r.seq) not in owner]
            owner.update(((batch.install, r.seq), index) for r in fresh)
            rows += _rows(device_id, batch.install, [layout[name] for name in batch.channels], width, fresh)
        counts = [0] * len(batches)
        if not rows:
            return counts
        inserted = conn.execute(self._insert, rows).all()
        for install, seq, _ts in inserted:
            counts[owner[(install, seq)]] += 1
        if inserted:
            # Only what the insert reports as new goes into the rollups: a skipped duplicate is not counted twice.
            blob = {(row["install"], row["seq"]): row["vals"] for row in rows}
            new.append(NewReadings(
                device_id, np.fromiter((ts for _i, _s, ts in inserted), dtype=np.float64, count=len(inserted)),
                unpack_rows([blob[(i, s)] for i, s, _ts in inserted], width),  # type: ignore[misc]
            ))
            newest = max(ts for _install, _seq, ts in inserted)
            conn.execute(
                sa.update(SERIES)
                .where(SERIES.c.device_id == device_id)
                .values(
                    readings=SERIES.c.readings + len(inserted),
                    last_ts=sa.case(
                        (sa.or_(SERIES.c.last_ts.is_(None), SERIES.c.last_ts < newest), newest),
                        else_=SERIES.c.last_ts,
                    ),
                )
            )
        return counts

    def _layout(self, conn: sa.Connection, device_id: str, channels: Sequence[str]) -> dict[str, int]:
        """Column of each given channel in the device's rows; new channels are appended to its list."""
        known = conn.execute(sa.select(SERIES.c.channels).where(SERIES.c.device_id == device_id)).scalar()
        if known is None:
            conn.execute(
                insert_ignoring_duplicates(self._engine.dialect.name, SERIES),
                {"device_id": device_id, "channels": list(channels), "readings": 0, "last_ts": None},
            )
            known = conn.execute(sa.select(SERIES.c.channels).where(SERIES.c.device_id == device_id)).scalar_one()
        order: list[str] = list(known)
        added = [name for name in channels if name not in order]
        if added:
            order += added
            conn.execute(sa.update(SERIES).where(SERIES.c.device_id == device_id).values(channels=order))
        return {name: order.index(name) for name in channels}

    def _series_value(self, device_id: str, column: sa.Column[object]) -> object:
        with translate_errors(self._where), self._engine.connect() as conn:
            return conn.execute(sa.select(column).where(SERIES.c.device_id == device_id)).scalar()

    def count(self, device_id: str) -> int:
        value = self._series_value(device_id, SERIES.c.readings)
        return int(value) if isinstance(value, int) else 0

    def total(self, device_ids: Sequence[str] | None = None) -> int:
        query = sa.select(sa.func.coalesce(sa.func.sum(SERIES.c.readings), 0))
        with translate_errors(self._where), self._engine.connect() as conn:
            if device_ids is None:
                return int(conn.execute(query).scalar_one())
            ids = list(device_ids)
            # Chunked: an IN list of a whole fleet would exceed the drivers' parameter limits.
            return sum(int(conn.execute(query.where(SERIES.c.device_id.in_(ids[i:i + 5000]))).scalar_one())
                       for i in range(0, len(ids), 5000))

    def last_ts(self, device_id: str) -> float | None:
        value = self._series_value(device_id, SERIES.c.last_ts)
        return float(value) if isinstance(value, int | float) else None

    def channels(self, device_id: str) -> tuple[str, ...]:
        value = self._series_value(device_id, SERIES.c.channels)
        return tuple(str(name) for name in value) if isinstance(value, list) else ()

    def query(self, device_id: str, start: float, end: float, step: float) -> Series:
        channels = self.channels(device_id)
        means = BucketMeans(start, end, step, len(channels))
        rollup = pick_rollup(start, end, step)
        raw_from = start
        with translate_errors(self._where), self._engine.connect() as conn:
            if rollup is not None:
                # Whole rollup buckets up to the last one that ends by `end`; the rest of the range from raw rows.
                raw_from = (end // rollup.seconds) * rollup.seconds
                part = read_rollup(conn, rollup, device_id, start, raw_from, len(channels))
                means.add_totals(part.starts, part.readings, part.counts, part.sums)
            select = (
                sa.select(READINGS.c.ts, READINGS.c.vals)
                .where(READINGS.c.device_id == device_id, READINGS.c.ts >= raw_from, READINGS.c.ts < end)
                .execution_options(yield_per=READ_CHUNK_ROWS)
            )
            if raw_from < end:
                for chunk in conn.execute(select).partitions():
                    times, blobs = zip(*chunk, strict=True)
                    means.add(np.asarray(times, dtype=np.float64), unpack_rows(list(blobs), len(channels)))
        return Series(device_id, channels, start, end, step, means.result(),
                      "raw" if rollup is None else rollup.name)

    def devices(self) -> list[str]:
        """Every device with a series."""
        with translate_errors(self._where), self._engine.connect() as conn:
            return [str(d) for d in conn.execute(sa.select(SERIES.c.device_id)).scalars()]

    def purge(self, device_id: str, cutoffs: RetentionCutoffs, batch_rows: int) -> Purged:
        """Delete at most `batch_rows` rows of each table older than its cutoff, in one transaction."""
        with translate_errors(self._where), self._engine.begin() as conn:
            return purge_device(conn, READINGS, SERIES, device_id, cutoffs, batch_rows)

    def reachable(self) -> bool:
        try:
            with self._engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def close(self) -> None:
        self._engine.dispose()


def _rows(
    device_id: str, install: str, columns: list[int], width: int, readings: Sequence[Reading]
) -> list[dict[str, object]]:
    """Insert parameters: each reading's values placed in the device's columns, packed as float64."""
    if not readings:
        return []
    given = np.array([[math.nan if v is None else v for v in r.values] for r in readings], dtype=np.float64)
    matrix = np.full((len(readings), width), np.nan)
    matrix[:, columns] = given.reshape(len(readings), len(columns))
    return [
        {"device_id": device_id, "install": install, "seq": r.seq, "ts": r.ts, "vals": blob}
        for r, blob in zip(readings, pack_rows(matrix), strict=True)
    ]


def open_timeseries_store(url: str) -> TimeSeriesStore:
    """The store for `url` (SQL URLs today; `CloudSettings` rejects other schemes)."""
    return SqlTimeSeriesStore(url)
