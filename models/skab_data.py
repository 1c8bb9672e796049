"""Reading SKAB recordings: `;`-separated CSV, a datetime column, the eight pump channels, optional labels.

The channel columns are found by the `source_column` of `PUMP_CHANNELS`, so the values
come out in the platform's channel order whatever the file's column order. The
`anomaly` column is optional (the anomaly-free recording has none); anything else
malformed is a `SkabFormatError` naming the file and line, never a silent guess.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from contract.channels import PUMP_CHANNELS, Channel

DATETIME_COLUMN = "datetime"
ANOMALY_COLUMN = "anomaly"
CALIBRATION_ROWS = 400  # the benchmark's rule: fit on the first 400 rows of each file


class SkabFormatError(ValueError):
    """A file that is not a usable SKAB recording."""


@dataclass(frozen=True)
class SkabRecording:
    """One recording: timestamps as written, values [T, C] in channel order, labels [T] if the file has them."""

    path: Path
    datetimes: tuple[str, ...]
    values: npt.NDArray[np.float64]
    anomaly: npt.NDArray[np.int64] | None


def read_skab(
    path: Path, channels: Sequence[Channel] = PUMP_CHANNELS, min_rows: int = CALIBRATION_ROWS, labels: bool = True
) -> SkabRecording:
    """Read and check one SKAB CSV; `SkabFormatError` on a missing column, a non-number or too few rows.

    With `labels` false the `anomaly` column is not read at all: predicting needs none,
    so an odd label cannot stop it.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:  # -sig: a spreadsheet's BOM is not a name
            rows = list(csv.reader(handle, delimiter=";"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SkabFormatError(f"{path}: cannot read: {exc}") from exc
    if not rows:
        raise SkabFormatError(f"{path}: empty file, expected a ';'-separated header")
    header = [name.strip() for name in rows[0]]
    wanted = [DATETIME_COLUMN, *(c.source_column for c in channels)]
    missing = [name for name in wanted if name not in header]
    if missing:
        raise SkabFormatError(f"{path}: missing column(s) {missing}; the header is {header}")
    # A blank line (a trailing newline, say) is not a row; numbering stays the file's own.
    body = [(number, row) for number, row in enumerate(rows[1:], start=2) if any(cell.strip() for cell in row)]
    if len(body) < min_rows:
        raise SkabFormatError(f"{path}: {len(body)} data rows, at least {min_rows} are needed (the calibration)")
    values, anomaly = _parse(body, header, channels, labels and ANOMALY_COLUMN in header, path)
    datetimes = tuple(row[header.index(DATETIME_COLUMN)].strip() for _, row in body)
    return SkabRecording(path, datetimes, values, anomaly)


def _parse(
    body: list[tuple[int, list[str]]], header: list[str], channels: Sequence[Channel], labels: bool, path: Path
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64] | None]:
    """The channel values [T, C] and, if `labels`, the anomaly labels [T] of the numbered rows."""
    columns = [header.index(c.source_column) for c in channels]
    label_column = header.index(ANOMALY_COLUMN) if labels else -1
    values = np.empty((len(body), len(columns)), dtype=np.float64)
    anomaly = np.empty(len(body), dtype=np.int64) if labels else None
    for i, (line, row) in enumerate(body):
        if len(row) != len(header):
            raise SkabFormatError(f"{path}:{line}: {len(row)} fields, the header has {len(header)}")
        values[i] = [_number(row[c], path, line, header[c]) for c in columns]
        if anomaly is not None:
            anomaly[i] = _label(row[label_column], path, line)
    return values, anomaly


def _number(text: str, path: Path, line: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SkabFormatError(f"{path}:{line}: column {column!r} holds {text!r}, not a number") from None
    if not math.isfinite(value):
        raise SkabFormatError(f"{path}:{line}: column {column!r} holds {text!r}, not a finite number")
    return value


def _label(text: str, path: Path, line: int) -> int:
    value = _number(text, path, line, ANOMALY_COLUMN)
    if value not in (0.0, 1.0):
        raise SkabFormatError(f"{path}:{line}: column {ANOMALY_COLUMN!r} holds {text!r}, expected 0 or 1")
    return int(value)


def skab_files(data_dir: Path, exclude: Path | None = None) -> list[Path]:
    """Every `*.csv` under `data_dir`, recursively, in a stable order, none under `exclude`; an error if none."""
    if not data_dir.is_dir():
        raise SkabFormatError(f"{data_dir}: not a directory")
    skip = exclude.resolve() if exclude is not None else None
    files = sorted(
        p for p in data_dir.rglob("*.csv") if p.is_file() and (skip is None or not p.resolve().is_relative_to(skip))
    )
    if not files:
        raise SkabFormatError(f"{data_dir}: no *.csv file found (searched recursively)")
    return files
