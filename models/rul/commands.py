"""The `train-rul` and `cmapss-predict` subcommands of `python -m models` (registered in `models.__main__`)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from contract.clock import Clock
from edge.errors import ModelError
from models.rul.cmapss import CmapssFormatError, read_cmapss
from models.rul.predict import DEFAULT_RUL_MODEL, RulPredictor, predict_engines, write_predictions

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CMAPSS_TRAIN = REPO_ROOT.parent / "shared" / "data" / "cmapss" / "train_FD001.txt"


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=DEFAULT_CMAPSS_TRAIN, help="C-MAPSS run-to-failure file")
    parser.add_argument("--out", type=Path, default=DEFAULT_RUL_MODEL, help="where to write the artifact")
    parser.add_argument("--seed", type=int, default=0, help="training seed (same seed, same artifact)")
    parser.add_argument("--members", type=int, default=None, help="networks in the ensemble")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs per network")
    parser.add_argument("--folds", type=int, default=None, help="cross-validation folds over engines")
    parser.add_argument("--created-at", default=None, help="ISO-8601 UTC creation time to record (default: now)")


def run_train(args: argparse.Namespace, clock: Clock) -> int:
    from dataclasses import replace

    from models.rul.train import TrainConfig, train_rul  # imports torch: only this command needs it

    try:
        engines = read_cmapss(args.data)
    except CmapssFormatError as exc:
        _say(f"error: {exc}")
        return 2
    config = TrainConfig(seed=args.seed)
    if args.members is not None:
        config = replace(config, members=args.members)
    if args.folds is not None:
        config = replace(config, folds=args.folds)
    if args.epochs is not None:
        config = replace(config, network=replace(config.network, epochs=args.epochs))
    created_at = args.created_at or datetime.fromtimestamp(int(clock.time()), tz=UTC).isoformat().replace("+00:00", "Z")
    _say(f"training on {len(engines)} engines from {args.data}")
    trained = train_rul(engines, config, created_at, progress=_say)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(trained.artifact)
    _say(f"wrote {args.out} ({len(trained.artifact)} bytes)")
    for name, value in sorted(trained.metrics.items()):
        print(f"{name} {value:g}")
    return 0


def predict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--test", type=Path, required=True, help="C-MAPSS file of engines cut before failure")
    parser.add_argument("--out", type=Path, required=True, help="CSV to write: unit,rul")
    parser.add_argument("--model", type=Path, default=DEFAULT_RUL_MODEL, help="the RUL artifact")
    parser.add_argument("--band", action="store_true", help="add rul_lower,rul_upper columns")


def run_predict(args: argparse.Namespace, clock: Clock) -> int:
    try:
        engines = read_cmapss(args.test)
        predictor = RulPredictor.load(args.model)
        predictions = predict_engines(predictor, engines)
    except (CmapssFormatError, ModelError) as exc:
        _say(f"error: {exc}")
        return 2
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", encoding="ascii", newline="") as out:
            write_predictions(out, predictions, band=args.band)
    except OSError as exc:
        _say(f"error: cannot write {args.out}: {exc}")
        return 2
    _say(f"wrote {len(predictions)} predictions to {args.out}")
    return 0
