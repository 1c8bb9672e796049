"""SKAB outlier detection, scored the benchmark's way, and the honest way to choose settings.

Protocol: each labelled recording is fitted on its first 400 rows; the remaining rows
are a binary classification, and F1, FAR (false positives / actual negatives) and MAR
(false negatives / actual positives) are computed over all scored rows of all files
together. A recording counts as labelled when it has an `anomaly` column with at least
one 1; the anomaly-free run is reported apart (its false-alarm rate only).

The detector's threshold is `margin` x its calibration's highest score, so the margin
is the one setting tuned on labels. `leave_one_group_out` tunes it on one file group
(valve1) and scores the other (other), and back: settings that only fit one group show.

`python -m models.evaluation_skab --data-dir DIR` prints the report on the numpy
reference; `--predictions OUT` scores the CSVs `skab-predict` wrote instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from contract.channels import PUMP_CHANNELS
from models.anomaly.calibrated_detector import DetectorConfig, fit_reference
from models.anomaly.trailing import trailing_windows
from models.skab_data import CALIBRATION_ROWS, SkabRecording, read_skab, skab_files

Array = npt.NDArray[np.float64]
MARGINS: tuple[float, ...] = (1.0, 1.1, 1.25, 1.4, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0)


@dataclass(frozen=True)
class Confusion:
    """Counts of one binary classification; the metrics are properties so sums stay exact."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    @property
    def f1(self) -> float:
        """2 TP / (2 TP + FP + FN); 0 when nothing is positive on either side."""
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 0.0

    @property
    def far(self) -> float:
        """False alarm rate: FP / (FP + TN)."""
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0

    @property
    def mar(self) -> float:
        """Missed alarm rate: FN / (FN + TP)."""
        return self.fn / (self.fn + self.tp) if self.fn + self.tp else 0.0

    def line(self) -> str:
        """F1 / FAR / MAR as one readable line."""
        counts = f"TP {self.tp} FP {self.fp} FN {self.fn} TN {self.tn}"
        return f"F1 {self.f1:.3f}  FAR {self.far:.1%}  MAR {self.mar:.1%}  ({counts})"


def confusion(predicted: npt.ArrayLike, actual: npt.ArrayLike) -> Confusion:
    """The confusion counts of 0/1 predictions against 0/1 labels of the same length."""
    p = np.asarray(predicted).astype(bool)
    a = np.asarray(actual).astype(bool)
    if p.shape != a.shape:
        raise ValueError(f"{p.shape[0] if p.ndim else 0} predictions for {a.shape[0] if a.ndim else 0} labels")
    return Confusion(int(np.sum(p & a)), int(np.sum(p & ~a)), int(np.sum(~p & a)), int(np.sum(~p & ~a)))


@dataclass(frozen=True)
class ScoredRecording:
    """One recording scored by a detector fitted on its calibration: what any margin needs."""

    group: str
    scores: Array  # the scored rows' scores (after the calibration)
    calibration_max: float
    labels: npt.NDArray[np.int64]  # the scored rows' labels (all 0 for an unlabelled file)

    def confusion(self, margin: float) -> Confusion:
        """Counts at threshold margin x the calibration's highest score."""
        return confusion(self.scores > margin * self.calibration_max, self.labels)


def is_labelled(recording: SkabRecording) -> bool:
    """Whether the recording takes part in F1 (it has an anomaly column with an anomaly in it)."""
    return recording.anomaly is not None and bool(recording.anomaly.any())


def score_recording(recording: SkabRecording, group: str, config: DetectorConfig) -> ScoredRecording:
    """Fit on the first 400 rows and score every later row with the numpy reference."""
    units = [c.unit for c in PUMP_CHANNELS]
    fitted = fit_reference(recording.values[:CALIBRATION_ROWS], units, config)
    scores, _ = fitted.detector.score(trailing_windows(recording.values, fitted.detector.window))
    labels = recording.anomaly if recording.anomaly is not None else np.zeros(len(scores), dtype=np.int64)
    calibration_max = float(fitted.calibration_scores.max())
    return ScoredRecording(group, scores[CALIBRATION_ROWS:], calibration_max, labels[CALIBRATION_ROWS:])


def total(scored: Iterable[ScoredRecording], margin: float) -> Confusion:
    """The pooled confusion over recordings at one margin."""
    result = Confusion()
    for recording in scored:
        result = result + recording.confusion(margin)
    return result


