"""Fit an asset's anomaly detector on its own calibration, set its threshold, export the artifact.

This is the function the cloud calls with the calibration a device uploads (its first
minutes of normal operation, [T, C] in the channels' units), and the one
`python -m models skab-predict` calls per recording. The result is one ONNX artifact
that `edge.runtime.OnnxModel` loads; the decision is the runtime's own
`score > threshold`, and the window holds all the history the score needs, so the
edge and skab-predict take exactly the same path.

The threshold is `margin` x the highest score of the calibration itself (each row
scored through its trailing window): per asset, from normal data only, no label.
The settings below were chosen on the SKAB dev files with leave-one-group-out
validation (valve1 vs other); see `models.evaluation_skab` and docs/models.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from contract.channels import Channel
from models.anomaly.mahalanobis import WindowedMahalanobis, fit_windowed_mahalanobis
from models.anomaly.mahalanobis_export import export_windowed_mahalanobis
from models.anomaly.trailing import trailing_windows
from models.export import ArtifactInfo, fingerprint

Array = npt.NDArray[np.float64]

MODEL_ID = "pump-calibrated-mahalanobis"
MODEL_VERSION = "1.0.0"
MIN_CALIBRATION_ROWS = 50  # below this the covariance of 8 channels is guesswork
_MIN_THRESHOLD = 1e-6  # a perfectly flat calibration scores 0; a threshold of 0 would flag its own noise


@dataclass(frozen=True)
class DetectorConfig:
    """The hyper-parameters; the same config and calibration give the same bytes."""

    feature_window: int = 5  # F: samples per rolling mean
    smoothing: int = 5  # S: rolling means averaged into one score (window = F + S - 1)
    shrinkage: float = 0.1  # of the covariance toward a scaled identity
    margin: float = 1.25  # threshold = margin x the highest calibration score
    slow_units: tuple[str, ...] = ("degC",)  # thermal states drift through a run whatever the pump does


@dataclass(frozen=True)
class FittedDetector:
    """A fitted detector, its threshold, the calibration's own scores and (from `fit_detector`) the artifact."""

    detector: WindowedMahalanobis
    threshold: float
    calibration_scores: Array
    artifact: bytes = b""


def used_channels(units: Sequence[str], config: DetectorConfig) -> list[bool]:
    """Which channels score: all but those in a slow (thermal) unit."""
    return [unit not in config.slow_units for unit in units]


def fit_reference(
    calibration: npt.NDArray[np.floating[Any]], units: Sequence[str], config: DetectorConfig
) -> FittedDetector:
    """Fit the numpy detector and its threshold (no ONNX); what evaluation sweeps use."""
    x = np.asarray(calibration, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(units) or x.shape[0] < MIN_CALIBRATION_ROWS:
        raise ValueError(f"need calibration [T>={MIN_CALIBRATION_ROWS}, {len(units)}], got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("calibration holds non-finite values")
    used = used_channels(units, config)
    detector = fit_windowed_mahalanobis(x, used, config.feature_window, config.smoothing, config.shrinkage)
    scores, _ = detector.score(trailing_windows(x, detector.window))
    threshold = max(config.margin * float(scores.max()), _MIN_THRESHOLD)
    return FittedDetector(detector, threshold, scores)


def fit_detector(
    calibration: npt.NDArray[np.floating[Any]],
    channels: Sequence[str],
    units: Sequence[str],
    config: DetectorConfig | None = None,
    *,
    created_at: str = "",
    asset_kind: str = "pump",
    model_id: str = MODEL_ID,
    version: str = MODEL_VERSION,
) -> FittedDetector:
    """Fit on an asset's calibration [T, C] and export; `.artifact` is the ONNX file's bytes."""
    config = config or DetectorConfig()
    if len(channels) != len(units):
        raise ValueError(f"{len(channels)} channel names but {len(units)} units")
    fitted = fit_reference(calibration, units, config)
    info = ArtifactInfo(
        id=model_id,
        version=version,
        asset_kind=asset_kind,
        channels=tuple(Channel(name, unit, name) for name, unit in zip(channels, units, strict=True)),
        window=fitted.detector.window,
        threshold=fitted.threshold,
        created_at=created_at,
        training_fingerprint=fingerprint(np.asarray(calibration, dtype=np.float64)),
        metrics={"calibration_max_score": float(fitted.calibration_scores.max())},
    )
    extra = {
        "config": {**asdict(config), "slow_units": list(config.slow_units)},
        "used_channels": [name for name, use in zip(channels, used_channels(units, config), strict=True) if use],
        "calibration_rows": int(np.asarray(calibration).shape[0]),
    }
    artifact = export_windowed_mahalanobis(fitted.detector, info, extra)
    return FittedDetector(fitted.detector, fitted.threshold, fitted.calibration_scores, artifact)
