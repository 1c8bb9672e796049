"""Rollups of the SQL time-series store on SQLite and PostgreSQL: kept in step with the raw rows (late and duplicate
readings included), read by long-range queries with the same means as raw, and built once for a store written before
rollups existed."""

from __future__ import annotations

import random

import numpy as np
import pytest
import sqlalchemy as sa

from cloud.store.downsample import unpack_rows
from cloud.store.rollups import ROLLUP_METADATA, ROLLUPS, STATE, rollup_rows
from cloud.store.timeseries import READINGS, SeriesBatch, SqlTimeSeriesStore
from contract.wire import Reading

T0 = 1_700_000_000.0 - 1_700_000_000.0 % 3600  # an hour boundary


def _stored_rollups(url: str, name: str) -> dict[tuple[str, float, int], tuple[int, int, float, float | None,
                                                                                float | None]]:
    table = next(r.table for r in ROLLUPS if r.name == name)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(table)).all()
    finally:
        engine.dispose()
    return {(r.device_id, r.bucket, r.channel): (r.readings, r.n, r.total, r.lo, r.hi) for r in rows}


def _recomputed(url: str, name: str, width: int) -> dict[tuple[str, float, int], tuple[int, int, float, float | None,
                                                                                      float | None]]:
    """The rollup computed from scratch from the raw rows the store holds."""
    size = next(r.seconds for r in ROLLUPS if r.name == name)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            raw = conn.execute(sa.select(READINGS.c.device_id, READINGS.c.ts, READINGS.c.vals)).all()
    finally:
        engine.dispose()
    out = {}
    for device in sorted({r.device_id for r in raw}):
        mine = [r for r in raw if r.device_id == device]
        ts = np.array([r.ts for r in mine])
        for row in rollup_rows(device, size, ts, unpack_rows([r.vals for r in mine], width)):
            out[(device, row["bucket"], row["channel"])] = (row["readings"], row["n"], row["total"], row["lo"],
                                                            row["hi"])
    return out


def _assert_same(stored: dict[tuple[str, float, int], tuple[int, int, float, float | None, float | None]],
                 expected: dict[tuple[str, float, int], tuple[int, int, float, float | None, float | None]]) -> None:
    assert stored.keys() == expected.keys()
    for key, (readings, n, total, lo, hi) in expected.items():
        got = stored[key]
        assert got[:2] == (readings, n), key
        assert got[2] == pytest.approx(total, rel=1e-12, abs=1e-9), key
        assert (got[3], got[4]) == (lo, hi), key


def test_incremental_rollups_equal_rollups_recomputed_from_raw(store: SqlTimeSeriesStore, sql_url: str) -> None:
    rng = random.Random(13)
    sent: list[SeriesBatch] = []
    for _ in range(40):
        device = rng.choice(["d1", "d2"])
        install = rng.choice(["", "i2"])
        first = rng.randrange(0, 400)
        # Seqs overlap earlier batches (re-sent duplicates); timestamps jump back (late data) and span hour edges.
        readings = [
            Reading(seq, T0 + rng.uniform(-7200, 7200) if rng.random() < 0.2 else T0 + seq * 17.0,
                    (rng.uniform(-5, 5), None if rng.random() < 0.3 else rng.uniform(0, 100)))
            for seq in range(first, first + rng.randrange(1, 60))
        ]
        sent.append(SeriesBatch(device, ("a", "b"), readings, install))
        if rng.random() < 0.5:
            store.write_many(sent[-1:])
        else:
            store.write_many([sent[-1], rng.choice(sent)])  # a duplicate batch in the same transaction
    for name in ("1m", "1h"):
        stored, expected = _stored_rollups(sql_url, name), _recomputed(sql_url, name, 2)
        assert stored, name
        _assert_same(stored, expected)
    # The duplicates were really offered again: the raw count is below what was sent.
    assert store.total() < sum(len(b.readings) for b in sent)


