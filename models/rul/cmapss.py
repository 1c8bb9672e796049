"""Reading C-MAPSS files: `unit cycle setting1 setting2 setting3 s1 ... s21`, space-separated.

Malformed input is refused with a `CmapssFormatError` that says where and why, because
the files arrive from outside (a maintainer's held-back test set, an operator's export)
and a silently misread column would yield plausible-looking but wrong predictions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from contract.channels import TURBOFAN_CHANNELS

COLUMNS = 2 + len(TURBOFAN_CHANNELS)  # unit, cycle, then the 3 settings and 21 sensors

Array = npt.NDArray[np.float64]


class CmapssFormatError(ValueError):
    """The file is not a well-formed C-MAPSS table."""


@dataclass(frozen=True)
class Engine:
    """One unit's record: its cycles (1, 2, ...) and the samples [T, 24] in `TURBOFAN_CHANNELS` order."""

    unit: int
    cycles: npt.NDArray[np.int64]
    values: Array

    @property
    def length(self) -> int:
        return int(self.cycles.shape[0])


def read_cmapss(path: Path | str) -> list[Engine]:
    """The engines of a C-MAPSS file, in the order their units first appear."""
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise CmapssFormatError(f"{path}: cannot read a C-MAPSS text file ({exc})") from exc
    return parse_cmapss(text, str(path))


def parse_cmapss(text: str, source: str = "<text>") -> list[Engine]:
    """Parse C-MAPSS text; `CmapssFormatError` names the first offending line."""
    rows: list[list[float]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue  # blank lines (a trailing newline, an editor's extra line) carry nothing
        rows.append(_parse_row(fields, source, number))
    if not rows:
        raise CmapssFormatError(f"{source}: no data rows")
    table = np.asarray(rows, dtype=np.float64)
    return _split_units(table, source)


def _parse_row(fields: list[str], source: str, number: int) -> list[float]:
    if len(fields) != COLUMNS:
        raise CmapssFormatError(f"{source}:{number}: expected {COLUMNS} columns, found {len(fields)}")
    try:
        row = [float(f) for f in fields]
    except ValueError as exc:
        raise CmapssFormatError(f"{source}:{number}: not a number ({exc})") from None
    if not all(math.isfinite(v) for v in row):
        raise CmapssFormatError(f"{source}:{number}: non-finite value")
    if not (row[0].is_integer() and row[1].is_integer() and row[0] >= 1 and row[1] >= 1):
        raise CmapssFormatError(f"{source}:{number}: unit and cycle must be positive integers")
    return row


def _split_units(table: Array, source: str) -> list[Engine]:
    units = table[:, 0].astype(np.int64)
    engines: list[Engine] = []
    order = list(dict.fromkeys(units.tolist()))
    for unit in order:
        rows = np.flatnonzero(units == unit)
        # A unit's rows must be one contiguous block: interleaved units mean a corrupted or merged file.
        if rows[-1] - rows[0] + 1 != rows.shape[0]:
            raise CmapssFormatError(f"{source}: rows of unit {unit} are not contiguous")
        cycles = table[rows, 1].astype(np.int64)
        if not np.array_equal(cycles, np.arange(1, cycles.shape[0] + 1)):
            raise CmapssFormatError(f"{source}: unit {unit} cycles must run 1, 2, 3, ... without gaps")
        engines.append(Engine(unit=int(unit), cycles=cycles, values=np.ascontiguousarray(table[rows, 2:])))
    return engines


def rul_targets(engine: Engine, clip: float) -> Array:
    """A run-to-failure engine's RUL at each cycle (0 at its last), clipped at `clip`."""
    remaining = (engine.length - engine.cycles).astype(np.float64)
    return np.minimum(remaining, clip)


def stack_values(engines: list[Engine]) -> npt.NDArray[np.floating[Any]]:
    """All samples of `engines` as one [sum T, 24] array (for normalisation statistics)."""
    return np.concatenate([e.values for e in engines])


def format_cmapss(engines: list[Engine]) -> str:
    """C-MAPSS text for `engines` (the inverse of `parse_cmapss`, up to float formatting)."""
    lines = []
    for e in engines:
        for cycle, row in zip(e.cycles.tolist(), e.values.tolist(), strict=True):
            lines.append(" ".join([str(e.unit), str(cycle), *(f"{v:.6g}" for v in row)]))
    return "\n".join(lines) + "\n"
