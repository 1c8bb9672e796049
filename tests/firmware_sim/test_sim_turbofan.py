"""The simulated turbofan: one cycle per step, degrading to failure like C-MAPSS FD001."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from contract.channels import TURBOFAN_CHANNELS
from firmware_sim.faults import FaultKind, FaultSpec
from firmware_sim.turbofan import LIFE_RANGE, TurbofanSimulator

INDEX = {c.name: i for i, c in enumerate(TURBOFAN_CHANNELS)}


def fly(engine: TurbofanSimulator, cycles: int) -> npt.NDArray[np.float64]:
    return np.array([engine.step() for _ in range(cycles)])


def test_channels_and_determinism() -> None:
    a, b = TurbofanSimulator(seed=1), TurbofanSimulator(seed=1)
    assert a.asset_kind == "turbofan"
    assert a.channels == TURBOFAN_CHANNELS
    assert a.life_cycles == b.life_cycles
    assert np.array_equal(fly(a, 50), fly(b, 50))
    assert len(TurbofanSimulator(seed=1).step()) == len(TURBOFAN_CHANNELS)


def test_rul_counts_down_to_failure() -> None:
    engine = TurbofanSimulator(seed=2, life_cycles=150)
    assert engine.true_rul == 150 and not engine.failed
    for expected in range(149, -1, -1):
        engine.step(dt_s=60.0)  # dt is ignored: a step is one flight cycle
        assert engine.true_rul == expected
        assert engine.failed == (expected == 0)
    assert engine.cycle == 150
    engine.step()  # flown past failure: still readings, RUL stays 0
    assert engine.true_rul == 0 and engine.failed


def test_drawn_lives_look_like_fd001() -> None:
    lives = [TurbofanSimulator(seed).life_cycles for seed in range(200)]
    assert all(LIFE_RANGE[0] <= life <= LIFE_RANGE[1] for life in lives)
    assert 180 < np.mean(lives) < 230
    assert 25 < np.std(lives) < 60


def test_sensors_trend_towards_failure() -> None:
    rising = ["t24", "t30", "t50", "ps30", "htbleed", "bpr"]
    falling = ["p30", "phi", "w31", "w32"]
    for seed in range(5):
        x = fly(TurbofanSimulator(seed, life_cycles=200), 200)
        start, end = x[:30].mean(axis=0), x[-10:].mean(axis=0)
        for name in rising:
            assert end[INDEX[name]] > start[INDEX[name]], (seed, name)
        for name in falling:
            assert end[INDEX[name]] < start[INDEX[name]], (seed, name)
        # The change accelerates: the last third moves more than the first two together.
        t50 = x[:, INDEX["t50"]]
        assert t50[-20:].mean() - t50[120:140].mean() > t50[120:140].mean() - t50[:20].mean()


def test_fd001_levels_and_constants() -> None:
    x = fly(TurbofanSimulator(seed=3), 120)
    assert np.all(x[:, INDEX["t2"]] == 518.67)
    assert np.all(x[:, INDEX["tra"]] == 100.0)
    assert np.all(x[:, INDEX["htbleed"]] == np.round(x[:, INDEX["htbleed"]]))
    assert 1380 < x[:, INDEX["t50"]].mean() < 1430
    assert 9000 < x[:, INDEX["nc"]].mean() < 9150
    assert np.std(x[:, INDEX["altitude"]]) < 0.01


def test_only_sensor_faults_apply() -> None:
    with pytest.raises(ValueError, match="does not apply to a turbofan"):
        TurbofanSimulator(1, fault=FaultSpec(FaultKind.BEARING_WEAR))
    stuck = TurbofanSimulator(1, fault=FaultSpec(FaultKind.SENSOR_STUCK, onset_s=10))
    x = fly(stuck, 40)
    assert np.ptp(x[9:, INDEX["t50"]]) == 0.0
    assert stuck.fault_active
    healthy = fly(TurbofanSimulator(1), 40)
    drift = fly(TurbofanSimulator(1, fault=FaultSpec(FaultKind.SENSOR_DRIFT, onset_s=10, ramp_s=10)), 40)
    assert (drift - healthy)[30, INDEX["t30"]] > 20.0