def test_a_duplicate_is_not_counted_twice(store: SqlTimeSeriesStore, sql_url: str) -> None:
    batch = [Reading(s, T0 + s, (1.0,)) for s in range(10)]
    store.write_batch("d1", ["a"], batch)
    store.write_batch("d1", ["a"], batch)
    assert _stored_rollups(sql_url, "1m")[("d1", T0, 0)] == (10, 10, 10.0, 1.0, 1.0)


def test_late_data_updates_its_old_bucket(store: SqlTimeSeriesStore, sql_url: str) -> None:
    store.write_batch("d1", ["a"], [Reading(1, T0 + 10, (5.0,))])
    store.write_batch("d1", ["a"], [Reading(2, T0 + 7200, (1.0,))])
    store.write_batch("d1", ["a"], [Reading(3, T0 + 20, (-3.0,))])  # late: the first minute again
    assert _stored_rollups(sql_url, "1m")[("d1", T0, 0)] == (2, 2, 2.0, -3.0, 5.0)
    assert _stored_rollups(sql_url, "1h")[("d1", T0, 0)] == (2, 2, 2.0, -3.0, 5.0)


def _fill(store: SqlTimeSeriesStore, hours: int) -> None:
    rng = np.random.default_rng(5)
    readings = [Reading(s, T0 + s * 7.0 + 0.5, (float(rng.normal()), None if s % 5 == 0 else float(s % 13)))
                for s in range(hours * 3600 // 7)]
    for i in range(0, len(readings), 500):
        store.write_batch("d1", ["a", "b"], readings[i:i + 500])


@pytest.mark.parametrize(("step", "resolution"), [(3600.0, "1h"), (7200.0, "1h"), (60.0, "1m"), (300.0, "1m")])
def test_long_range_query_reads_the_rollup_with_the_means_of_raw(store: SqlTimeSeriesStore, step: float,
                                                                 resolution: str) -> None:
    _fill(store, 10)
    end = T0 + 10 * 3600 - 1234.0  # not on a bucket edge: the tail comes from raw rows
    rolled = store.query("d1", T0, end, step)
    assert rolled.resolution == resolution
    # Raw for the same buckets: a start just off the rollup grid cannot use them; shift it back after.
    raw = store.query("d1", T0 - 1e-6, end, step)
    assert raw.resolution == "raw"
    assert rolled.buckets.counts.tolist() == raw.buckets.counts.tolist()
    np.testing.assert_allclose(rolled.buckets.starts, raw.buckets.starts + 1e-6, rtol=0, atol=1e-5)
    np.testing.assert_allclose(rolled.buckets.means, raw.buckets.means, rtol=1e-12, atol=1e-12)
    assert (rolled.channels, rolled.start, rolled.end, rolled.step) == (("a", "b"), T0, end, step)


def test_a_short_or_unaligned_query_reads_raw(store: SqlTimeSeriesStore) -> None:
    _fill(store, 1)
    assert store.query("d1", T0, T0 + 600, 10.0).resolution == "raw"
    assert store.query("d1", T0 + 30, T0 + 3600, 60.0).resolution == "raw"


def test_an_old_store_gets_its_rollups_built_once_at_start(sql_url: str) -> None:
    old = SqlTimeSeriesStore(sql_url)
    old.create_schema()
    old.write_batch("d1", ["a", "b"], [Reading(s, T0 + s * 30.0, (float(s), 2.0)) for s in range(500)])
    old.write_batch("d2", ["a"], [Reading(s, T0 + s, (1.0,)) for s in range(100)])
    expected = {name: _stored_rollups(sql_url, name) for name in ("1m", "1h")}
    old.close()
    # What a store of the previous release looks like: raw rows and no rollup tables.
    engine = sa.create_engine(sql_url)
    with engine.begin() as conn:
        ROLLUP_METADATA.drop_all(conn)
    engine.dispose()
    for _start in range(2):  # the second start must not add the raw rows again
        upgraded = SqlTimeSeriesStore(sql_url)
        upgraded.create_schema()
        upgraded.close()
    for name in ("1m", "1h"):
        _assert_same(_stored_rollups(sql_url, name), expected[name])
    engine = sa.create_engine(sql_url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(STATE.c.built_at_rows)).scalar_one() == 600
    engine.dispose()
