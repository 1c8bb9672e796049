"""The Usage message: round trip, and malformed counters refused with a reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contract import wire
from contract.errors import ProtocolError
from contract.wire import TopicKind, Usage

T0 = 1_800_000_000.0
TOPIC = "paas/v1/acme/pump-001/usage"


def usage(**overrides: object) -> dict[str, Any]:
    msg = Usage(tenant="acme", device_id="pump-001", seq=3, ts=T0 + 60, period_start=T0, period_end=T0 + 60,
                counters={"operating_hours": 12.5, "energy_kwh": 3.25}, units={"operating_hours": "h",
                                                                               "energy_kwh": "kWh"})
    body: dict[str, Any] = json.loads(wire.encode(msg))
    body.update(overrides)
    return body


def test_usage_round_trip_on_its_own_topic() -> None:
    msg = Usage(tenant="acme", device_id="pump-001", seq=1, ts=T0, period_start=T0 - 60, period_end=T0,
                counters={"cycles": 42.0}, units={"cycles": "1"})
    assert wire.topic_of(msg) == TOPIC
    assert wire.Topic.parse(TOPIC).kind is TopicKind.USAGE
    assert wire.subscription(TopicKind.USAGE) == "paas/v1/+/+/usage"
    assert wire.decode(TOPIC, wire.encode(msg)) == msg


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"counters": {}}, "counters: expected 1 to"),
        ({"counters": {"operating_hours": -1, "energy_kwh": 1}}, ">= 0"),
        ({"counters": {"operating_hours": True, "energy_kwh": 1}}, "finite number"),
        ({"counters": {"bad name!": 1, "energy_kwh": 1}}, "not a counter name"),
        ({"units": {"operating_hours": "h"}}, "one unit per counter"),
        ({"units": {"operating_hours": "h", "energy_kwh": "k W h"}}, "not a unit symbol"),
        ({"units": {"operating_hours": "h", "energy_kwh": 3}}, "not a unit symbol"),
        ({"period_end": "2027-01-15T07:00:00.000Z"}, "before period_start"),
        ({"seq": -1}, "out of range"),
        ({"ts": "yesterday"}, "not an ISO-8601"),
        ({"type": "event"}, "expected 'usage'"),
    ],
)
def test_malformed_usage_is_refused(overrides: dict[str, object], reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        wire.decode(TOPIC, json.dumps(usage(**overrides)).encode())


def test_missing_fields_and_a_usage_on_another_topic_are_refused() -> None:
    body = usage()
    del body["counters"]
    with pytest.raises(ProtocolError, match="counters: missing"):
        wire.decode(TOPIC, json.dumps(body).encode())
    with pytest.raises(ProtocolError, match="on a events topic"):
        wire.decode("paas/v1/acme/pump-001/events", json.dumps(usage()).encode())
