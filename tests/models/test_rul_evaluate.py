"""The test-set metrics, the test-like cuts and the conformal band."""

from __future__ import annotations

import math

import numpy as np
import pytest

from firmware_sim.turbofan import TurbofanSimulator
from models.rul.band import BIN_WIDTH, BINS, bin_of, calibrate, coverage_of
from models.rul.cmapss import Engine
from models.rul.evaluate import MAX_LEFT, MIN_LEFT, MIN_OBSERVED, cuts_like_test_set, nasa_per_100, nasa_score, rmse


def test_rmse_and_nasa_score() -> None:
    assert rmse([10, 20], [10, 20]) == 0.0
    assert rmse([13, 20], [10, 24]) == pytest.approx(math.sqrt(12.5))
    # Late by 10 costs e - 1; early by 13 costs e - 1 as well: lateness is penalised harder per cycle.
    assert nasa_score([20], [10]) == pytest.approx(math.e - 1)
    assert nasa_score([0], [13]) == pytest.approx(math.e - 1)
    assert nasa_score([15], [10]) > nasa_score([5], [10])
    assert nasa_per_100([20, 10], [10, 10]) == pytest.approx(50 * (math.e - 1))


def test_cuts_look_like_the_test_set() -> None:
    engines = []
    for u in range(1, 6):
        sim = TurbofanSimulator(u)
        values = np.asarray([sim.step() for _ in range(sim.life_cycles)])
        engines.append(Engine(u, np.arange(1, sim.life_cycles + 1, dtype=np.int64), values))
    cuts = cuts_like_test_set(engines, 20, np.random.default_rng(0))
    assert len(cuts) == 100
    for cut in cuts:
        assert MIN_LEFT <= cut.left <= MAX_LEFT and cut.observed >= MIN_OBSERVED
        assert cut.observed + cut.left == cut.engine.length
        assert cut.truncated().length == cut.observed


def test_band_reaches_its_coverage_on_fresh_data() -> None:
    rng = np.random.default_rng(1)
    truth = rng.uniform(0, 125, 4000)
    predicted = np.clip(truth + rng.normal(0, 2 + truth / 10), 0, 125)  # errors grow with RUL, as in FD001
    band = calibrate(predicted[:2000], truth[:2000], 0.9)
    assert np.all(band.lower <= 0) and np.all(band.upper >= 0)
    assert band.upper[-1] - band.lower[-1] > band.upper[0] - band.lower[0]
    assert coverage_of(band, predicted[2000:], truth[2000:], 125.0) == pytest.approx(0.9, abs=0.03)


def test_bins() -> None:
    edges = np.array([0.0, BIN_WIDTH - 0.01, BIN_WIDTH, 1e6, -3.0])
    assert bin_of(edges).tolist() == [0, 0, 1, BINS - 1, 0]
