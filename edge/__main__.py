"""`python -m edge run …` runs an agent; `python -m edge status …` reads a device's outbox.

Exit status: 0 done, 2 bad options or settings, 1 the agent could not start
(unreachable broker, unreadable model, locked state directory, …).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from edge.errors import ConfigError, EdgeError
from edge.settings import DEFAULT_STATE_ROOT, ENV_PREFIX, AgentSettings

log = logging.getLogger("edge")

# CLI option -> AgentSettings field; values left as None fall back to PAAS_EDGE_<FIELD> then the default.
_RUN_OPTIONS: tuple[tuple[str, str, str, type[Any], str], ...] = (
    ("--device-id", "ID", "device_id", str, "device id, e.g. pump-001"),
    ("--broker", "URL", "broker_url", str, "broker URL mqtt://HOST:PORT or mqtts://HOST:PORT (TLS) (default mqtt://127.0.0.1:1883)"),
    ("--sensor", "SPEC", "sensor", str, "sensor source: sim:pump, sim:turbofan, replay:CSV[@SPEED], "
     "command:'CMD' or sysfs:[NAME[:UNIT][*SCALE]=]PATH,... (default sim:pump; see docs/edge.md)"),
    ("--fault", "SPEC", "fault", str, "inject a simulated fault: KIND[@ONSET_S][:CHANNEL]"),
    ("--rate", "HZ", "rate_hz", float, "samples per second (default 1)"),
    ("--model", "PATH", "model_path", str, "ONNX model artifact, 'default' or 'none' (default: the kind's baseline)"),
    ("--tenant", "ID", "tenant", str, "tenant id (default demo)"),
    ("--state-dir", "DIR", "state_dir", Path, "where the outbox lives (default var/edge/DEVICE_ID)"),
    ("--seed", "N", "seed", int, "simulator seed (default derived from the device id)"),
    ("--batch-max", "N", "batch_max", int, "readings per telemetry message at most (default 100)"),
    ("--publish-interval", "S", "publish_interval_s", float, "seconds between publishes (default 1)"),
    ("--hop", "N", "hop", int, "score the window every HOP samples (default 5)"),
    ("--heartbeat", "S", "heartbeat_s", float, "seconds between health heartbeats (default 30)"),
    ("--usage-interval", "S", "usage_interval_s", float, "seconds between usage (billing) reports (default 60)"),
    ("--connect-timeout", "S", "connect_timeout_s", float, "seconds to reach the broker at start (default 10)"),
    ("--queue-max-mb", "MB", "queue_max_mb", float,
     "outbox disk budget; beyond it the oldest telemetry is thinned, never events (default 256)"),
    ("--fsync", "MODE", "fsync", str, "outbox durability: normal (fast, a power cut may lose the last "
     "commits) or full (fsync every commit) (default normal)"),
    ("--max-msgs-per-s", "N", "max_msgs_per_s", float, "drain pace bound in messages/s (default 100)"),
    ("--asset-kind", "KIND", "asset_kind", str, "command:/sysfs: sensors: the asset kind to report, i.e. the device "
     "profile the cloud validates it with (default custom)"),
    ("--confirm-timeout", "S", "confirm_timeout_s", float, "seconds the cloud has to confirm a sent message "
     "before it is sent again (default 60)"),
    ("--replay-at-eof", "WHAT", "replay_at_eof", str, "a replay: sensor at the end of its file: loop or stop "
     "(default loop)"),
    ("--ca-file", "PATH", "ca_file", Path, "mqtts://: CA certificate of the broker (default: the system's CAs)"),
    ("--username", "NAME", "username", str, "broker user from provisioning (a rotated one in the state dir wins)"),
    ("--password-file", "PATH", "password_file", Path, "file holding the broker password (never pass it inline)"),
    ("--signing-key-file", "PATH", "signing_key_file", Path,
     "the cloud's manifest-signing public key (the bundle's signing-key.pem); without it over-the-air updates "
     "are refused, unless --signing-key-tofu"),
    ("--model-probe-memory-mb", "MB", "model_probe_memory_mb", float,
     "memory a candidate model may take while it is tried in a sandbox before an update (default 512)"),
    ("--model-probe-timeout", "S", "model_probe_timeout_s", float,
     "seconds a candidate model may take to load and score in that sandbox (default 60)"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m edge", description="The edge agent of the PaaS platform.")
    parser.add_argument("--log-level", default=os.environ.get(ENV_PREFIX + "LOG_LEVEL", "INFO"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True, metavar="{run,status}")
    run = commands.add_parser("run", help="run an agent until SIGINT/SIGTERM or --duration")
    for option, metavar, field, kind, help_text in _RUN_OPTIONS:
        run.add_argument(option, metavar=metavar, dest=field, type=kind, default=None, help=help_text)
    run.add_argument("--persistent-session", dest="persistent_session", action="store_const", const=True,
                     default=None, help="ask the broker to keep this device's session across disconnects")
    run.add_argument("--signing-key-tofu", dest="signing_key_tofu", action="store_const", const=True, default=None,
                     help="development only: without --signing-key-file, trust the key fetched at the first update")
    run.add_argument("--duration", metavar="S", type=float, default=None, help="stop after this many seconds")
    run.add_argument("--flush-timeout", metavar="S", type=float, default=10.0,
                     help="seconds to publish what is queued when stopping (default 10)")
    status = commands.add_parser("status", help="print a device's outbox counters (agent running or not)")
    status.add_argument("--device-id", metavar="ID", dest="device_id", default=None)
    status.add_argument("--state-dir", metavar="DIR", dest="state_dir", type=Path, default=None,
                        help="the agent's state directory (default var/edge/DEVICE_ID)")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    args = build_parser().parse_args(argv)
    _configure_logging(args.log_level)
    try:
        if args.command == "status":
            return _status(args, env)
        return _run(args, env)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except EdgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from edge.agent import Agent  # imported here: `status` need not load numpy and paho

    if args.duration is not None and args.duration <= 0:
        raise ConfigError(f"--duration must be positive, got {args.duration}")
    options = {field: getattr(args, field) for _, _, field, _, _ in _RUN_OPTIONS}
    options["persistent_session"] = args.persistent_session
    options["signing_key_tofu"] = args.signing_key_tofu
    settings = AgentSettings.from_options(options, env)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info("event=signal signal=%s detail=%r", signal.Signals(signum).name, "stopping")
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    agent = Agent(settings)
    agent.run_until(stop, duration_s=args.duration, flush_timeout_s=args.flush_timeout)
    final = agent.stats()
    log.info("event=exit readings_sampled=%d readings_acked=%d queue_depth=%d",
             final.readings_sampled, final.readings_acked, final.queue_depth)
    return 0


def _status(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from edge.status import format_report, status_report

    device_id = args.device_id or env.get(ENV_PREFIX + "DEVICE_ID")
    if not device_id:
        raise ConfigError(f"a device id is required: pass --device-id ID or set {ENV_PREFIX}DEVICE_ID")
    state_dir = args.state_dir or Path(env.get(ENV_PREFIX + "STATE_DIR") or DEFAULT_STATE_ROOT / device_id)
    report = status_report(device_id, state_dir)
    print(json.dumps(report, sort_keys=True) if args.json else format_report(report))
    return 0


def _configure_logging(level: str) -> None:
    """key=value lines on stderr: greppable by people, parseable by log shippers."""
    root = logging.getLogger()
    if root.handlers:  # embedded (a test, another program): its logging set-up stays as it is
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("ts=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)


if __name__ == "__main__":
    sys.exit(main())
