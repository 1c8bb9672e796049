"""Wire protocol v1: round trips, and every kind of bad message refused with a reason."""

from __future__ import annotations

import json

import pytest

from contract import wire
from contract.errors import ProtocolError
from contract.wire import (
    ChannelRef,
    DeviceState,
    DeviceStatus,
    Event,
    EventKind,
    ModelRef,
    Reading,
    TelemetryBatch,
    TopicKind,
)

T0 = 1_800_000_000.0
TOPIC = "paas/v1/acme/pump-001/telemetry"


def batch(**overrides: object) -> dict[str, object]:
    msg = TelemetryBatch(
        tenant="acme",
        device_id="pump-001",
        channels=(ChannelRef("pressure", "bar"), ChannelRef("current", "A")),
        readings=(Reading(1, T0, (1.5, 3.0)), Reading(2, T0 + 1, (1.6, None))),
        sent_at=T0 + 2,
    )
    body: dict[str, object] = json.loads(wire.encode(msg))
    body.update(overrides)
    return body


def test_telemetry_round_trip() -> None:
    decoded = wire.decode(TOPIC, json.dumps(batch()).encode())
    assert isinstance(decoded, TelemetryBatch)
    assert [r.seq for r in decoded.readings] == [1, 2]
    assert decoded.readings[1].values == (1.6, None)
    assert decoded.readings[0].ts == pytest.approx(T0)


def test_event_and_state_round_trip() -> None:
    event = Event(
        tenant="acme", device_id="pump-001", seq=7, ts=T0, kind=EventKind.ANOMALY, score=9.5, threshold=4.0,
        is_anomaly=True, contributions={"accel1_rms": 6.0}, model=ModelRef("pump-baseline", "1.0.0"),
        window_start=T0 - 10, window_end=T0, window_samples=10,
    )
    assert wire.decode(wire.topic_of(event), wire.encode(event)) == event
    state = DeviceState(tenant="acme", device_id="pump-001", ts=T0, status=DeviceStatus.OFFLINE)
    assert wire.decode(wire.topic_of(state), wire.encode(state)) == state


def test_topics() -> None:
    assert wire.subscription(TopicKind.TELEMETRY) == "paas/v1/+/+/telemetry"
    topic = wire.Topic.parse(TOPIC)
    assert (topic.tenant, topic.device_id, topic.kind) == ("acme", "pump-001", TopicKind.TELEMETRY)
    assert str(topic) == TOPIC


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (TOPIC, b"{not json", "not valid JSON"),
        (TOPIC, b"\xff\xfe\x00garbage", "not valid JSON"),
        (TOPIC, b"[1, 2, 3]", "expected a JSON object"),
        (TOPIC, json.dumps(batch(v=2)).encode(), "unsupported schema version"),
        (TOPIC, json.dumps(batch(device_id="pump-002")).encode(), "does not match the topic"),
        ("paas/v1/acme/pump-002/telemetry", json.dumps(batch()).encode(), "does not match the topic"),
        (TOPIC, json.dumps(batch(type="event")).encode(), "on a telemetry topic"),
        (TOPIC, json.dumps(batch()).replace("1.5", "NaN").encode(), "NaN"),
        (TOPIC, json.dumps(batch(readings=[])).encode(), "readings: expected 1 to"),
        (TOPIC, b" " * (wire.MAX_PAYLOAD_BYTES + 1), "exceeds"),
        ("paas/v1/acme/pump+1/telemetry", json.dumps(batch()).encode(), "device_id"),
        ("other/topic", b"{}", "is not paas/v1"),
        ("paas/v1/acme/pump-001/bogus", b"{}", "unknown topic kind"),
    ],
)
def test_bad_messages_are_refused_with_a_reason(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        wire.decode(topic, payload)


def test_bad_readings_are_refused() -> None:
    good = batch()
    readings = good["readings"]
    assert isinstance(readings, list)
    cases = {
        "does not increase": [readings[1], readings[0]],
        "values for 2 channels": [{**readings[0], "values": [1.0]}],
        "is not a number": [{**readings[0], "values": ["x", 1.0]}],
        "not in UTC": [{**readings[0], "ts": "2026-01-01T00:00:00+01:00"}],
        "expected int": [{**readings[0], "seq": True}],
    }
    for reason, rows in cases.items():
        with pytest.raises(ProtocolError, match=reason):
            wire.decode(TOPIC, json.dumps({**good, "readings": rows}).encode())


def test_timestamps_are_utc_with_z() -> None:
    assert wire.format_ts(T0) == "2027-01-15T08:00:00.000Z"
    assert wire.parse_ts("2027-01-15T08:00:00.000Z") == T0


def test_control_characters_are_refused_in_state_and_model_fields() -> None:
    state = DeviceState(tenant="acme", device_id="pump-001", ts=T0, status=DeviceStatus.ONLINE,
                        health={"note": "ok"}, model=ModelRef("pump-baseline", "1.0.0"))
    body = json.loads(wire.encode(state))
    for field, value in (("health", {"note": "bad\x00"}), ("model", {"id": "m\x00", "version": "1"}),
                         ("agent_version", "0.1\x00")):
        with pytest.raises(ProtocolError):
            wire.decode(wire.topic_of(state), json.dumps({**body, field: value}).encode())


def test_versions_may_carry_build_metadata() -> None:
    state = DeviceState(tenant="acme", device_id="pump-001", ts=T0, status=DeviceStatus.ONLINE,
                        agent_version="0.0.0+unknown", model=ModelRef("pump-baseline", "1.0.0+local"))
    assert wire.decode(wire.topic_of(state), wire.encode(state)) == state
