"""`python -m models <command>`: train and evaluate the platform's models.

Each command is a (name, help, add-arguments, run) entry in `COMMANDS`; adding one is
one function pair and one line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from contract.clock import Clock, SystemClock
from models import skab_predict
from models.paths import DEFAULT_PUMP_MODEL
from models.rul import commands as rul_commands


@dataclass(frozen=True)
class Command:
    """One subcommand: how to declare its arguments and how to run it."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Clock], int]


def say(text: str) -> None:
    """Progress goes to stderr, so stdout carries only the summary."""
    print(text, file=sys.stderr, flush=True)


def _train_baseline_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=DEFAULT_PUMP_MODEL, help="where to write the artifact")
    parser.add_argument("--seed", type=int, default=0, help="training seed (same seed, same bytes)")
    parser.add_argument("--units", type=int, default=64, help="healthy pumps to train on")
    parser.add_argument("--duration", type=int, default=1800, help="simulated seconds per pump")
    parser.add_argument("--created-at", default=None, help="ISO-8601 UTC creation time to record (default: now)")


def _run_train_baseline(args: argparse.Namespace, clock: Clock) -> int:
    from models.pump_baseline import BaselineConfig, train_baseline
    from models.report import print_summary

    created_at = args.created_at or datetime.fromtimestamp(int(clock.time()), tz=UTC).isoformat().replace("+00:00", "Z")
    config = BaselineConfig(seed=args.seed, units=args.units, duration_s=args.duration)
    trained = train_baseline(config, created_at, progress=say)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(trained.artifact)
    say(f"wrote {args.out} ({len(trained.artifact)} bytes)")
    print_summary(args.out)
    return 0


def _evaluate_pump_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=DEFAULT_PUMP_MODEL, help="the artifact to evaluate")


def _run_evaluate_pump(args: argparse.Namespace, clock: Clock) -> int:
    from models.report import print_summary

    print_summary(args.model)
    return 0


COMMANDS: tuple[Command, ...] = (
    Command("train-baseline", "train the PCA baseline on simulated healthy pumps and write the artifact",
            _train_baseline_arguments, _run_train_baseline),
    Command("evaluate-pump", "score simulated healthy and faulty pumps with an artifact, through the edge runtime",
            _evaluate_pump_arguments, _run_evaluate_pump),
    Command("skab-predict", "fit a detector per SKAB recording on its first 400 rows and score every row via ONNX",
            skab_predict.add_arguments, skab_predict.run),
    Command("train-rul", "train the turbofan RUL ensemble on C-MAPSS FD001 (cross-validated) and write the artifact",
            rul_commands.train_arguments, rul_commands.run_train),
    Command("cmapss-predict", "predict each unit's RUL at its last cycle in a C-MAPSS test file (unit,rul CSV)",
            rul_commands.predict_arguments, rul_commands.run_predict),
)


def main(argv: Sequence[str] | None = None, clock: Clock | None = None) -> int:
    """Parse `argv` and run the chosen command; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m models", description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    args = parser.parse_args(argv)
    result: int = args.run(args, clock or SystemClock())
    return result


if __name__ == "__main__":
    raise SystemExit(main())
