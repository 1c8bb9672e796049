"""The ingest's message handler on SQLite and PostgreSQL: validation, conversion, dedupe, state."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from cloudtest_support import PUMP, T0, TENANT, Stores, anomaly, raw, state, telemetry

from cloud.errors import NotFoundError
from cloud.store.assets import get_asset
from cloud.store.scope import Scope
from contract.wire import ChannelRef, DeviceStatus, Message, encode, topic_of


def with_body(message: Message, edit: Callable[[dict[str, Any]], object]) -> bytes:
    """The message's JSON after `edit(body)` changed it (to forge payloads the encoder refuses)."""
    body = json.loads(encode(message))
    edit(body)
    return json.dumps(body).encode()  # json.dumps writes NaN as the non-JSON token NaN


def nan_in_first_reading(body: dict[str, Any]) -> None:
    body["readings"][0]["values"][0] = math.nan


def test_hostile_payloads_are_rejected_with_a_reason_and_good_ones_in_the_same_batch_are_stored(stores: Stores) -> None:
    good = [raw(telemetry(f"p{i}", 1, 20)) for i in range(1, 5)]
    topic = topic_of(telemetry("p1", 1))
    wrong_unit = tuple(ChannelRef(c.name, "bar" if c.name == "motor_temp" else c.unit) for c in PUMP)
    unknown_channel = (*PUMP[:2], ChannelRef("humidity", "pct"))
    hostile = [
        (topic, b"{not json", "malformed"),
        (topic, bytes(range(256)) * 4, "malformed"),
        (topic, b"[1, 2, 3]", "malformed"),
        (topic, b'"just a string"', "malformed"),
        (topic, with_body(telemetry("p1", 100), lambda b: b.update(v=2)), "malformed"),
        (topic, encode(telemetry("p1", 100)) + b" " * 300_000, "malformed"),
        (topic, with_body(telemetry("p1", 100), nan_in_first_reading), "malformed"),
        (topic, encode(telemetry("p9", 100)), "malformed"),  # another device's payload on p1's topic
        (topic, encode(anomaly("p1", T0)), "malformed"),  # an event on a telemetry topic
        ("paas/v1/acme/p1", encode(telemetry("p1", 100)), "malformed"),
        (topic, encode(telemetry("p1", 100, channels=wrong_unit)), "unit"),
        (topic, encode(telemetry("p1", 100, channels=unknown_channel)), "unknown_channel"),
        (*raw(telemetry("p1", 100, tenant="intruder")), "tenant_mismatch"),
    ]
    # Interleaved: good, bad, bad, bad, good, ...; all in one batch (one transaction).
    batch = [good[0], *[(t, p) for t, p, _ in hostile[:5]], good[1], *[(t, p) for t, p, _ in hostile[5:10]], good[2]]
    batch += [good[3], *[(t, p) for t, p, _ in hostile[10:]]]
    outcomes = stores.handler.apply(batch)
    reasons = [o.reason for o in outcomes if not o.accepted]
    assert sorted(reasons) == sorted(expected for _, _, expected in hostile)
    for device in ("p1", "p2", "p3", "p4"):
        assert stores.timeseries.count(device) == 20
    stats = stores.counters.snapshot()
    assert stats.accepted == 4
    assert stats.readings_stored == 80
    assert stats.rejected_total == len(hostile)
    assert stats.rejected["unit"] == 1


def test_convertible_units_are_converted_to_canonical_ones(stores: Stores) -> None:
    fahrenheit = tuple(ChannelRef(c.name, {"motor_temp": "degF", "pressure": "psi"}.get(c.name, c.unit)) for c in PUMP)
    batch = telemetry("p1", 1, 1, channels=fahrenheit, value=0.0)
    # value + index: motor_temp (index 4) = 4.0 degF, pressure (index 3) = 3.0 psi
    forged = with_body(batch, lambda b: b["readings"][0].update(values=[0, 0, 0, 14.5038, 212.0, 0, 0, 0]))
    assert stores.handler.apply([(topic_of(batch), forged)])[0].accepted
    series = stores.timeseries.query("p1", T0, T0 + 10, 10.0)
    means = dict(zip(series.channels, series.buckets.means[0].tolist(), strict=True))
    assert math.isclose(means["motor_temp"], 100.0)
    assert math.isclose(means["pressure"], 1.0, rel_tol=1e-4)
    with stores.database.session() as session:
        units = {c["name"]: c["unit"] for c in get_asset(session, "p1", Scope(TENANT)).channels}
    assert units["motor_temp"] == "degC" and units["pressure"] == "bar"


def test_a_redelivered_batch_changes_nothing(stores: Stores) -> None:
    messages = [raw(telemetry("p1", 1, 50)), raw(anomaly("p1", T0 + 10, is_anomaly=False)), raw(state("p1"))]
    stores.handler.apply(messages)
    stores.handler.apply(messages)
    stats = stores.counters.snapshot()
    assert stores.timeseries.count("p1") == 50
    assert (stats.readings_stored, stats.duplicate_readings) == (50, 50)
    assert (stats.events_stored, stats.duplicate_events) == (1, 1)


def test_first_telemetry_creates_the_asset_and_its_kind_is_inferred(stores: Stores) -> None:
    stores.handler.apply([raw(telemetry("p1", 1, 5))])
    with stores.database.session() as session:
        asset = get_asset(session, "p1", Scope(TENANT))
        assert (asset.asset_kind, asset.tenant, asset.online) == ("pump", "acme", True)
        assert asset.last_seen == stores.clock.time()
        assert [c["name"] for c in asset.channels] == [c.name for c in PUMP]
        with pytest.raises(NotFoundError):
            get_asset(session, "p1", Scope("globex"))  # another tenant's asset is as unknown as none


def test_state_updates_the_asset_and_a_stale_state_is_ignored(stores: Stores) -> None:
    stores.handler.apply([raw(state("p1", ts=T0 + 10))])
    stores.handler.apply([raw(state("p1", ts=T0 + 20, status=DeviceStatus.OFFLINE))])
    stores.handler.apply([raw(state("p1", ts=T0 + 15))])  # a late, older birth message
    with stores.database.session() as session:
        asset = get_asset(session, "p1", Scope(TENANT))
        assert asset.online is False
        assert (asset.agent_version, asset.model_id, asset.model_version) == ("0.1.0", "pump-ae", "1.2.0")
        assert asset.health == {"queue": 0}
