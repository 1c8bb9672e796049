"""The RUL graph computes what the numpy reference computes, and carries the metadata the platform reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from contract.channels import TURBOFAN_CHANNELS
from edge.errors import ModelError
from firmware_sim.turbofan import TurbofanSimulator
from models.export import ArtifactInfo
from models.rul.band import BINS, Band
from models.rul.ensemble import RulEnsemble, reference_predict
from models.rul.export import export_rul
from models.rul.features import INFORMATIVE, SUMMARIES, Normaliser
from models.rul.predict import RulPredictor
from models.rul.weights import Dense, NetworkWeights

WINDOW = 60


def random_member(rng: np.random.Generator) -> NetworkWeights:
    inputs = len(INFORMATIVE) * len(SUMMARIES)
    return NetworkWeights(
        layers=(
            Dense(rng.normal(0, 0.3, (16, inputs)), rng.normal(0, 0.1, 16)),
            Dense(rng.normal(0, 0.3, (8, 16)), rng.normal(0, 0.1, 8)),
            Dense(rng.normal(0, 0.3, (1, 8)), np.array([0.5])),
        ),
        target_scale=125.0,
    )


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    sim = TurbofanSimulator(11)
    return np.asarray([sim.step() for _ in range(sim.life_cycles)], dtype=np.float64)


@pytest.fixture(scope="module")
def ensemble(samples: np.ndarray) -> RulEnsemble:
    rng = np.random.default_rng(5)
    band = Band(lower=-np.linspace(5, 30, BINS), upper=np.linspace(4, 20, BINS), coverage=0.9)
    return RulEnsemble(Normaliser.fit(samples), (random_member(rng), random_member(rng)), 125.0, band)


def artifact(ensemble: RulEnsemble, tmp_path: Path) -> Path:
    info = ArtifactInfo(
        id="test-rul", version="0.0.1", asset_kind="turbofan", channels=TURBOFAN_CHANNELS, window=WINDOW,
        threshold=30.0, created_at="2025-01-01T00:00:00Z", training_fingerprint="0" * 64,
        metrics={"cv_rmse_mean": 1.0}, kind="rul",
    )
    path = tmp_path / "rul.onnx"
    path.write_bytes(export_rul(ensemble, info))
    return path


def test_graph_matches_the_reference(ensemble: RulEnsemble, samples: np.ndarray, tmp_path: Path) -> None:
    windows = np.stack([samples[end - WINDOW : end] for end in range(WINDOW, samples.shape[0] + 1, 3)])
    predictor = RulPredictor.load(artifact(ensemble, tmp_path))
    got = predictor.predict(windows)
    # The artifact takes float32 input: the reference gets the same rounded samples.
    want = reference_predict(ensemble, windows.astype(np.float32))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=2e-3 * 125)
    rul, lower, upper = got
    assert np.all(lower <= rul + 1e-4) and np.all(rul <= upper + 1e-4)
    assert np.all((rul >= 0) & (rul <= 125))


def test_metadata_describes_the_outputs(ensemble: RulEnsemble, tmp_path: Path) -> None:
    info = RulPredictor.load(artifact(ensemble, tmp_path)).info
    assert (info.kind, info.asset_kind, info.window) == ("rul", "turbofan", WINDOW)
    assert set(info.extra["outputs"]) == {"rul", "rul_lower", "rul_upper"}
    assert info.extra["band"]["coverage_nominal"] == 0.9
    assert info.extra["members"] == 2


def test_wrong_window_shape_and_wrong_model_are_refused(ensemble: RulEnsemble, tmp_path: Path) -> None:
    predictor = RulPredictor.load(artifact(ensemble, tmp_path))
    with pytest.raises(ModelError, match="window shape"):
        predictor.predict(np.zeros((1, WINDOW + 1, 24)))
    with pytest.raises(ModelError, match="does not exist"):
        RulPredictor.load(tmp_path / "nothing.onnx")
    with pytest.raises(ModelError, match="not a turbofan RUL model"):
        RulPredictor.load(Path(__file__).resolve().parents[2] / "models" / "artifacts" / "pump-baseline.onnx")
