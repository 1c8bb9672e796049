"""`python -m models skab-predict`, end to end as a subprocess, on small synthetic SKAB-format files."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from contract.channels import PUMP_CHANNELS
from firmware_sim.faults import FaultKind, FaultSpec
from models.evaluation_skab import prediction_confusion
from models.pump_data import record

REPO = Path(__file__).resolve().parents[2]
ONSET = 450
START = datetime(2020, 3, 9, 10, 14, 33)


def write_skab(
    path: Path, values: npt.NDArray[np.float64], labels: Sequence[int] | None, columns: Sequence[str] | None = None
) -> list[str]:
    """Write a SKAB-format file (`;`-separated, labels optional); returns its datetimes."""
    names = list(columns) if columns is not None else [c.source_column for c in PUMP_CHANNELS]
    header = ["datetime", *names, *(["anomaly", "changepoint"] if labels is not None else [])]
    stamps = [(START + timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S") for i in range(len(values))]
    lines = [";".join(header)]
    for i, (stamp, row) in enumerate(zip(stamps, values, strict=True)):
        cells = [stamp, *(f"{v:.6g}" for v in row[: len(names)])]
        if labels is not None:
            change = int(i > 0 and labels[i] != labels[i - 1])
            cells += [f"{float(labels[i]):.1f}", f"{float(change):.1f}"]
        lines.append(";".join(cells))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return stamps


def predict(data_dir: Path, out_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "models", "skab-predict", "--data-dir", str(data_dir), "--out-dir", str(out_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )


def read_output(path: Path) -> tuple[list[str], list[str], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = [line.rsplit(",", 2) for line in lines[1:]]
    scores = np.array([float(r[1]) for r in rows])
    return lines[:1], [r[0] for r in rows], scores, np.array([int(r[2]) for r in rows])


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, list[str]]]:
    """A labelled valve fault in a sub-folder and an unlabelled healthy run, scored once."""
    data = tmp_path_factory.mktemp("skab")
    out = tmp_path_factory.mktemp("out")
    faulty = record(1, 600, FaultSpec(FaultKind.VALVE_CLOSURE, onset_s=ONSET, ramp_s=10))
    labels = [int(i >= ONSET) for i in range(600)]
    stamps = {
        "valve/1.csv": write_skab(data / "valve" / "1.csv", faulty, labels),
        "anomaly-free/free.csv": write_skab(data / "anomaly-free" / "free.csv", record(5, 520), None),
    }
    result = predict(data, out)
    assert result.returncode == 0, result.stderr
    return data, out, stamps


def test_every_input_gets_an_output_with_one_row_per_input_row_in_order(
    scored: tuple[Path, Path, dict[str, list[str]]],
) -> None:
    _, out, stamps = scored
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(stamps)
    for name, expected in stamps.items():
        header, datetimes, scores, anomaly = read_output(out / name)
        assert header == ["datetime,score,anomaly"]
        assert datetimes == expected
        assert np.all(np.isfinite(scores)) and np.all(scores >= 0)
        assert set(np.unique(anomaly)) <= {0, 1}


def test_the_fault_is_flagged_and_the_healthy_run_is_quiet(scored: tuple[Path, Path, dict[str, list[str]]]) -> None:
    data, out, _ = scored
    _, _, _, faulty = read_output(out / "valve" / "1.csv")
    _, _, _, healthy = read_output(out / "anomaly-free" / "free.csv")
    assert faulty[:ONSET].mean() < 0.05 and faulty[ONSET + 20 :].mean() > 0.9
    assert healthy.mean() < 0.05
    measured = prediction_confusion(data, out)
    assert measured.tp + measured.fn == 150 and measured.f1 > 0.9


def test_a_rerun_writes_the_same_bytes(scored: tuple[Path, Path, dict[str, list[str]]], tmp_path: Path) -> None:
    data, out, stamps = scored
    assert predict(data, tmp_path).returncode == 0
    for name in stamps:
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes()


def _missing_column(path: Path) -> None:
    write_skab(path, record(1, 420), None, [c.source_column for c in PUMP_CHANNELS][:-1])


def _not_a_number(path: Path) -> None:
    write_skab(path, record(1, 420), None)
    lines = path.read_text(encoding="utf-8").splitlines()
    fields = lines[200].split(";")
    fields[3] = "abc"
    lines[200] = ";".join(fields)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _too_short(path: Path) -> None:
    write_skab(path, record(1, 399), [0] * 399)


@pytest.mark.parametrize(
    ("make", "message"),
    [(_missing_column, "missing column"), (_not_a_number, "not a number"), (_too_short, "at least 400")],
)
def test_a_malformed_file_is_a_clear_error_and_nothing_is_written(
    make: Callable[[Path], None], message: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    write_skab(data / "good.csv", record(3, 420), None)
    make(data / "bad" / "bad.csv")
    out = tmp_path / "out"
    result = predict(data, out)
    assert result.returncode == 2
    assert message in result.stderr and "bad.csv" in result.stderr
    assert not out.exists() or not any(out.rglob("*.csv"))


def test_an_empty_or_missing_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for data in (tmp_path / "empty", tmp_path / "nowhere"):
        result = predict(data, tmp_path / "out")
        assert result.returncode == 2
        assert "skab-predict:" in result.stderr


def test_an_out_dir_inside_the_data_dir_is_not_read_as_input(tmp_path: Path) -> None:
    stamps = write_skab(tmp_path / "run.csv", record(5, 420), [0] * 420)
    for _ in range(2):  # the second run finds the first run's output under DIR
        result = predict(tmp_path, tmp_path / "out")
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").rglob("*.csv")) == ["run.csv"]
    assert read_output(tmp_path / "out" / "run.csv")[1] == stamps
