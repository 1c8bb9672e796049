"""The CLI contract: `python -m models cmapss-predict --test FILE --out OUT.csv`, and a reproducible `train-rul`."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from firmware_sim.turbofan import TurbofanSimulator
from models.__main__ import main
from models.rul.cmapss import Engine, format_cmapss

REPO = Path(__file__).resolve().parents[2]


def engines(count: int, seed: int, cut: bool) -> list[Engine]:
    """Simulated FD001-like engines, each cut some cycles before failure when `cut` (as in a test file)."""
    rng = np.random.default_rng(seed)
    out = []
    for unit in range(1, count + 1):
        sim = TurbofanSimulator(seed * 100 + unit)
        observed = int(rng.integers(5, sim.life_cycles - 5)) if cut else sim.life_cycles
        values = np.asarray([sim.step() for _ in range(observed)], dtype=np.float64)
        out.append(Engine(unit, np.arange(1, observed + 1, dtype=np.int64), values))
    return out


def cmapss_predict(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "models", "cmapss-predict", *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)


def test_one_row_per_unit_with_the_contract_header(tmp_path: Path) -> None:
    test_file, out = tmp_path / "test_FD001.txt", tmp_path / "out.csv"
    units = engines(8, seed=3, cut=True)
    units.append(Engine(9, units[0].cycles[:3], units[0].values[:3]))
    test_file.write_text(format_cmapss(units))
    done = cmapss_predict("--test", str(test_file), "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(out.read_text().splitlines()))
    assert rows[0] == ["unit", "rul"]
    assert [int(r[0]) for r in rows[1:]] == list(range(1, 10))  # unit 9 has 3 cycles: shorter than the window
    assert all(0.0 <= float(r[1]) <= 125.0 for r in rows[1:])


def test_band_columns_on_request(tmp_path: Path) -> None:
    test_file, out = tmp_path / "t.txt", tmp_path / "o.csv"
    test_file.write_text(format_cmapss(engines(3, seed=5, cut=True)))
    assert cmapss_predict("--test", str(test_file), "--out", str(out), "--band").returncode == 0
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert len(rows) == 3
    for row in rows:
        assert float(row["rul_lower"]) <= float(row["rul"]) <= float(row["rul_upper"])


@pytest.mark.parametrize(
    "content",
    ["", "1 1 2 3\n", "1 1 " + "a " * 24 + "\n", "not a c-mapss file at all\n"],
)
def test_malformed_input_exits_non_zero_with_a_message(tmp_path: Path, content: str) -> None:
    test_file, out = tmp_path / "bad.txt", tmp_path / "out.csv"
    test_file.write_text(content)
    done = cmapss_predict("--test", str(test_file), "--out", str(out))
    assert done.returncode != 0
    assert "error:" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()


def test_missing_input_or_model_exits_non_zero(tmp_path: Path) -> None:
    test_file = tmp_path / "t.txt"
    test_file.write_text(format_cmapss(engines(1, seed=6, cut=True)))
    missing = cmapss_predict("--test", str(tmp_path / "none.txt"), "--out", str(tmp_path / "o.csv"))
    assert missing.returncode != 0 and "error:" in missing.stderr
    no_model = cmapss_predict("--test", str(test_file), "--out", str(tmp_path / "o.csv"),
                              "--model", str(tmp_path / "none.onnx"))
    assert no_model.returncode != 0 and "error:" in no_model.stderr


def test_training_is_seeded(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    data = tmp_path / "train.txt"
    data.write_text(format_cmapss(engines(6, seed=7, cut=False)))
    small = ["--folds", "2", "--members", "1", "--epochs", "1", "--created-at", "2025-01-01T00:00:00Z"]
    outputs = []
    for name, seed in (("a", "0"), ("b", "0"), ("c", "1")):
        out = tmp_path / f"{name}.onnx"
        assert main(["train-rul", "--data", str(data), "--out", str(out), "--seed", seed, *small]) == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0] != outputs[2]
    done = cmapss_predict("--test", str(data), "--out", str(tmp_path / "p.csv"), "--model", str(tmp_path / "a.onnx"))
    assert done.returncode == 0, done.stderr
