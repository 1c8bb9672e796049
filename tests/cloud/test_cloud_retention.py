"""Retention of the SQL time-series store on SQLite and PostgreSQL: raw rows beyond a tenant's days go, in bounded
batches, while another tenant's stay and the rollups outlive them."""

from __future__ import annotations

import pytest
from cloudtest_support import Stores
from pydantic import ValidationError

from cloud.errors import ConfigError
from cloud.settings import CloudSettings
from cloud.store.retention import DAY_S, RetentionCutoffs, RetentionPolicy, retention_pass
from cloud.store.retention_job import retention_policy, run_retention
from cloud.store.tables import AssetRow
from cloud.store.timeseries import SqlTimeSeriesStore
from contract.wire import Reading

NOW = 1_800_000_000.0 - 1_800_000_000.0 % 3600


def _one_a_day(store: SqlTimeSeriesStore, device: str, days: int) -> None:
    """Readings at noon-ish of each of the last `days` days, 24 per day, oldest first."""
    store.write_batch(device, ["a"], [
        Reading(seq, NOW - (days - seq // 24) * DAY_S + (seq % 24) * 60.0 + 30.0, (float(seq),))
        for seq in range(days * 24)
    ])


POLICY = RetentionPolicy(raw_days=30, rollup_days={"1m": 90, "1h": 1826}, raw_days_by_tenant={"short": 7})
TENANTS = {"d-short": "short", "d-default": "acme"}


def test_raw_rows_beyond_the_tenants_days_are_deleted_and_not_another_tenants(store: SqlTimeSeriesStore) -> None:
    _one_a_day(store, "d-short", 40)
    _one_a_day(store, "d-default", 40)
    _one_a_day(store, "d-unknown", 40)  # no tenant known: the default days
    deleted = retention_pass(store, POLICY, TENANTS.get, NOW, batch_rows=50)  # many batches per device
    assert deleted == (40 - 7) * 24 + 2 * (40 - 30) * 24
    assert store.count("d-short") == 7 * 24
    assert store.count("d-default") == store.count("d-unknown") == 30 * 24
    for device, days in (("d-short", 7), ("d-default", 30)):
        raw = store.query(device, NOW - 50 * DAY_S + 1, NOW, DAY_S)  # off the rollup grid: raw rows only
        assert raw.resolution == "raw"
        assert raw.buckets.counts.sum() == days * 24
    assert retention_pass(store, POLICY, TENANTS.get, NOW) == 0  # nothing left to delete


def test_rollups_outlive_the_raw_rows(store: SqlTimeSeriesStore) -> None:
    _one_a_day(store, "d-short", 40)
    before = store.query("d-short", NOW - 40 * DAY_S, NOW, DAY_S)
    retention_pass(store, POLICY, TENANTS.get, NOW)
    after = store.query("d-short", NOW - 40 * DAY_S, NOW, DAY_S)
    assert after.resolution == "1h"
    assert after.buckets.counts.tolist() == before.buckets.counts.tolist() == [24] * 40
    assert after.buckets.means.tolist() == before.buckets.means.tolist()


def test_rollups_expire_on_their_own_days(store: SqlTimeSeriesStore) -> None:
    _one_a_day(store, "d1", 40)
    short = RetentionPolicy(raw_days=1, rollup_days={"1m": 5, "1h": 20})
    retention_pass(store, short, TENANTS.get, NOW, batch_rows=7)
    hourly = store.query("d1", NOW - 40 * DAY_S, NOW, DAY_S)
    minutely = store.query("d1", NOW - 40 * DAY_S, NOW, 60.0)
    assert (hourly.resolution, minutely.resolution) == ("1h", "1m")
    assert hourly.buckets.counts.sum() == 20 * 24
    assert minutely.buckets.counts.sum() == 5 * 24


def test_a_purge_is_bounded_per_transaction(store: SqlTimeSeriesStore) -> None:
    _one_a_day(store, "d1", 10)
    purged = store.purge("d1", RetentionCutoffs(NOW, {}), batch_rows=100)
    assert (purged.raw, purged.more) == (100, True)
    assert store.count("d1") == 10 * 24 - 100
    purged = store.purge("d1", RetentionCutoffs(NOW, {}), batch_rows=1000)
    assert (purged.raw, purged.more) == (10 * 24 - 100, False)


def test_the_service_pass_takes_tenants_from_the_registry_and_days_from_the_settings(stores: Stores) -> None:
    with stores.database.session() as session:
        session.add(AssetRow(device_id="d-short", tenant="short", first_seen=NOW, last_seen=NOW))
        session.add(AssetRow(device_id="d-long", tenant="acme", first_seen=NOW, last_seen=NOW))
    _one_a_day(stores.timeseries, "d-short", 10)
    _one_a_day(stores.timeseries, "d-long", 10)
    settings = CloudSettings(raw_retention_days=8, raw_retention_by_tenant={"short": 3})
    assert run_retention(settings, stores.database, stores.timeseries, NOW) == (10 - 3) * 24 + (10 - 8) * 24
    assert (stores.timeseries.count("d-short"), stores.timeseries.count("d-long")) == (3 * 24, 8 * 24)


def test_per_tenant_days_are_read_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAAS_RAW_RETENTION_DAYS", "14")
    monkeypatch.setenv("PAAS_RAW_RETENTION_BY_TENANT", '{"acme": 7, "big": 365}')
    policy = retention_policy(CloudSettings())
    assert (policy.raw_days, dict(policy.raw_days_by_tenant)) == (14.0, {"acme": 7.0, "big": 365.0})
    assert dict(policy.rollup_days) == {"1m": 90.0, "1h": 1826.0}
    monkeypatch.setenv("PAAS_RAW_RETENTION_BY_TENANT", '{"acme": 0}')
    with pytest.raises((ConfigError, ValidationError)):
        CloudSettings()
