"""A re-installed device: its state directory lost, a new install numbers readings and usage reports from 1 again.

Readings are keyed by (device, install, seq), usage reports by (device, install, seq) and (device, message id),
events by (device, message id): the second install's rows are stored beside the first's, each still deduped,
and one device's ids never hide another's. On SQLite and PostgreSQL, through the ingest's handler.
"""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa
from cloudtest_support import T0, TENANT, Stores, anomaly, raw, telemetry

from cloud.store.raw_readings import RawReadings
from cloud.store.tables import EventRow, UsageReportRow
from contract.wire import Usage

UNITS = {"operating_hours": "h"}
LATER = T0 + 86_400.0  # the new install starts a day later


def usage(seq: int, hours: float, install: str, ts: float) -> Usage:
    return Usage(TENANT, "pump-1", seq, ts, ts - 60, ts, {"operating_hours": hours}, UNITS, install=install)


def test_every_reading_of_both_installs_is_stored_and_each_install_is_still_deduped(stores: Stores) -> None:
    first = [replace(telemetry("pump-1", 1 + 50 * i, 50, value=1.0), install="old") for i in range(2)]
    second = [replace(telemetry("pump-1", 1 + 50 * i, 50, t0=LATER, value=7.0), install="new") for i in range(2)]
    stores.handler.apply([raw(b) for b in first])
    outcomes = stores.handler.apply([raw(b) for b in second])
    assert all(o.accepted for o in outcomes)
    assert stores.timeseries.count("pump-1") == 200
    stores.handler.apply([raw(first[1]), raw(second[0])])  # a re-send of each install: duplicates
    assert stores.timeseries.count("pump-1") == 200
    stats = stores.counters.snapshot()
    assert (stats.readings_stored, stats.duplicate_readings) == (200, 100)
    # Nothing of the first install was overwritten by the second's seqs 1..100.
    old = stores.timeseries.query("pump-1", T0, T0 + 200, 200.0)
    assert old.buckets.counts.tolist() == [100] and old.buckets.means[0, 0] == 1.0
    new = stores.timeseries.query("pump-1", LATER, LATER + 200, 200.0)
    assert new.buckets.counts.tolist() == [100] and new.buckets.means[0, 0] == 7.0


def test_calibration_reads_take_a_re_installed_device_s_readings_in_the_order_they_were_taken(
    stores: Stores, sql_url: str
) -> None:
    stores.handler.apply([raw(replace(telemetry("pump-1", 1, 30), install="old")),
                          raw(replace(telemetry("pump-1", 1, 20, t0=LATER), install="new"))])
    reader = RawReadings(sql_url.replace("store.db", "timeseries.db"))  # where the `stores` fixture keeps them
    try:
        series = reader.first("pump-1", 40)
    finally:
        reader.close()
    assert len(series) == 40
    assert series.ts.tolist() == [T0 + s for s in range(1, 31)] + [LATER + s for s in range(1, 11)]
    assert series.seqs.tolist() == [*range(1, 31), *range(1, 11)]


def test_usage_reports_of_both_installs_are_stored_and_each_is_deduped(stores: Stores) -> None:
    old = [usage(seq, 10.0 * seq, "old", T0 + 60 * seq) for seq in (1, 2, 3)]
    new = [usage(seq, 1.0 * seq, "new", LATER + 60 * seq) for seq in (1, 2)]
    stores.handler.apply([raw(u) for u in old + new])
    same_seq = replace(new[0], message_id="another-id", counters={"operating_hours": 99.0})  # re-sent, new id
    outcomes = stores.handler.apply([raw(old[0]), raw(new[1]), raw(same_seq)])
    assert all(o.accepted for o in outcomes)
    stats = stores.counters.snapshot()
    assert (stats.usage_stored, stats.duplicate_usage) == (5, 3)
    with stores.database.session() as session:
        rows = session.execute(sa.select(UsageReportRow.install, UsageReportRow.seq,
                                         UsageReportRow.counters).order_by(UsageReportRow.id)).all()
    assert [(install, seq, counters["operating_hours"]) for install, seq, counters in rows] == [
        ("old", 1, 10.0), ("old", 2, 20.0), ("old", 3, 30.0), ("new", 1, 1.0), ("new", 2, 2.0)]


def test_an_event_id_another_device_reused_does_not_hide_this_device_s_event(stores: Stores) -> None:
    mine = anomaly("pump-1", T0 + 10, is_anomaly=False)
    theirs = replace(anomaly("pump-2", T0 + 5, is_anomaly=False), message_id=mine.message_id)
    stores.handler.apply([raw(theirs)])  # pump-2 first, with the id pump-1 is about to use
    stores.handler.apply([raw(mine), raw(mine)])  # pump-1's event, and its own redelivery
    with stores.database.session() as session:
        stored = session.execute(sa.select(EventRow.device_id, EventRow.message_id).order_by(EventRow.id)).all()
    assert [tuple(row) for row in stored] == [("pump-2", mine.message_id), ("pump-1", mine.message_id)]
    stats = stores.counters.snapshot()
    assert (stats.events_stored, stats.duplicate_events) == (2, 1)
