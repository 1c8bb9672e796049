"""The baseline pump anomaly model: PCA fitted on simulated healthy pumps, exported as an artifact.

Steps: record healthy units (each with its own spread, regimes and wear), fit the PCA
detector on their windows, set the threshold on *other* healthy units, measure false
alarms and fault detection, and write it all into the artifact.

The threshold is a margin above the worst window of nearly every healthy unit (a high
quantile, over units, of each unit's highest score in its run), not a quantile over
pooled windows: what separates a healthy window from an anomalous one is mostly how
this unit differs from the fleet, so the rare unit at the edge of the manufacturing
spread, not the rare window, is what must not alarm.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from contract.channels import PUMP_CHANNELS
from models.anomaly.pca import PcaDetector, fit_pca
from models.evaluation import DetectionReport, HealthyReport, standard_check
from models.export import ArtifactInfo, export_pca, fingerprint
from models.pump_data import record, training_seeds
from models.windows import sliding_windows

MODEL_ID = "pump-pca-baseline"
MODEL_VERSION = "1.0.0"


@dataclass(frozen=True)
class BaselineConfig:
    """Everything that decides the trained model; the same config gives the same bytes."""

    seed: int = 0
    units: int = 64  # healthy pumps to fit on: unit-to-unit spread matters more than run length
    calibration_units: int = 128  # further healthy pumps to set the threshold on
    duration_s: int = 1800
    window: int = 10
    hop: int = 2
    components: int = 4
    quantile: float = 0.99  # of the calibration units' worst scores
    margin: float = 1.6
    evaluate: bool = True  # measure false alarms and detection delays into the metrics


@dataclass(frozen=True)
class TrainedBaseline:
    """The result of `train_baseline`: the detector, its threshold, the artifact bytes and the evaluation."""

    detector: PcaDetector
    threshold: float
    artifact: bytes
    healthy: HealthyReport | None
    detections: tuple[DetectionReport, ...]


def _ignore(_: str) -> None:
    pass


def healthy_windows(seeds: list[int], config: BaselineConfig) -> npt.NDArray[np.float64]:
    """Windows [N, W, C] of healthy runs of the pumps `seeds`."""
    return np.concatenate([sliding_windows(record(s, config.duration_s), config.window, config.hop) for s in seeds])


def calibrate_threshold(detector: PcaDetector, seeds: list[int], config: BaselineConfig) -> float:
    """A margin above the worst healthy window of all but the rarest units among `seeds`."""
    worst = [float(detector.score(healthy_windows([seed], config))[0].max()) for seed in seeds]
    return float(np.quantile(worst, config.quantile)) * config.margin


def train_baseline(
    config: BaselineConfig, created_at: str, progress: Callable[[str], None] = _ignore
) -> TrainedBaseline:
    """Fit, calibrate, evaluate and export the baseline; `created_at` is written as is into the metadata."""
    progress(f"simulating {config.units} healthy pumps x {config.duration_s} s for training ...")
    train = healthy_windows(training_seeds(config.seed, config.units), config)
    detector = fit_pca(train, config.components)
    progress(f"fitted PCA on {len(train)} windows: {config.components} components, T2 weight {detector.t2_weight:.4f}")
    calibration_seeds = training_seeds(config.seed, config.calibration_units, offset=5_000)
    threshold = calibrate_threshold(detector, calibration_seeds, config)
    progress(
        f"threshold {threshold:.4f} = {config.quantile} quantile of the worst window of each of "
        f"{config.calibration_units} other healthy pumps x {config.margin}"
    )
    healthy, detections = _evaluate(detector, threshold, config, progress) if config.evaluate else (None, ())
    info = ArtifactInfo(
        id=MODEL_ID,
        version=MODEL_VERSION,
        asset_kind="pump",
        channels=PUMP_CHANNELS,
        window=config.window,
        threshold=threshold,
        created_at=created_at,
        training_fingerprint=fingerprint(train),
        metrics=_metrics(healthy, detections),
    )
    training = {"data": "firmware_sim.pump healthy units", **asdict(config)}
    return TrainedBaseline(detector, threshold, export_pca(detector, info, {"training": training}), healthy, detections)


def _evaluate(
    detector: PcaDetector, threshold: float, config: BaselineConfig, progress: Callable[[str], None]
) -> tuple[HealthyReport, tuple[DetectionReport, ...]]:
    healthy, detections = standard_check(detector.score, threshold, config.window)
    progress(f"healthy: {healthy.anomalous}/{healthy.windows} windows anomalous ({healthy.rate:.3%})")
    for report in detections:
        progress(f"{report.kind.value}: detected {report.detected}/{report.runs}, delays {list(report.delays_s)}")
    return healthy, detections


def _metrics(healthy: HealthyReport | None, detections: tuple[DetectionReport, ...]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    if healthy is not None:
        metrics["healthy_false_alarm_rate"] = healthy.rate
    for report in detections:
        metrics[f"detected_fraction_{report.kind.value}"] = report.detected / report.runs
        if report.detected == report.runs:
            metrics[f"worst_delay_s_{report.kind.value}"] = report.worst_delay_s
    return metrics
