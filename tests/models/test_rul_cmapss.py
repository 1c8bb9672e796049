"""C-MAPSS reading: well-formed files parse, malformed ones are refused with the line at fault."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from firmware_sim.turbofan import TurbofanSimulator
from models.rul.cmapss import COLUMNS, CmapssFormatError, Engine, format_cmapss, parse_cmapss, read_cmapss, rul_targets
from models.rul.features import INFORMATIVE, Normaliser, last_windows, training_windows, window_ending


def simulated(unit: int, cycles: int, seed: int) -> Engine:
    sim = TurbofanSimulator(seed)
    rows = [sim.step() for _ in range(min(cycles, sim.life_cycles))]
    return Engine(unit, np.arange(1, len(rows) + 1, dtype=np.int64), np.asarray(rows, dtype=np.float64))


def test_round_trip_of_simulated_engines(tmp_path: Path) -> None:
    engines = [simulated(u, 40 + 10 * u, seed=u) for u in (1, 2, 3)]
    path = tmp_path / "test_FD.txt"
    path.write_text(format_cmapss(engines))
    back = read_cmapss(path)
    assert [e.unit for e in back] == [1, 2, 3]
    for a, b in zip(engines, back, strict=True):
        assert np.array_equal(a.cycles, b.cycles)
        np.testing.assert_allclose(a.values, b.values, rtol=1e-5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no data rows"),
        ("1 1 0 0\n", f"expected {COLUMNS} columns"),
        ("1 1 " + " ".join(["x"] * (COLUMNS - 2)) + "\n", "not a number"),
        ("1 1 " + " ".join(["nan"] * (COLUMNS - 2)) + "\n", "non-finite"),
        ("1.5 1 " + " ".join(["0"] * (COLUMNS - 2)) + "\n", "positive integers"),
        ("1 2 " + " ".join(["0"] * (COLUMNS - 2)) + "\n", "without gaps"),
    ],
)
def test_malformed_text_is_refused(text: str, message: str) -> None:
    with pytest.raises(CmapssFormatError, match=message):
        parse_cmapss(text)


def test_interleaved_units_are_refused() -> None:
    row = " ".join(["0"] * (COLUMNS - 2))
    with pytest.raises(CmapssFormatError, match="not contiguous"):
        parse_cmapss(f"1 1 {row}\n2 1 {row}\n1 2 {row}\n")


def test_unreadable_file_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(CmapssFormatError, match="cannot read"):
        read_cmapss(tmp_path / "missing.txt")


def test_targets_windows_and_padding() -> None:
    engine = simulated(7, 400, seed=3)
    targets = rul_targets(engine, 125.0)
    assert targets[-1] == 0 and targets.max() == 125.0 and np.all(np.diff(targets) <= 0)
    short = window_ending(engine.values, 5, 30)
    assert short.shape == (30, 24)
    assert np.array_equal(short[:26], np.repeat(engine.values[:1], 26, axis=0))
    assert np.array_equal(short[25:], engine.values[:5])
    x, y = training_windows([engine], 30, 125.0)
    assert x.shape == (engine.length, 30, 24) and y.shape == (engine.length,)
    assert np.array_equal(last_windows([engine], 30)[0], engine.values[-30:])
    z = Normaliser.fit(engine.values).apply(x)
    assert z.shape == (engine.length, 30, len(INFORMATIVE)) and np.all(np.isfinite(z))
