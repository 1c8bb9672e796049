"""Fleet plans: deterministic, the right share of faulty devices, faults that show within the run."""

from __future__ import annotations

from collections import Counter

import pytest

from firmware_sim.faults import SENSOR_FAULTS, FaultKind, FaultSpec
from firmware_sim.fleet import DeviceSpec, make_simulator, plan_fleet
from firmware_sim.pump import PumpSimulator
from firmware_sim.turbofan import TurbofanSimulator


def faulty(plan: list[DeviceSpec]) -> list[FaultSpec]:
    return [spec.fault for spec in plan if spec.fault is not None]


def test_demo_fleet() -> None:
    plan = plan_fleet(20, seed=0, duration_s=60.0)
    assert [spec.device_id for spec in plan] == [f"pump-{i:03d}" for i in range(1, 21)]
    assert all(spec.asset_kind == "pump" for spec in plan)
    faults = faulty(plan)
    assert len(faults) == 4
    assert len({f.kind for f in faults}) == 4
    for fault in faults:
        assert 6.0 <= fault.onset_s <= 20.0
        assert fault.onset_s + fault.ramp_s <= 36.0 + 1e-9
        assert fault.severity == 1.0
        assert FaultSpec.parse(str(fault)) == fault
    assert len({spec.seed for spec in plan}) == 20


def test_plans_are_deterministic_per_seed() -> None:
    assert plan_fleet(30, seed=5) == plan_fleet(30, seed=5)
    assert plan_fleet(30, seed=5) != plan_fleet(30, seed=6)


@pytest.mark.parametrize(
    ("n", "fraction", "expected"), [(20, 0.2, 4), (3, 0.1, 1), (2, 0.1, 0), (10, 0.0, 0), (7, 1.0, 7), (100, 0.25, 25)]
)
def test_number_of_faulty_devices(n: int, fraction: float, expected: int) -> None:
    assert len(faulty(plan_fleet(n, seed=1, fault_fraction=fraction))) == expected


def test_fault_kinds_are_spread_evenly() -> None:
    counts = Counter(f.kind for f in faulty(plan_fleet(23, seed=2, fault_fraction=1.0)))
    assert set(counts) == set(FaultKind)
    assert max(counts.values()) - min(counts.values()) <= 1


def test_onsets_scale_with_the_run() -> None:
    for fault in faulty(plan_fleet(50, seed=3, duration_s=600.0, fault_fraction=0.5)):
        assert 60.0 <= fault.onset_s <= 200.0
        assert fault.onset_s + fault.ramp_s <= 360.0 + 1e-9


def test_turbofan_fleet_gets_sensor_faults_only() -> None:
    plan = plan_fleet(10, seed=4, fault_fraction=0.5, asset_kind="turbofan", prefix="engine")
    assert plan[0].device_id == "engine-001"
    assert {f.kind for f in faulty(plan)} <= SENSOR_FAULTS
    simulators = [make_simulator(spec) for spec in plan]
    assert all(isinstance(s, TurbofanSimulator) for s in simulators)


def test_make_simulator() -> None:
    spec = plan_fleet(5, seed=0)[0]
    simulator = make_simulator(spec)
    assert isinstance(simulator, PumpSimulator)
    assert simulator.step() == PumpSimulator(spec.seed, spec.fault).step()
    with pytest.raises(ValueError, match="unknown asset kind"):
        make_simulator(DeviceSpec("x-001", "toaster", 1, None))


def test_bad_plans_are_refused() -> None:
    with pytest.raises(ValueError, match="fault_fraction"):
        plan_fleet(5, fault_fraction=1.5)
    with pytest.raises(ValueError, match="unknown asset kind"):
        plan_fleet(5, asset_kind="toaster")
    assert plan_fleet(0) == []
