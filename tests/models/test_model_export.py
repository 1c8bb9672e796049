"""The exported artifact: loads through the edge runtime and scores like the numpy reference."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import pytest

from contract.channels import PUMP_CHANNELS
from edge.runtime import METADATA_KEY, OnnxModel
from firmware_sim.faults import FaultKind, FaultSpec
from models.anomaly.pca import PcaDetector, fit_pca
from models.export import ArtifactInfo, export_pca, fingerprint
from models.pump_data import record
from models.windows import sliding_windows

Array = npt.NDArray[np.float64]
CREATED_AT = "2025-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def training() -> Array:
    return np.concatenate([sliding_windows(record(seed, 600), 10, 2) for seed in range(700, 704)])


@pytest.fixture(scope="module")
def detector(training: Array) -> PcaDetector:
    return fit_pca(training, components=4)


def info(training: Array, threshold: float = 2.0) -> ArtifactInfo:
    return ArtifactInfo(
        id="test-pca", version="0.0.1", asset_kind="pump", channels=PUMP_CHANNELS, window=10, threshold=threshold,
        created_at=CREATED_AT, training_fingerprint=fingerprint(training), metrics={"healthy_false_alarm_rate": 0.0},
    )


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory, detector: PcaDetector, training: Array) -> Path:
    path = tmp_path_factory.mktemp("artifact") / "model.onnx"
    path.write_bytes(export_pca(detector, info(training)))
    return path


def test_loads_through_the_edge_runtime(artifact: Path, training: Array) -> None:
    model = OnnxModel.load(artifact)
    assert model.info.id == "test-pca" and model.info.kind == "anomaly" and model.info.asset_kind == "pump"
    assert model.info.window == 10 and model.info.threshold == 2.0
    assert model.info.created_at == CREATED_AT
    assert model.info.training_fingerprint == hashlib.sha256(training.astype("<f8").tobytes()).hexdigest()
    assert model.info.metrics == {"healthy_false_alarm_rate": 0.0}
    model.check_inputs(tuple(c.name for c in PUMP_CHANNELS), tuple(c.unit for c in PUMP_CHANNELS))


def test_metadata_carries_the_normalisation(artifact: Path, detector: PcaDetector) -> None:
    meta = json.loads({p.key: p.value for p in onnx.load(str(artifact)).metadata_props}[METADATA_KEY])
    assert meta["normalisation"]["mean"] == pytest.approx(detector.mean.tolist())
    assert meta["normalisation"]["scale"] == pytest.approx(detector.scale.tolist())
    assert meta["channels"] == [c.name for c in PUMP_CHANNELS]
    assert meta["units"] == [c.unit for c in PUMP_CHANNELS]
    assert set(meta) >= {"id", "version", "kind", "asset_kind", "window", "threshold", "created_at",
                         "training_fingerprint", "metrics"}


def test_scores_match_the_numpy_reference(artifact: Path, detector: PcaDetector) -> None:
    model = OnnxModel.load(artifact)
    windows = [sliding_windows(record(800, 120), 10, 3)]
    for kind in FaultKind:
        windows.append(sliding_windows(record(801, 60, FaultSpec(kind, onset_s=5.0, ramp_s=10.0)), 10, 3))
    batch = np.concatenate(windows)
    expected_scores, expected_contributions = detector.score(batch.astype(np.float32))
    results = model.score_batch(batch)
    scores = np.array([r.score for r in results])
    contributions = np.array([[r.contributions[c.name] for c in PUMP_CHANNELS] for r in results])
    assert scores == pytest.approx(expected_scores, rel=1e-4, abs=1e-4)
    assert contributions == pytest.approx(expected_contributions, rel=1e-4, abs=1e-4)
    assert expected_scores.max() > 100  # the stalled sensor was in there, liveness term and all


def test_graph_is_small(artifact: Path) -> None:
    model = onnx.load(str(artifact))
    assert len(model.graph.node) <= 20
    assert artifact.stat().st_size < 50_000
    assert model.opset_import[0].version in (17, 18)


def test_export_is_byte_identical(detector: PcaDetector, training: Array) -> None:
    assert export_pca(detector, info(training)) == export_pca(detector, info(training))
    assert export_pca(detector, info(training)) != export_pca(detector, info(training, threshold=3.0))


def test_channel_count_must_match(detector: PcaDetector, training: Array) -> None:
    wrong = ArtifactInfo("x", "1", "pump", PUMP_CHANNELS[:4], 10, 1.0, CREATED_AT, "")
    with pytest.raises(ValueError, match="channels"):
        export_pca(detector, wrong)
