"""A short report of how a pump artifact behaves, scored through the edge runtime exactly as a device would."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.runtime import OnnxModel
from models.evaluation import EDGE_HOP, FAULT_HORIZON_S, Array, DetectionReport, HealthyReport, ScoreFn, standard_check


def onnx_scorer(model: OnnxModel) -> ScoreFn:
    """Adapt a loaded artifact to the scorer signature the evaluation expects."""

    def score(windows: npt.NDArray[np.floating[Any]]) -> tuple[Array, Array]:
        results = model.score_batch(np.asarray(windows, dtype=np.float32))
        scores = np.array([r.score for r in results], dtype=np.float64)
        contributions = np.array([[r.contributions[c] for c in model.info.channels] for r in results])
        return scores, contributions.reshape(len(results), len(model.info.channels))

    return score


def evaluate_artifact(path: Path) -> tuple[OnnxModel, HealthyReport, tuple[DetectionReport, ...]]:
    """Load `path` through the edge runtime and run the standard check on it."""
    model = OnnxModel.load(path)
    healthy, detections = standard_check(onnx_scorer(model), model.info.threshold, model.info.window)
    return model, healthy, detections


def print_summary(path: Path) -> None:
    """Print the artifact's identity, threshold, false alarms and per-fault detection."""
    model, healthy, detections = evaluate_artifact(path)
    info = model.info
    print(f"model {info.id} v{info.version} ({path.stat().st_size} bytes, sha256 {info.sha256[:12]})")
    print(f"threshold {info.threshold:.4f} on windows of {info.window} samples; scored here with hop {EDGE_HOP}")
    print(
        f"healthy: {healthy.anomalous}/{healthy.windows} windows anomalous ({healthy.rate:.3%}) over "
        f"{healthy.seeds} pumps x {healthy.duration_s} s; worst pump: {healthy.worst_burst} in {healthy.burst_s} s"
    )
    print(f"faults (severity 1, onset 15 s, ramp 20 s, {FAULT_HORIZON_S} s runs), delay = 3 anomalous windows in a row")
    for report in detections:
        delays = f"median {np.median(report.delays_s):.0f} s, worst {max(report.delays_s, default=0):.0f} s"
        top = ", ".join(f"{name} x{n}" for name, n in Counter(report.top_channels).most_common(2))
        print(f"  {report.kind.value:<14} detected {report.detected}/{report.runs}; {delays}; top channel {top}")
