"""`python -m cloud demo`: argument parsing (the orchestration lives in `cloud.demo.run`)."""

from __future__ import annotations

import argparse


def add_demo_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `demo` sub-command."""
    parser = subparsers.add_parser("demo", help="run broker + cloud + a simulated fleet and summarise")
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--broker", default=None, help="use this broker instead of starting one")
    parser.add_argument("--json", action="store_true", help="end with one JSON summary line")
    parser.add_argument("--keep-serving", action="store_true", help="leave the API up until Ctrl-C")
    parser.add_argument("--rate", type=float, default=1.0, help="samples per second per device (default 1)")
    parser.add_argument("--seed", type=int, default=7, help="fleet seed: which devices get which fault")
    parser.add_argument("--port", type=int, default=8000, help="API port (a free one is taken if busy)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from cloud.demo.run import DemoOptions, main

    return main(DemoOptions.from_args(args))
