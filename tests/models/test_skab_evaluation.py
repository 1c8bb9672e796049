"""SKAB metrics (F1 / FAR / MAR over pooled rows), margin tuning and leave-one-group-out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.evaluation_skab import (
    Confusion,
    ScoredRecording,
    confusion,
    leave_one_group_out,
    total,
    tune_margin,
)
from models.skab_data import SkabFormatError, read_skab, skab_files


def test_confusion_counts_and_rates() -> None:
    counts = confusion([1, 1, 0, 0, 1, 0], [1, 0, 0, 1, 1, 0])
    assert counts == Confusion(tp=2, fp=1, fn=1, tn=2)
    assert counts.f1 == pytest.approx(4 / 6)
    assert counts.far == pytest.approx(1 / 3)
    assert counts.mar == pytest.approx(1 / 3)
    assert Confusion().f1 == Confusion().far == Confusion().mar == 0.0


def test_rows_are_pooled_over_files_not_averaged() -> None:
    pooled = confusion([1, 0], [1, 0]) + confusion([0, 0, 0, 0], [1, 1, 1, 0])
    assert pooled == Confusion(tp=1, fp=0, fn=3, tn=2)
    assert pooled.f1 == pytest.approx(2 / 5)


def test_confusion_refuses_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="predictions"):
        confusion([1, 0], [1])


def recording(group: str, scores: list[float], labels: list[int], calibration_max: float = 1.0) -> ScoredRecording:
    return ScoredRecording(group, np.asarray(scores, dtype=np.float64), calibration_max, np.asarray(labels))


def test_a_threshold_is_the_margin_over_each_files_own_calibration() -> None:
    quiet = recording("a", [0.5, 3.0], [0, 1], calibration_max=1.0)
    loud = recording("a", [5.0, 30.0], [0, 1], calibration_max=10.0)
    assert total([quiet, loud], 2.0) == Confusion(tp=2, fp=0, fn=0, tn=2)


def test_tuning_picks_the_best_f1_and_the_smaller_margin_on_ties() -> None:
    files = [recording("a", [1.2, 1.6, 3.0], [0, 1, 1])]
    assert tune_margin(files, (1.0, 1.5, 2.0)) == 1.5
    assert tune_margin(files, (1.7, 2.0)) == 1.7


def test_leave_one_group_out_scores_each_group_at_the_others_margin() -> None:
    valve = recording("valve1", [1.2, 1.6, 3.0], [0, 1, 1])  # best margin 1.5
    other = recording("other", [2.5, 4.0], [0, 1])  # best margin >= 2.5
    pooled, chosen = leave_one_group_out([valve, other], (1.5, 3.0))
    assert chosen == {"other": 1.5, "valve1": 3.0}
    assert pooled == valve.confusion(3.0) + other.confusion(1.5)


def test_the_reader_finds_files_recursively_and_accepts_files_without_labels(tmp_path: Path) -> None:
    header = "datetime;Accelerometer1RMS;Accelerometer2RMS;Current;Pressure;Temperature;Thermocouple;Voltage;" \
             "Volume Flow RateRMS"
    rows = [f"2020-01-01 00:00:{i:02d};1;2;3;4;5;6;7;{i}" for i in range(5)]
    (tmp_path / "a" / "b").mkdir(parents=True)
    path = tmp_path / "a" / "b" / "x.csv"
    path.write_text("\n".join([header, *rows]) + "\n\n", encoding="utf-8")
    assert skab_files(tmp_path) == [path]
    read = read_skab(path, min_rows=5)
    assert read.anomaly is None and read.values.shape == (5, 8)
    np.testing.assert_array_equal(read.values[:, 7], np.arange(5.0))
    with pytest.raises(SkabFormatError, match="at least 6"):
        read_skab(path, min_rows=6)


@pytest.mark.parametrize(("cell", "message"), [("nan", "finite"), ("", "not a number"), ("1,5", "not a number")])
def test_the_reader_refuses_values_that_are_not_finite_numbers(tmp_path: Path, cell: str, message: str) -> None:
    header = "datetime;Accelerometer1RMS;Accelerometer2RMS;Current;Pressure;Temperature;Thermocouple;Voltage;" \
             "Volume Flow RateRMS;anomaly"
    path = tmp_path / "x.csv"
    path.write_text(f"{header}\n2020-01-01 00:00:00;1;2;3;{cell};5;6;7;8;0\n", encoding="utf-8")
    with pytest.raises(SkabFormatError, match=message):
        read_skab(path, min_rows=1)


def test_the_reader_refuses_a_label_that_is_not_zero_or_one(tmp_path: Path) -> None:
    header = "datetime;Accelerometer1RMS;Accelerometer2RMS;Current;Pressure;Temperature;Thermocouple;Voltage;" \
             "Volume Flow RateRMS;anomaly"
    path = tmp_path / "x.csv"
    path.write_text(f"{header}\n2020-01-01 00:00:00;1;2;3;4;5;6;7;8;2\n", encoding="utf-8")
    with pytest.raises(SkabFormatError, match="expected 0 or 1"):
        read_skab(path, min_rows=1)
