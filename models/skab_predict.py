"""`python -m models skab-predict --data-dir DIR --out-dir OUT`: per-recording detectors on SKAB files.

For every `*.csv` under DIR (recursively): fit the detector on the first 400 rows (the
asset's calibration), export it to ONNX, load it with `edge.runtime.OnnxModel` exactly
as the edge agent does, score every row through the window that ends at it, and write
OUT/<same relative path> with header `datetime,score,anomaly`, one row per input row,
in order. The first 400 rows are scored too; they are the calibration.

Every input is read and checked before anything is written: one malformed file (a
missing column, a value that is not a number, fewer than 400 rows) or an empty DIR is
an error message on stderr and exit status 2, with no partial output.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from contract.clock import Clock

if TYPE_CHECKING:  # the heavy imports wait until the command runs, so `python -m models --help` stays fast
    from edge.runtime import OnnxModel
    from models.skab_data import SkabRecording

EXIT_BAD_INPUT = 2
OUTPUT_HEADER = ("datetime", "score", "anomaly")
BATCH = 4096  # windows per onnxruntime call: bounded memory on long recordings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    parser.add_argument("--data-dir", type=Path, required=True, help="folder of SKAB CSV files (searched recursively)")
    parser.add_argument("--out-dir", type=Path, required=True, help="where to write one scored CSV per input file")


def run(args: argparse.Namespace, clock: Clock) -> int:
    """Check every input, then fit, export, load and score each; 0 on success, 2 on malformed input."""
    from models.skab_data import SkabFormatError, read_skab, skab_files

    del clock  # the artifacts are scratch: no creation time recorded, so a rerun writes the same scores
    data_dir: Path = args.data_dir
    out_dir: Path = args.out_dir
    try:
        # An OUT inside DIR is not input: a rerun must not read the last run's output.
        recordings = [read_skab(path, labels=False) for path in skab_files(data_dir, exclude=out_dir)]
    except SkabFormatError as exc:
        print(f"skab-predict: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    with tempfile.TemporaryDirectory(prefix="skab-predict-") as scratch:
        for recording in recordings:
            target = out_dir / recording.path.relative_to(data_dir)
            flagged = predict_recording(recording, Path(scratch), target)
            print(f"{target}: {len(recording.datetimes)} rows, {flagged} anomalous", file=sys.stderr, flush=True)
    return 0


def load_fitted_model(recording: SkabRecording, scratch: Path) -> OnnxModel:
    """Fit on the recording's calibration rows and load the artifact through the edge runtime."""
    from contract.channels import PUMP_CHANNELS
    from edge.runtime import OnnxModel
    from models.anomaly.calibrated_detector import fit_detector
    from models.skab_data import CALIBRATION_ROWS

    names = [c.name for c in PUMP_CHANNELS]
    units = [c.unit for c in PUMP_CHANNELS]
    fitted = fit_detector(recording.values[:CALIBRATION_ROWS], names, units)
    artifact = scratch / "detector.onnx"
    artifact.write_bytes(fitted.artifact)
    model = OnnxModel.load(artifact)
    model.check_inputs(tuple(names), tuple(units))
    return model


def predict_recording(recording: SkabRecording, scratch: Path, target: Path) -> int:
    """Score every row of `recording` into the CSV `target`; returns how many rows were flagged."""
    from models.anomaly.trailing import trailing_windows

    model = load_fitted_model(recording, scratch)
    windows = trailing_windows(recording.values, model.info.window)
    target.parent.mkdir(parents=True, exist_ok=True)
    flagged = 0
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(OUTPUT_HEADER)
        for start in range(0, len(windows), BATCH):
            stamps = recording.datetimes[start : start + BATCH]
            for stamp, result in zip(stamps, model.score_batch(windows[start : start + BATCH]), strict=True):
                flagged += result.is_anomaly
                writer.writerow((stamp, format(result.score, ".7g"), int(result.is_anomaly)))
    return flagged
