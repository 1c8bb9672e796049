"""The committed turbofan RUL artifact: small, fast, self-describing, and computing what its weights say."""

from __future__ import annotations

import time

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edge.runtime import OnnxModel
from firmware_sim.turbofan import TurbofanSimulator
from models.rul.band import Band
from models.rul.ensemble import RulEnsemble, reference_predict
from models.rul.features import Normaliser, window_ending
from models.rul.predict import DEFAULT_RUL_MODEL, RulPredictor
from models.rul.weights import Dense, NetworkWeights


@pytest.fixture(scope="module")
def predictor() -> RulPredictor:
    return RulPredictor.load(DEFAULT_RUL_MODEL)


def rebuilt(predictor: RulPredictor) -> RulEnsemble:
    """The ensemble read back from the artifact's initializers and metadata, for the numpy reference."""
    graph = onnx.load(DEFAULT_RUL_MODEL).graph
    arrays = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in graph.initializer}
    members = []
    for m in range(int(predictor.info.extra["members"])):
        layers: list[Dense] = []
        while f"m{m}_w{len(layers)}" in arrays:
            layers.append(Dense(arrays[f"m{m}_w{len(layers)}"], arrays[f"m{m}_b{len(layers)}"]))
        members.append(NetworkWeights(layers=tuple(layers), target_scale=1.0))  # the graph's output is in cycles
    band = predictor.info.extra["band"]
    return RulEnsemble(
        Normaliser(arrays["mean"], 1.0 / arrays["inv_scale"]), tuple(members), float(predictor.info.extra["rul_clip"]),
        Band(np.asarray(band["lower"]), np.asarray(band["upper"]), float(band["coverage_nominal"])),
    )


def engine_windows(predictor: RulPredictor, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows of one simulated engine at every 10th cycle, and the true RUL there."""
    sim = TurbofanSimulator(seed)
    values = np.asarray([sim.step() for _ in range(sim.life_cycles)], dtype=np.float64)
    ends = np.arange(10, sim.life_cycles + 1, 10)
    windows = np.stack([window_ending(values, int(end), predictor.info.window) for end in ends])
    return windows, (sim.life_cycles - ends).astype(np.float64)


def test_artifact_identity_and_size(predictor: RulPredictor) -> None:
    info = predictor.info
    assert DEFAULT_RUL_MODEL.stat().st_size <= 1_000_000
    assert (info.id, info.kind, info.asset_kind) == ("turbofan-rul", "rul", "turbofan")
    assert len(info.training_fingerprint) == 64 and info.created_at.endswith("Z")
    for key in ("cv_rmse_mean", "cv_rmse_std", "cv_nasa_per_100_mean", "band_coverage_cv"):
        assert key in info.metrics
    assert info.metrics["cv_rmse_mean"] < 14.0
    assert info.metrics["band_coverage_cv"] > 0.8
    assert OnnxModel.load(DEFAULT_RUL_MODEL).info == info  # the edge runtime reads the same description


def test_artifact_matches_its_numpy_reference(predictor: RulPredictor) -> None:
    windows, _ = engine_windows(predictor, seed=41)
    got = predictor.predict(windows)
    want = reference_predict(rebuilt(predictor), windows.astype(np.float32))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=0.05)


def test_predictions_track_a_simulated_engine(predictor: RulPredictor) -> None:
    errors = []
    for seed in (51, 52, 53):
        windows, left = engine_windows(predictor, seed)
        rul, lower, upper = predictor.predict(windows)
        assert np.all(lower <= rul + 1e-3) and np.all(rul <= upper + 1e-3)
        assert rul[-1] < 40 and rul[0] > 90  # near failure low, when new near the 125-cycle ceiling
        errors.append(rul - np.minimum(left, 125.0))
    assert float(np.sqrt(np.mean(np.concatenate(errors) ** 2))) < 30.0  # the simulator is FD001-like, not FD001


def test_one_prediction_takes_under_two_milliseconds(predictor: RulPredictor) -> None:
    windows, _ = engine_windows(predictor, seed=61)
    one = windows[-1:]
    for _ in range(20):
        predictor.predict(one)
    times = []
    for _ in range(200):
        started = time.perf_counter()
        predictor.predict(one)
        times.append(time.perf_counter() - started)
    assert float(np.median(times)) < 0.002