def tune_margin(scored: Sequence[ScoredRecording], margins: Sequence[float] = MARGINS) -> float:
    """The margin of the best pooled F1 over `scored` (the smallest such, on ties)."""
    return max(margins, key=lambda m: (total(scored, m).f1, -m))


def leave_one_group_out(
    scored: Sequence[ScoredRecording], margins: Sequence[float] = MARGINS
) -> tuple[Confusion, dict[str, float]]:
    """Score each group at the margin tuned on the others; the pooled confusion and each group's margin."""
    chosen: dict[str, float] = {}
    result = Confusion()
    for group in sorted({r.group for r in scored}):
        held_out = [r for r in scored if r.group == group]
        chosen[group] = tune_margin([r for r in scored if r.group != group], margins)
        result = result + total(held_out, chosen[group])
    return result, chosen


def load_scored(data_dir: Path, config: DetectorConfig) -> tuple[list[ScoredRecording], list[ScoredRecording]]:
    """Labelled and unlabelled recordings under `data_dir`, each scored; the group is the parent folder."""
    labelled: list[ScoredRecording] = []
    unlabelled: list[ScoredRecording] = []
    for path in skab_files(data_dir):
        recording = read_skab(path)
        group = path.parent.relative_to(data_dir).as_posix()
        (labelled if is_labelled(recording) else unlabelled).append(score_recording(recording, group, config))
    return labelled, unlabelled


def prediction_confusion(data_dir: Path, predictions_dir: Path) -> Confusion:
    """F1 counts of the `anomaly` column `skab-predict` wrote, against the labels, over the scored rows."""
    result = Confusion()
    for path in skab_files(data_dir):
        recording = read_skab(path)
        if not is_labelled(recording) or recording.anomaly is None:
            continue
        predicted = _predicted_column(predictions_dir / path.relative_to(data_dir))
        result = result + confusion(predicted[CALIBRATION_ROWS:], recording.anomaly[CALIBRATION_ROWS:])
    return result


def _predicted_column(path: Path) -> npt.NDArray[np.int64]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0] != "datetime,score,anomaly":
        raise ValueError(f"{path}: not a skab-predict output")
    return np.array([int(line.rsplit(",", 1)[1]) for line in lines[1:]], dtype=np.int64)


def report(data_dir: Path, config: DetectorConfig) -> list[str]:
    """The report's lines: tuned-on-all, cross-group and per-group numbers at the configured margin."""
    labelled, unlabelled = load_scored(data_dir, config)
    best = tune_margin(labelled)
    cross, chosen = leave_one_group_out(labelled)
    lines = [
        f"{len(labelled)} labelled recordings, {len(unlabelled)} unlabelled; {config}",
        f"configured margin {config.margin}: {total(labelled, config.margin).line()}",
        f"margin tuned on all ({best}): {total(labelled, best).line()}",
        f"leave-one-group-out (each group at the margin tuned on the others, {chosen}): {cross.line()}",
    ]
    for group in sorted({r.group for r in labelled}):
        members = [r for r in labelled if r.group == group]
        lines.append(f"  {group} at {config.margin}: {total(members, config.margin).line()}")
        lines.append(f"  {group} held out, at {chosen[group]}: {total(members, chosen[group]).line()}")
    if unlabelled:
        lines.append(f"unlabelled false-alarm rate at {config.margin}: {total(unlabelled, config.margin).far:.2%}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m models.evaluation_skab`: print the report, or score skab-predict's output."""
    parser = argparse.ArgumentParser(prog="python -m models.evaluation_skab", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="SKAB recordings, one folder per group")
    parser.add_argument("--predictions", type=Path, default=None, help="skab-predict's --out-dir, to score instead")
    parser.add_argument("--feature-window", type=int, default=DetectorConfig.feature_window)
    parser.add_argument("--smoothing", type=int, default=DetectorConfig.smoothing)
    parser.add_argument("--shrinkage", type=float, default=DetectorConfig.shrinkage)
    parser.add_argument("--margin", type=float, default=DetectorConfig.margin)
    args = parser.parse_args(argv)
    if args.predictions is not None:
        print(f"skab-predict output: {prediction_confusion(args.data_dir, args.predictions).line()}")
        return 0
    config = DetectorConfig(args.feature_window, args.smoothing, args.shrinkage, args.margin)
    for line in report(args.data_dir, config):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
