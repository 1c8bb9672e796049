"""What every `python -m cloud` sub-command shares: the `--db` option, and errors told to the operator.

A `CloudError` ends the command with `error: <what to do>` on stderr and exit status 2,
never a traceback: the messages of the error tree already say what is wrong and how to
fix it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from cloud.errors import CloudError

Handler = Callable[[argparse.Namespace], int]


def add_db_option(parser: argparse.ArgumentParser, handler: Handler) -> argparse.ArgumentParser:
    """`--db` (default: the database `serve` uses) and `handler` run with errors reported."""
    parser.add_argument("--db", help="relational store URL (PAAS_DB; default: the same as `serve`)")
    parser.set_defaults(handler=reporting_errors(handler))
    return parser


def reporting_errors(handler: Handler) -> Handler:
    """`handler`, with a `CloudError` printed as `error: …` and exit status 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except CloudError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return run
