"""The calibrated Mahalanobis detector: numpy reference, ONNX artifact through the edge runtime, threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from contract.channels import PUMP_CHANNELS
from edge.runtime import OnnxModel
from firmware_sim.faults import FaultKind, FaultSpec
from models.anomaly.calibrated_detector import DetectorConfig, fit_detector, fit_reference, used_channels
from models.anomaly.mahalanobis import fit_windowed_mahalanobis
from models.anomaly.trailing import trailing_windows
from models.pump_data import record

Array = npt.NDArray[np.float64]
NAMES = [c.name for c in PUMP_CHANNELS]
UNITS = [c.unit for c in PUMP_CHANNELS]
CALIBRATION = 400


@pytest.fixture(scope="module")
def faulty() -> Array:
    """A pump that runs normally for 450 s, then its valve closes."""
    return record(1, 600, FaultSpec(FaultKind.VALVE_CLOSURE, onset_s=450, ramp_s=10))


def load(artifact: bytes, tmp_path: Path) -> OnnxModel:
    path = tmp_path / "detector.onnx"
    path.write_bytes(artifact)
    return OnnxModel.load(path)


def test_trailing_windows_end_at_each_row_and_repeat_the_first_row_before_the_start() -> None:
    series = np.arange(12.0).reshape(6, 2)
    windows = trailing_windows(series, 3)
    assert windows.shape == (6, 3, 2)
    np.testing.assert_array_equal(windows[0], [[0, 1], [0, 1], [0, 1]])
    np.testing.assert_array_equal(windows[1], [[0, 1], [0, 1], [2, 3]])
    np.testing.assert_array_equal(windows[5], series[3:6])


def test_contributions_sum_to_the_score_and_slow_channels_give_none(faulty: Array) -> None:
    fitted = fit_reference(faulty[:CALIBRATION], UNITS, DetectorConfig())
    scores, contributions = fitted.detector.score(trailing_windows(faulty, fitted.detector.window))
    np.testing.assert_allclose(contributions.sum(axis=1), scores, rtol=1e-9)
    thermal = [i for i, use in enumerate(used_channels(UNITS, DetectorConfig())) if not use]
    assert thermal == [i for i, unit in enumerate(UNITS) if unit == "degC"] and thermal
    assert np.all(contributions[:, thermal] == 0.0)


def test_threshold_is_the_margin_over_the_calibrations_highest_score(faulty: Array) -> None:
    config = DetectorConfig(margin=1.5)
    fitted = fit_reference(faulty[:CALIBRATION], UNITS, config)
    assert fitted.calibration_scores.shape == (CALIBRATION,)
    assert fitted.threshold == pytest.approx(1.5 * fitted.calibration_scores.max())
    assert not np.any(fitted.calibration_scores > fitted.threshold)


def test_a_closing_valve_is_flagged_and_normal_running_is_not(faulty: Array) -> None:
    fitted = fit_reference(faulty[:CALIBRATION], UNITS, DetectorConfig())
    scores, contributions = fitted.detector.score(trailing_windows(faulty, fitted.detector.window))
    flagged = scores > fitted.threshold
    assert flagged[CALIBRATION:450].mean() < 0.05
    assert flagged[470:].mean() > 0.9
    top = NAMES[int(np.argmax(contributions[470:].sum(axis=0)))]
    assert top in {"flow_rate", "pressure", "current", "accel1_rms", "accel2_rms"}


def test_the_artifact_scores_like_the_reference_through_the_edge_runtime(faulty: Array, tmp_path: Path) -> None:
    fitted = fit_detector(faulty[:CALIBRATION], NAMES, UNITS, created_at="2026-01-01T00:00:00Z")
    model = load(fitted.artifact, tmp_path)
    model.check_inputs(tuple(NAMES), tuple(UNITS))
    assert model.info.window == fitted.detector.window
    assert model.info.threshold == pytest.approx(fitted.threshold)
    windows = trailing_windows(faulty, model.info.window)
    reference, reference_contributions = fitted.detector.score(windows)
    results = model.score_batch(windows)
    got = np.array([r.score for r in results])
    np.testing.assert_allclose(got, reference, rtol=1e-4, atol=1e-3)
    got_contributions = np.array([[r.contributions[n] for n in NAMES] for r in results])
    np.testing.assert_allclose(got_contributions, reference_contributions, rtol=1e-4, atol=1e-3)
    single = model.score(windows[-1])
    assert single.is_anomaly == (single.score > fitted.threshold)


def test_the_artifact_is_small_and_the_same_bytes_every_time(faulty: Array) -> None:
    first = fit_detector(faulty[:CALIBRATION], NAMES, UNITS, created_at="2026-01-01T00:00:00Z")
    again = fit_detector(faulty[:CALIBRATION], NAMES, UNITS, created_at="2026-01-01T00:00:00Z")
    other = fit_detector(faulty[1:CALIBRATION + 1], NAMES, UNITS, created_at="2026-01-01T00:00:00Z")
    assert first.artifact == again.artifact != other.artifact
    assert len(first.artifact) <= 200_000


def test_a_channel_flat_in_calibration_still_gets_a_finite_scale() -> None:
    calibration = np.random.default_rng(0).normal(size=(100, 3))
    calibration[:, 1] = 5.0
    detector = fit_windowed_mahalanobis(calibration, [True, True, True], 3, 2, 0.1)
    scores, _ = detector.score(trailing_windows(calibration, detector.window))
    assert np.all(np.isfinite(scores)) and detector.scale[1] > 0


@pytest.mark.parametrize(
    ("rows", "names", "units", "message"),
    [
        (10, NAMES, UNITS, "need calibration"),
        (CALIBRATION, NAMES[:-1], UNITS, "channel names"),
        (CALIBRATION, NAMES[:-1], UNITS[:-1], "need calibration"),
    ],
)
def test_fit_detector_refuses_a_calibration_it_cannot_use(
    faulty: Array, rows: int, names: list[str], units: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        fit_detector(faulty[:rows], names, units)


def test_fit_detector_refuses_non_finite_values(faulty: Array) -> None:
    calibration = faulty[:CALIBRATION].copy()
    calibration[7, 2] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        fit_detector(calibration, NAMES, UNITS)
