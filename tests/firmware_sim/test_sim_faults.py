"""Fault specs: the text form, its round trip, and the severity ramp."""

from __future__ import annotations

import pytest

from firmware_sim.faults import FaultKind, FaultSpec


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bearing_wear", FaultSpec(FaultKind.BEARING_WEAR)),
        ("cavitation@30", FaultSpec(FaultKind.CAVITATION, onset_s=30.0)),
        ("sensor_drift@10:pressure", FaultSpec(FaultKind.SENSOR_DRIFT, onset_s=10.0, channel="pressure")),
        ("sensor_stuck:flow_rate", FaultSpec(FaultKind.SENSOR_STUCK, channel="flow_rate")),
        (
            " valve_closure@12.5,ramp=8,severity=0.6 ",
            FaultSpec(FaultKind.VALVE_CLOSURE, onset_s=12.5, ramp_s=8.0, severity=0.6),
        ),
    ],
)
def test_parse(text: str, expected: FaultSpec) -> None:
    assert FaultSpec.parse(text) == expected


@pytest.mark.parametrize(
    "spec",
    [
        FaultSpec(FaultKind.BEARING_WEAR),
        FaultSpec(FaultKind.CAVITATION, onset_s=16.2, ramp_s=11.6),
        FaultSpec(FaultKind.SENSOR_DRIFT, onset_s=0.1 + 0.2, ramp_s=0.0, severity=2.5, channel="voltage"),
        FaultSpec(FaultKind.SENSOR_STUCK, onset_s=1e-7, channel="t50"),
    ],
)
def test_text_round_trip(spec: FaultSpec) -> None:
    assert FaultSpec.parse(str(spec)) == spec


def test_text_is_short_for_defaults() -> None:
    assert str(FaultSpec(FaultKind.CAVITATION, onset_s=30)) == "cavitation@30"
    assert str(FaultSpec(FaultKind.SENSOR_DRIFT, onset_s=10, channel="pressure")) == "sensor_drift@10:pressure"


def test_unknown_kind_lists_the_kinds() -> None:
    with pytest.raises(ValueError, match="bearing_wear, cavitation, valve_closure, sensor_stuck, sensor_drift"):
        FaultSpec.parse("meltdown@3")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("cavitation@soon", "not a number"),
        ("cavitation@-4", ">= 0"),
        ("cavitation,speed=3", "unknown option"),
        ("bearing_wear:accel1_rms", "not one channel"),
        ("sensor_drift@nan", "finite"),
        ("", "expected KIND"),
    ],
)
def test_malformed_specs_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        FaultSpec.parse(text)


def test_level_ramps_from_onset_to_full_severity() -> None:
    spec = FaultSpec(FaultKind.CAVITATION, onset_s=10.0, ramp_s=20.0, severity=0.8)
    assert spec.level(9.9) == 0.0
    assert spec.level(10.0) == 0.0
    assert spec.level(20.0) == pytest.approx(0.4)
    assert spec.level(30.0) == pytest.approx(0.8)
    assert spec.level(1000.0) == pytest.approx(0.8)
    assert FaultSpec(FaultKind.CAVITATION, onset_s=5.0, ramp_s=0.0).level(5.0) == 1.0


def test_kind_given_as_text_is_coerced() -> None:
    spec = FaultSpec("cavitation")  # type: ignore[arg-type]
    assert spec.kind is FaultKind.CAVITATION
    assert spec == FaultSpec(FaultKind.CAVITATION)
