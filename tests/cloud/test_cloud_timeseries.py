"""The SQL time-series store on SQLite and PostgreSQL: exactly-once writes per (device, install, seq), downsampled
reads, and the upgrade of a store keyed before installs were."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from cloud.store.downsample import pack_rows
from cloud.store.timeseries import SERIES, SeriesBatch, SqlTimeSeriesStore
from contract.wire import Reading


def readings(first: int, n: int, t0: float = 1000.0) -> list[Reading]:
    return [Reading(seq, t0 + seq, (float(seq), None if seq % 2 else 10.0)) for seq in range(first, first + n)]


def test_a_resent_reading_is_stored_once(store: SqlTimeSeriesStore) -> None:
    assert store.write_batch("d1", ["a", "b"], readings(0, 100)) == 100
    assert store.write_batch("d1", ["a", "b"], readings(0, 100)) == 0
    assert store.write_batch("d1", ["a", "b"], readings(50, 100)) == 50  # half old, half new
    assert store.count("d1") == 150
    assert store.total() == 150
    assert store.last_ts("d1") == 1000.0 + 149


def test_devices_are_kept_apart_and_batches_share_one_transaction(store: SqlTimeSeriesStore) -> None:
    stored = store.write_many(
        [SeriesBatch("d1", ("a", "b"), readings(0, 10)), SeriesBatch("d2", ("a", "b"), readings(0, 5))]
    )
    assert stored == [10, 5]
    assert (store.count("d1"), store.count("d2"), store.count("nobody"), store.total()) == (10, 5, 0, 15)
    assert store.last_ts("nobody") is None


def test_query_returns_the_mean_per_bucket_and_channel(store: SqlTimeSeriesStore) -> None:
    store.write_batch("d1", ["a", "b"], readings(0, 100))
    series = store.query("d1", 1000.0, 1100.0, 10.0)
    assert series.channels == ("a", "b")
    assert series.buckets.counts.tolist() == [10] * 10
    # Channel a counts 0..99, so bucket k holds 10k..10k+9; b is 10 on even seqs and missing on odd ones.
    assert series.buckets.means[:, 0].tolist() == [10 * k + 4.5 for k in range(10)]
    assert series.buckets.means[:, 1].tolist() == [10.0] * 10
    narrow = store.query("d1", 1020.0, 1025.0, 1.0)
    assert narrow.buckets.starts.tolist() == [1020.0, 1021.0, 1022.0, 1023.0, 1024.0]


def test_channels_added_later_and_given_in_another_order_land_in_their_columns(store: SqlTimeSeriesStore) -> None:
    store.write_batch("d1", ["a", "b"], [Reading(1, 1000.0, (1.0, 2.0))])
    store.write_batch("d1", ["c", "a"], [Reading(2, 1001.0, (30.0, 10.0))])
    assert store.channels("d1") == ("a", "b", "c")
    series = store.query("d1", 1000.0, 1002.0, 1.0)
    assert series.buckets.means[0].tolist()[:2] == [1.0, 2.0]
    assert series.buckets.means[1].tolist()[0] == 10.0
    assert series.buckets.means[1].tolist()[2] == 30.0


def test_an_unknown_device_has_an_empty_series(store: SqlTimeSeriesStore) -> None:
    series = store.query("ghost", 0.0, 100.0, 10.0)
    assert series.channels == ()
    assert series.buckets.starts.size == 0


def test_sqlite_runs_in_wal_mode_and_its_directory_is_created(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "ts.db"
    store = SqlTimeSeriesStore(f"sqlite:///{path}")
    try:
        store.create_schema()
    finally:
        store.close()
    # WAL is a property of the file, so a plain connection sees it.
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_reading_offered_twice_in_one_transaction_is_stored_once(store: SqlTimeSeriesStore) -> None:
    stored = store.write_many(
        [
            SeriesBatch("d1", ("a", "b"), readings(0, 10)),
            SeriesBatch("d1", ("a", "b"), readings(5, 10)),  # seqs 5..9 again, 10..14 new
            SeriesBatch("d2", ("a", "b"), readings(0, 3)),
        ]
    )
    assert stored == [10, 5, 3]
    assert (store.count("d1"), store.count("d2")) == (15, 3)


def test_a_re_installed_device_s_readings_are_kept_apart_from_its_first_install_s(store: SqlTimeSeriesStore) -> None:
    # The state directory was lost: a new install numbers its readings from 1 again.
    assert store.write_batch("d1", ["a", "b"], readings(1, 50), install="first") == 50
    assert store.write_batch("d1", ["a", "b"], readings(1, 50, t0=5000.0), install="second") == 50
    assert store.write_batch("d1", ["a", "b"], readings(1, 50), install="first") == 0  # each still deduped
    assert store.write_batch("d1", ["a", "b"], readings(41, 20, t0=5000.0), install="second") == 10
    assert store.count("d1") == 110
    old = store.query("d1", 1000.0, 1100.0, 100.0)
    assert old.buckets.counts.tolist() == [50]
    assert old.buckets.means[0, 0] == sum(range(1, 51)) / 50  # nothing of the first install overwritten


LEGACY = sa.MetaData()
LEGACY_READINGS = sa.Table(  # ts_readings as release 0.2 created it: keyed by (device_id, seq)
    "ts_readings", LEGACY,
    sa.Column("device_id", sa.String(64), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("ts", sa.Double, nullable=False),
    sa.Column("vals", sa.LargeBinary, nullable=False),
    sa.Index("ix_ts_readings_device_ts", "device_id", "ts"),
    sqlite_with_rowid=False,
)


def test_a_store_written_before_installs_were_keyed_is_upgraded_at_start_once(sql_url: str) -> None:
    engine = sa.create_engine(sql_url, poolclass=sa.pool.NullPool)
    try:
        LEGACY.create_all(engine)
        SERIES.create(engine)
        with engine.begin() as conn:
            conn.execute(SERIES.insert(),
                         {"device_id": "d1", "channels": ["a", "b"], "readings": 20, "last_ts": 1020.0})
            conn.execute(LEGACY_READINGS.insert(), [
                {"device_id": "d1", "seq": r.seq, "ts": r.ts, "vals": blob}
                for r, blob in zip(readings(1, 20), pack_rows(np.array([r.values for r in readings(1, 20)],
                                                                       dtype=np.float64)), strict=True)])
        for _ in range(2):  # a second start finds it upgraded and changes nothing
            store = SqlTimeSeriesStore(sql_url)
            try:
                store.create_schema()
                assert store.count("d1") == 20
            finally:
                store.close()
        inspector = sa.inspect(engine)
        assert inspector.get_pk_constraint("ts_readings")["constrained_columns"] == ["device_id", "install", "seq"]
        assert [i["name"] for i in inspector.get_indexes("ts_readings")] == ["ix_ts_readings_device_ts"]
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT DISTINCT install FROM ts_readings")).all() == [("",)]
            assert conn.execute(sa.text("SELECT count(*) FROM ts_readings")).scalar() == 20
    finally:
        engine.dispose()
    store = SqlTimeSeriesStore(sql_url)
    try:
        assert store.write_batch("d1", ["a", "b"], readings(1, 20)) == 0  # the old rows are install "": deduped
        assert store.write_batch("d1", ["a", "b"], readings(1, 20), install="fresh") == 20
        series = store.query("d1", 1000.0, 1030.0, 30.0)
        assert series.buckets.counts.tolist() == [40]
        assert series.buckets.means[0, 0] == sum(range(1, 21)) / 20
    finally:
        store.close()
