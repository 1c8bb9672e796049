"""How well an anomaly scorer does on simulated pumps: false alarms when healthy, delay to detect a fault.

The scorer is any function from windows [N, W, C] to (scores [N], contributions [N, C]),
so the numpy reference and an exported ONNX artifact are judged by the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from contract.channels import PUMP_CHANNELS
from firmware_sim.faults import FaultKind, FaultSpec
from models.pump_data import record
from models.windows import sliding_windows, window_ends

Array = npt.NDArray[np.float64]
ScoreFn = Callable[[npt.NDArray[np.floating[Any]]], tuple[Array, Array]]

# The standard check of a pump model: 20 healthy pumps x 600 s, and 10 pumps per fault
# kind at severity 1 (onset 15 s, ramp 20 s) for 60 s, scored every 5 samples as an edge agent does.
HEALTHY_SEEDS = range(20)
HEALTHY_DURATION_S = 600
FAULT_SEEDS = range(100, 110)
FAULT_HORIZON_S = 60
EDGE_HOP = 5


@dataclass(frozen=True)
class HealthyReport:
    """False alarms of a scorer on healthy pumps."""

    seeds: int
    duration_s: int
    windows: int
    anomalous: int
    worst_burst: int  # most anomalous windows of one pump within any `burst_s`
    burst_s: int

    @property
    def rate(self) -> float:
        """Fraction of healthy windows flagged anomalous."""
        return self.anomalous / self.windows if self.windows else 0.0


@dataclass(frozen=True)
class DetectionReport:
    """How soon a fault kind is flagged persistently, over several pumps."""

    kind: FaultKind
    runs: int
    delays_s: tuple[float, ...]  # one per detected run: end of the persistent run of windows minus onset
    top_channels: tuple[str, ...]  # per detected run: the channel contributing most while flagged

    @property
    def detected(self) -> int:
        """How many runs were flagged persistently within the horizon."""
        return len(self.delays_s)

    @property
    def worst_delay_s(self) -> float:
        """The longest delay over the detected runs (inf if any run went undetected)."""
        return max(self.delays_s) if self.detected == self.runs and self.runs else float("inf")


def healthy_false_alarms(
    score: ScoreFn, threshold: float, seeds: Sequence[int], duration_s: int, window: int, hop: int, burst_s: int = 120
) -> HealthyReport:
    """Score healthy runs of each seed; count anomalous windows and the worst burst within `burst_s`."""
    total = flagged = worst = 0
    for seed in seeds:
        series = record(seed, duration_s)
        scores, _ = score(sliding_windows(series, window, hop))
        ends = window_ends(len(series), window, hop)[scores > threshold]
        total += len(scores)
        flagged += len(ends)
        worst = max([worst, *(int(np.sum((ends >= end - burst_s) & (ends <= end))) for end in ends)])
    return HealthyReport(len(seeds), duration_s, total, flagged, worst, burst_s)


def fault_detection(
    score: ScoreFn,
    threshold: float,
    fault: FaultSpec,
    seeds: Sequence[int],
    horizon_s: int,
    window: int,
    hop: int,
    persistence: int = 3,
) -> DetectionReport:
    """Run `fault` on each seed for `horizon_s`; a run is detected once `persistence` windows in a row are flagged."""
    delays: list[float] = []
    tops: list[str] = []
    for seed in seeds:
        series = record(seed, horizon_s, fault)
        scores, contributions = score(sliding_windows(series, window, hop))
        ends = window_ends(len(series), window, hop)
        flagged = (scores > threshold) & (ends > fault.onset_s)
        run = 0
        for i, hit in enumerate(flagged):
            run = run + 1 if hit else 0
            if run == persistence:
                delays.append(float(ends[i]) - fault.onset_s)
                top = int(np.argmax(contributions[i - persistence + 1 : i + 1].sum(axis=0)))
                tops.append(PUMP_CHANNELS[top].name)
                break
    return DetectionReport(fault.kind, len(seeds), tuple(delays), tuple(tops))


def standard_check(score: ScoreFn, threshold: float, window: int) -> tuple[HealthyReport, tuple[DetectionReport, ...]]:
    """False alarms on the standard healthy pumps and detection of every fault kind on the standard faulty ones."""
    healthy = healthy_false_alarms(score, threshold, list(HEALTHY_SEEDS), HEALTHY_DURATION_S, window, EDGE_HOP)
    detections = tuple(
        fault_detection(score, threshold, FaultSpec(kind), list(FAULT_SEEDS), FAULT_HORIZON_S, window, EDGE_HOP)
        for kind in FaultKind
    )
    return healthy, detections
