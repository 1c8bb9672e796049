"""Readings as stored, not downsampled: what a detector is calibrated on.

The time-series store answers dashboards with bucket means; fitting needs the rows
themselves, in the order the device took them: by time, then sequence number (a
re-installed device numbers its readings from 1 again, so seq alone no longer orders
a device's rows). This reader uses its own engine on the same store (read-only, rare,
and possibly slow: it must not hold the ingest's connections).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from cloud.store.database import create_engine, describe, translate_errors
from cloud.store.downsample import unpack_rows
from cloud.store.timeseries import READINGS, SERIES

MAX_ROWS = 100_000


@dataclass(frozen=True)
class RawSeries:
    """A device's readings in the order taken: `values` is [reading, channel] (NaN where missing)."""

    device_id: str
    channels: tuple[str, ...]
    seqs: npt.NDArray[np.int64]
    ts: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.seqs.size)


class RawReadings:
    """Reads stored readings of one device: its first N, or those in a time range (at most `MAX_ROWS`)."""

    def __init__(self, url: str) -> None:
        self._engine = create_engine(url)
        self._where = f"time-series store {describe(self._engine)}"

    def first(self, device_id: str, count: int) -> RawSeries:
        """The device's first `count` readings, by time then sequence number (fewer if fewer are stored)."""
        return self._read(device_id, sa.true(), min(count, MAX_ROWS))

    def between(self, device_id: str, start: float, end: float) -> RawSeries:
        """Readings with `start <= ts < end`, the first `MAX_ROWS` of them by time then sequence number."""
        return self._read(device_id, sa.and_(READINGS.c.ts >= start, READINGS.c.ts < end), MAX_ROWS)

    def _read(self, device_id: str, condition: sa.ColumnElement[bool], limit: int) -> RawSeries:
        select = (
            sa.select(READINGS.c.seq, READINGS.c.ts, READINGS.c.vals)
            .where(READINGS.c.device_id == device_id, condition)
            .order_by(READINGS.c.ts, READINGS.c.install, READINGS.c.seq)
            .limit(limit)
        )
        with translate_errors(self._where), self._engine.connect() as conn:
            names = conn.execute(sa.select(SERIES.c.channels).where(SERIES.c.device_id == device_id)).scalar()
            rows = conn.execute(select).all()
        channels = tuple(str(n) for n in names) if isinstance(names, list) else ()
        return RawSeries(
            device_id,
            channels,
            np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
            np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows)),
            unpack_rows([r[2] for r in rows], len(channels)),
        )

    def close(self) -> None:
        self._engine.dispose()
