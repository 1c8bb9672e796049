"""The simulated pump: determinism, the catalogue, affinity laws, and each fault's signature."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from contract.channels import PUMP_CHANNELS
from firmware_sim.faults import FaultKind, FaultSpec
from firmware_sim.pump import DRIFT_SPAN, PumpSimulator
from firmware_sim.regimes import SETPOINTS

Array = npt.NDArray[np.float64]
INDEX = {c.name: i for i, c in enumerate(PUMP_CHANNELS)}


def run(pump: PumpSimulator, seconds: int, dt_s: float = 1.0) -> Array:
    return np.array([pump.step(dt_s) for _ in range(round(seconds / dt_s))])


def test_channels_and_units_are_the_catalogue() -> None:
    pump = PumpSimulator(seed=1)
    assert pump.asset_kind == "pump"
    assert pump.channels == PUMP_CHANNELS
    sample = pump.step()
    assert len(sample) == len(PUMP_CHANNELS)
    assert all(isinstance(v, float) and np.isfinite(v) for v in sample)


def test_same_seed_same_samples_other_seed_other_samples() -> None:
    a, b, c = run(PumpSimulator(7), 300), run(PumpSimulator(7), 300), run(PumpSimulator(8), 300)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_values_are_in_skab_like_ranges() -> None:
    x = np.concatenate([run(PumpSimulator(seed), 900) for seed in range(5)])
    low = {"accel1_rms": 0.03, "accel2_rms": 0.04, "current": 1.0, "pressure": 0.3, "motor_temp": 65.0,
           "fluid_temp": 18.0, "voltage": 210.0, "flow_rate": 65.0}
    high = {"accel1_rms": 0.35, "accel2_rms": 0.45, "current": 3.0, "pressure": 1.6, "motor_temp": 100.0,
            "fluid_temp": 40.0, "voltage": 250.0, "flow_rate": 140.0}
    for name, i in INDEX.items():
        assert low[name] < x[:, i].min() and x[:, i].max() < high[name], name


def test_regimes_follow_the_affinity_laws() -> None:
    pump = PumpSimulator(seed=3)
    samples, speeds = [], []
    for _ in range(4 * 3600):
        samples.append(pump.step())
        speeds.append(pump.speed)
    x, n = np.array(samples), np.array(speeds)
    steady = np.r_[False, np.diff(n) == 0]  # not ramping between setpoints
    levels = sorted({float(v) for v in n[steady]})
    assert set(levels) <= set(SETPOINTS)
    lo, hi = levels[0], levels[-1]
    assert hi / lo > 1.2, "this seed should visit distinct setpoints"
    lo_mask, hi_mask = steady & (n == lo), steady & (n == hi)
    mean_lo, mean_hi = x[lo_mask].mean(axis=0), x[hi_mask].mean(axis=0)
    ratio = mean_hi / mean_lo
    assert ratio[INDEX["flow_rate"]] == pytest.approx(hi / lo, rel=0.03)
    assert ratio[INDEX["pressure"]] == pytest.approx((hi / lo) ** 2, rel=0.05)
    assert ratio[INDEX["accel1_rms"]] == pytest.approx((hi / lo) ** 2, rel=0.08)
    load = mean_hi[INDEX["current"]] - mean_lo[INDEX["current"]]
    unit = pump.unit
    assert load == pytest.approx(unit.current_load * (hi**3 - lo**3), rel=0.1)


def test_setpoint_changes_every_few_minutes() -> None:
    pump = PumpSimulator(seed=4)
    speeds = []
    for _ in range(3600):
        pump.step()
        speeds.append(pump.speed)
    changes = np.sum(np.abs(np.diff(speeds)) > 0.03)  # a ramp of 0.04 / s shows as steps this large
    assert 6 <= changes <= 60


def test_temperatures_lag_behind_the_load() -> None:
    x = run(PumpSimulator(seed=5), 1800)
    motor = x[:, INDEX["motor_temp"]]
    # A first-order thermal mass moves slowly: no jump beyond sensor noise from one second to the next.
    assert np.abs(np.diff(motor)).max() < 1.0
    assert np.abs(np.diff(x[:, INDEX["fluid_temp"]])).max() < 0.1


def test_bearings_wear_slowly_over_hours() -> None:
    pump = PumpSimulator(seed=6)
    early: list[float] = []
    late: list[float] = []
    for t in range(8 * 3600):
        sample = pump.step()
        ratio = sample[INDEX["accel1_rms"]] / pump.speed**2
        if t < 3600:
            early.append(ratio)
        elif t >= 7 * 3600:
            late.append(ratio)
    growth = np.mean(late) / np.mean(early) - 1.0
    assert growth == pytest.approx(7 * pump.unit.wear_per_hour, abs=0.01)
    assert growth > 0


def test_dt_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        PumpSimulator(seed=1).step(0.0)


def test_a_fault_changes_nothing_before_its_onset() -> None:
    fault = FaultSpec(FaultKind.CAVITATION, onset_s=30.0)
    healthy, faulty = PumpSimulator(seed=9), PumpSimulator(seed=9, fault=fault)
    for _ in range(29):
        assert healthy.step() == faulty.step()
        assert not faulty.fault_active
    faulty.step()
    assert faulty.fault_active
    assert not healthy.fault_active


def fault_vs_healthy(kind: FaultKind, seed: int = 11, channel: str | None = None) -> tuple[Array, Array]:
    """Mean over seconds 40-60 of a pump with `kind` (onset 15 s, ramp 20 s) and of its healthy twin."""
    faulty = run(PumpSimulator(seed, FaultSpec(kind, channel=channel)), 60)
    healthy = run(PumpSimulator(seed), 60)
    return faulty[40:].mean(axis=0), healthy[40:].mean(axis=0)


def change(kind: FaultKind) -> dict[str, float]:
    faulty, healthy = fault_vs_healthy(kind)
    return {name: faulty[i] / healthy[i] - 1.0 for name, i in INDEX.items()}


def test_bearing_wear_raises_vibration_only() -> None:
    c = change(FaultKind.BEARING_WEAR)
    assert c["accel1_rms"] > 1.5 and c["accel2_rms"] > 0.8
    assert abs(c["flow_rate"]) < 0.02 and abs(c["pressure"]) < 0.04
    assert 0 < c["motor_temp"] < 0.01  # slightly, through the motor's thermal lag


def test_cavitation_shakes_and_starves_the_pump() -> None:
    c = change(FaultKind.CAVITATION)
    assert c["accel1_rms"] > 0.6 and c["accel2_rms"] > 0.5
    assert c["flow_rate"] < -0.1 and c["pressure"] < -0.12 and c["current"] < -0.03


def test_cavitation_makes_flow_fluctuate() -> None:
    faulty = run(PumpSimulator(12, FaultSpec(FaultKind.CAVITATION)), 60)
    healthy = run(PumpSimulator(12), 60)
    flow = INDEX["flow_rate"]
    assert np.diff(faulty[40:, flow]).std() > 3 * np.diff(healthy[40:, flow]).std()


def test_valve_closure_is_not_a_speed_change() -> None:
    c = change(FaultKind.VALVE_CLOSURE)
    # Less flow at more pressure and less current: a slower pump would lower all three.
    assert c["flow_rate"] < -0.25 and c["pressure"] > 0.2 and c["current"] < -0.03


def test_stuck_sensor_freezes_one_channel() -> None:
    fault = FaultSpec(FaultKind.SENSOR_STUCK, onset_s=15.0, channel="flow_rate")
    faulty, healthy = run(PumpSimulator(13, fault), 60), run(PumpSimulator(13), 60)
    flow = INDEX["flow_rate"]
    assert np.ptp(faulty[14:, flow]) == 0.0
    assert np.ptp(faulty[:14, flow]) > 0.0
    others = [i for i in range(len(PUMP_CHANNELS)) if i != flow]
    assert np.array_equal(faulty[:, others], healthy[:, others])


def test_stuck_sensor_default_channel_is_pressure() -> None:
    faulty = run(PumpSimulator(13, FaultSpec(FaultKind.SENSOR_STUCK)), 60)
    assert np.ptp(faulty[20:, INDEX["pressure"]]) == 0.0


def test_drifting_sensor_ramps_one_channel_away() -> None:
    fault = FaultSpec(FaultKind.SENSOR_DRIFT, onset_s=15.0, ramp_s=20.0, channel="motor_temp")
    faulty, healthy = run(PumpSimulator(14, fault), 60), run(PumpSimulator(14), 60)
    offset = faulty - healthy
    motor = INDEX["motor_temp"]
    assert offset[24, motor] == pytest.approx(DRIFT_SPAN["motor_temp"] * 0.5)
    assert offset[50, motor] == pytest.approx(DRIFT_SPAN["motor_temp"])
    assert np.count_nonzero(offset) == np.count_nonzero(offset[:, motor])


def test_unknown_fault_channel_is_refused() -> None:
    with pytest.raises(ValueError, match="names channel 'rpm'"):
        PumpSimulator(1, FaultSpec(FaultKind.SENSOR_DRIFT, channel="rpm"))


def test_sampling_rate_does_not_change_the_physics() -> None:
    slow = run(PumpSimulator(15), 600, dt_s=1.0)
    fast = run(PumpSimulator(15), 600, dt_s=0.1)
    assert slow.mean(axis=0) == pytest.approx(fast.mean(axis=0), rel=0.03)
