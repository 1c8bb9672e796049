"""`python -m cloud serve|ingest|api|demo`: run the cloud service (whole, or one role of it), or a demo."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from dataclasses import dataclass
from types import FrameType

from cloud.auth.cli import add_account_parsers
from cloud.demo.cli import add_demo_parser
from cloud.errors import CloudError
from cloud.ingest.cli import add_dead_letter_parsers
from cloud.security.cli import add_security_parsers
from cloud.server import CloudService, ServiceRole
from cloud.settings import load_settings
from cloud.store.cli import add_db_parsers
from cloud.store.profile_cli import add_profile_parsers

log = logging.getLogger("cloud")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloud", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_serve_parser(subparsers)
    add_demo_parser(subparsers)
    add_security_parsers(subparsers)
    add_account_parsers(subparsers)
    add_db_parsers(subparsers)
    add_dead_letter_parsers(subparsers)
    add_profile_parsers(subparsers)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


@dataclass(frozen=True)
class _RoleCommand:
    name: str
    role: ServiceRole
    help: str


_ROLE_COMMANDS = (
    _RoleCommand("serve", ServiceRole.ALL, "run the MQTT ingest and the HTTP API until SIGINT/SIGTERM"),
    _RoleCommand("ingest", ServiceRole.INGEST,
                 "run one MQTT ingest worker (no API) until SIGINT/SIGTERM; --worker NAME to run several"),
    _RoleCommand("api", ServiceRole.API, "run the HTTP API and its background duties (no ingest) until SIGINT/SIGTERM"),
)


def _add_serve_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for command in _ROLE_COMMANDS:
        parser = subparsers.add_parser(
            command.name, help=command.help, description="Options override the PAAS_* environment variables."
        )
        parser.add_argument("--broker", help="MQTT broker URL, mqtt://host:port (PAAS_BROKER)")
        parser.add_argument("--db", help="relational store URL, sqlite:///path or postgresql://... (PAAS_DB)")
        parser.add_argument("--tsdb", help="time-series store URL, sqlite:///path or postgresql://... (PAAS_TSDB)")
        if command.role.serves_api:
            parser.add_argument("--host", help="API listen address (PAAS_HOST)")
            parser.add_argument("--port", type=int, help="API port, 0 for any free one (PAAS_PORT)")
        if command.role is ServiceRole.INGEST:
            parser.add_argument(
                "--worker", metavar="NAME",
                help="this worker's name: its own MQTT session, a share of the load (PAAS_INGEST_WORKER)",
            )
        parser.set_defaults(handler=serve_until_signalled, role=command.role)


def serve_until_signalled(args: argparse.Namespace) -> int:
    role: ServiceRole = args.role
    try:
        settings = load_settings(
            broker_url=args.broker, db_url=args.db, tsdb_url=args.tsdb, host=getattr(args, "host", None),
            port=getattr(args, "port", None), ingest_worker=getattr(args, "worker", None),
        )
    except CloudError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    service = CloudService(settings, role=role)
    try:
        service.start()
    except CloudError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if role is ServiceRole.INGEST:
        print(f"cloud: ingest {settings.ingest_session_id} from {settings.broker_url}", flush=True)
    elif role is ServiceRole.API:
        print(f"cloud: API {service.api_url} (OpenAPI: {service.api_url}/docs), no ingest", flush=True)
    else:
        api = service.api_url
        print(f"cloud: API {api} (OpenAPI: {api}/docs), ingest from {settings.broker_url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        service.stop()
    stats = service.ingest_stats()
    print(f"cloud: stopped; {stats.accepted} messages accepted, {stats.rejected_total} rejected", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
