"""The baseline pump model: reproducible training, and the committed artifact doing its job."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from contract.clock import ManualClock
from edge.runtime import OnnxModel
from firmware_sim.faults import FaultKind, FaultSpec
from firmware_sim.fleet import make_simulator, plan_fleet
from models.__main__ import main
from models.paths import DEFAULT_PUMP_MODEL, artifacts_dir
from models.pump_baseline import BaselineConfig, train_baseline
from models.pump_data import record
from models.windows import sliding_windows, window_ends

SMALL = BaselineConfig(units=6, calibration_units=6, duration_s=600, evaluate=False)


def test_training_is_reproducible() -> None:
    first = train_baseline(SMALL, "2025-01-01T00:00:00Z")
    again = train_baseline(SMALL, "2025-01-01T00:00:00Z")
    other = train_baseline(BaselineConfig(seed=1, units=6, calibration_units=6, duration_s=600, evaluate=False),
                           "2025-01-01T00:00:00Z")
    assert first.artifact == again.artifact
    assert first.artifact != other.artifact
    assert first.threshold > 0


def test_cli_writes_an_artifact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.onnx"
    clock = ManualClock(start=1_800_000_000.0)
    assert main(["train-baseline", "--out", str(out), "--units", "6", "--duration", "300"], clock=clock) == 0
    model = OnnxModel.load(out)
    assert model.info.created_at == "2027-01-15T08:00:00Z"
    assert "healthy_false_alarm_rate" in model.info.metrics
    printed = capsys.readouterr().out
    assert "threshold" in printed and "sensor_stuck" in printed


def test_committed_artifact_is_where_the_edge_looks() -> None:
    assert artifacts_dir() / "pump-baseline.onnx" == DEFAULT_PUMP_MODEL
    assert DEFAULT_PUMP_MODEL.stat().st_size < 50_000
    info = OnnxModel.load(DEFAULT_PUMP_MODEL).info
    assert (info.kind, info.asset_kind, info.window) == ("anomaly", "pump", 10)
    assert len(info.training_fingerprint) == 64 and info.created_at.endswith("Z")
    assert {"normalisation", "components", "liveness"} <= set(info.extra)
    assert info.metrics["healthy_false_alarm_rate"] < 0.002


def test_committed_artifact_separates_healthy_from_faulty() -> None:
    model = OnnxModel.load(DEFAULT_PUMP_MODEL)
    healthy = np.concatenate([sliding_windows(record(seed, 600), 10, 5) for seed in (31, 32, 33)])
    assert not any(s.is_anomaly for s in model.score_batch(healthy))
    expected_top = {
        FaultKind.BEARING_WEAR: {"accel1_rms", "accel2_rms"},
        FaultKind.CAVITATION: {"accel1_rms", "accel2_rms", "flow_rate", "pressure"},
        FaultKind.VALVE_CLOSURE: {"flow_rate", "pressure", "current"},
        FaultKind.SENSOR_STUCK: {"pressure"},
        FaultKind.SENSOR_DRIFT: {"flow_rate"},
    }
    for kind, channels in expected_top.items():
        scores = model.score_batch(sliding_windows(record(34, 60, FaultSpec(kind)), 10, 5))
        late = [s for s, end in zip(scores, window_ends(60, 10, 5), strict=True) if end >= 50]  # within 45 s of onset
        assert all(s.is_anomaly for s in late), kind
        top = max(late[-1].contributions, key=lambda c: late[-1].contributions[c])
        assert top in channels, (kind, top)


def test_committed_artifact_on_the_demo_fleet() -> None:
    model = OnnxModel.load(DEFAULT_PUMP_MODEL)
    for spec in plan_fleet(20, seed=0, duration_s=60.0):
        simulator = make_simulator(spec)
        series = np.array([simulator.step() for _ in range(60)])
        flagged = [s.is_anomaly for s in model.score_batch(sliding_windows(series, 10, 5))]
        if spec.fault is None:
            assert not any(flagged), spec.device_id
        else:
            assert all(flagged[-3:]), (spec.device_id, str(spec.fault))
