"""The PCA detector's numpy reference: what the score is made of."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from firmware_sim.faults import FaultKind, FaultSpec
from models.anomaly.pca import DEFAULT_LIVENESS_WEIGHT, PcaDetector, fit_pca
from models.pump_data import record
from models.windows import sliding_windows, window_ends

Array = npt.NDArray[np.float64]


@pytest.fixture(scope="module")
def healthy() -> Array:
    return np.concatenate([sliding_windows(record(seed, 900), 10, 2) for seed in range(500, 506)])


@pytest.fixture(scope="module")
def detector(healthy: Array) -> PcaDetector:
    return fit_pca(healthy, components=4)


def test_fit_shapes_and_orthonormal_axes(detector: PcaDetector) -> None:
    assert detector.channels == 8
    assert detector.components.shape == (8, 4)
    assert np.allclose(detector.components.T @ detector.components, np.eye(4))
    assert np.all(np.diff(detector.variances) <= 0)
    assert detector.t2_weight > 0
    projector = detector.residual_projector
    assert np.allclose(projector @ projector, projector)  # a projection


def test_contributions_add_up_to_the_q_part(detector: PcaDetector, healthy: Array) -> None:
    scores, contributions = detector.score(healthy[:500])
    z = (healthy[:500].mean(axis=1) - detector.mean) / detector.scale
    residual = z @ detector.residual_projector
    assert np.allclose(contributions.sum(axis=1), (residual**2).sum(axis=1))  # no stalled channel here
    assert np.all(scores >= contributions.sum(axis=1))  # the rest is the T² term


def test_stalled_channel_adds_the_liveness_weight(detector: PcaDetector, healthy: Array) -> None:
    window = healthy[100].copy()
    baseline, _ = detector.score(window[np.newaxis])
    window[:, 3] = window[0, 3]  # pressure frozen, at a perfectly plausible value
    stalled, contributions = detector.score(window[np.newaxis])
    assert stalled[0] - baseline[0] == pytest.approx(DEFAULT_LIVENESS_WEIGHT, rel=0.01)
    assert int(np.argmax(contributions[0])) == 3


def test_healthy_and_faulty_separate(detector: PcaDetector, healthy: Array) -> None:
    healthy_scores, _ = detector.score(healthy)
    for kind in FaultKind:
        series = record(600, 60, FaultSpec(kind))
        scores, _ = detector.score(sliding_windows(series, 10, 5))
        late = scores[window_ends(60, 10, 5) >= 45]  # at full severity
        assert late.min() > healthy_scores.max(), kind


def test_fit_refuses_bad_shapes(healthy: Array) -> None:
    with pytest.raises(ValueError, match="components"):
        fit_pca(healthy, components=8)
    with pytest.raises(ValueError, match="windows"):
        fit_pca(healthy[:, 0, :], components=2)


def test_windows() -> None:
    series = np.arange(30, dtype=np.float64).reshape(15, 2)
    windows = sliding_windows(series, 10, 5)
    assert windows.shape == (2, 10, 2)
    assert windows[1, 0, 0] == series[5, 0]
    assert window_ends(15, 10, 5).tolist() == [10, 15]
    assert sliding_windows(series[:5], 10, 5).shape == (0, 10, 2)
