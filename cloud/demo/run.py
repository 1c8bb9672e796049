"""`python -m cloud demo`: a broker, the cloud service and a simulated fleet, end to end.

Everything real runs: a Mosquitto (or the in-process broker), the MQTT ingest, the
stores, the HTTP API, and one edge `Agent` per simulated device (in this process, to
spare a laptop 20 onnxruntime processes; each agent still has its own MQTT client,
durable queue and model session). The summary is read back through the public API,
signed in as the demo tenant's admin (an API key), like any script would.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from cloud.broker import RunningBroker, free_port, start_embedded_broker
from cloud.demo.accounts import DemoAccounts, create_demo_accounts
from cloud.demo.billing import close_the_month
from cloud.demo.clock import DemoClock
from cloud.demo.field import AUTO_APPROVE, dispatch_and_work, place_assets, set_up_directory
from cloud.demo.report import DemoReport, collect, get_json, put_json, sign_in_text
from cloud.registry.signing import public_key_pem
from cloud.server import CloudService
from cloud.settings import CloudSettings, Environment
from contract.clock import SystemClock
from edge.agent import Agent
from edge.settings import AgentSettings
from firmware_sim.fleet import DeviceSpec, plan_fleet

TENANT = "demo"
PROGRESS_EVERY_S = 5.0
SETTLE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class DemoOptions:
    devices: int
    seconds: float
    broker: str | None
    json: bool
    keep_serving: bool
    rate: float
    seed: int
    port: int

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DemoOptions:
        if args.devices < 1 or args.seconds <= 0 or args.rate <= 0:
            raise SystemExit("error: --devices, --seconds and --rate must be positive")
        return cls(
            args.devices, args.seconds, args.broker, args.json, args.keep_serving, args.rate, args.seed, args.port
        )


def say(text: str) -> None:
    """Progress goes to stderr, so stdout carries only the summary (and the JSON line)."""
    print(text, file=sys.stderr, flush=True)


def main(options: DemoOptions) -> int:
    with tempfile.TemporaryDirectory(prefix="paas-demo-") as tmp, _broker(options, Path(tmp)) as broker_url:
        settings = _cloud_settings(options, Path(tmp), broker_url)
        clock = DemoClock()  # moved forward once, to close the month the fleet ran in (cloud.demo.billing)
        cloud = CloudService(settings, clock=clock)
        say(f"starting the cloud service (broker {broker_url}) ...")
        cloud.start()
        try:
            accounts = create_demo_accounts(settings.db_url, TENANT, SystemClock().time())
            say(f"created one user per role in tenant {TENANT!r} and an admin API key (see the summary)")
            fleet = plan_fleet(options.devices, seed=options.seed, duration_s=options.seconds)
            customer_assets = _sign_contracts(cloud.api_url, accounts, [spec.device_id for spec in fleet], settings)
            set_up_directory(cloud.api_url, accounts.admin_api_key, accounts.technician_id)
            say("set up the technicians (skills, home base, hours) and which skill each failure kind needs")
            # What provisioning puts in each device's bundle: the cloud's public model-signing key, pinned.
            key_file = Path(tmp) / "signing-key.pem"
            key_file.write_text(public_key_pem(settings))
            report = _run_fleet(options, Path(tmp), broker_url, cloud.api_url, accounts.admin_api_key, fleet, key_file)
            report = _dispatch(cloud.api_url, accounts, [spec.device_id for spec in fleet], options.seed, report)
            report = _bill(cloud.api_url, accounts, customer_assets, [spec.device_id for spec in fleet], clock, report)
            print(report.to_text() + sign_in_text(cloud.api_url, accounts, customer_assets), flush=True)
            if options.json:
                local = settings.env is Environment.LOCAL  # elsewhere a key must not end up in a script's output
                print(report.to_json(accounts.admin_api_key if local else None), flush=True)
            if options.keep_serving:
                _serve_until_interrupted(cloud.api_url)
            return 0 if report.all_stored else 1
        finally:
            cloud.stop()


def _sign_contracts(api_url: str, accounts: DemoAccounts, device_ids: list[str], settings: CloudSettings) -> list[str]:
    """Put the first asset under the demo customer's contract (through the API, audited), so its user sees
    something; every other asset gets a contract whose policy approves urgent, sure proposals at once (the rest
    wait for the planner). The customer's assets."""
    for index, device_id in enumerate(device_ids):
        body: dict[str, object] = {"maintenance_horizon_cycles": settings.default_maintenance_horizon_cycles}
        if index == 0:
            body |= {"customer": accounts.customer_name, "customer_id": accounts.customer_id}
        else:
            body["approval_policy"] = AUTO_APPROVE
        put_json(f"{api_url}/api/v1/assets/{device_id}/contract", accounts.admin_api_key, body)
    return device_ids[:1]


def _dispatch(api_url: str, accounts: DemoAccounts, device_ids: list[str], seed: int,
              report: DemoReport) -> DemoReport:
    """Sites for the assets, the planner's approvals, a committed dispatch plan and the technician's work."""
    place_assets(api_url, accounts.admin_api_key, device_ids, seed)
    outcome = dispatch_and_work(api_url, accounts.planner_api_key, accounts.technician_api_key)
    say(f"the planner approved {outcome.approved_by_planner} proposal(s); dispatch assigned "
        f"{outcome.assigned_work_orders} order(s); the demo technician completed {outcome.completed}")
    return replace(report, work_orders_by_status=outcome.work_orders_by_status,
                   assigned_work_orders=outcome.assigned_work_orders)


def _bill(api_url: str, accounts: DemoAccounts, customer_assets: list[str], device_ids: list[str], clock: DemoClock,
          report: DemoReport) -> DemoReport:
    """Service contracts for the fleet, the month closed (statements) and the offer rules run (drafts)."""
    outcome = close_the_month(api_url, accounts, customer_assets, device_ids, clock)
    say(f"closed {outcome.period} for the fleet's contracts: {outcome.statements} statement(s); the offer rules "
        f"drafted {outcome.offers_drafted} offer(s), waiting for a planner")
    return replace(report, statements=outcome.statements, offers_drafted=outcome.offers_drafted,
                   billed_period=outcome.period)


@contextlib.contextmanager
def _broker(options: DemoOptions, work: Path) -> Iterator[str]:
    if options.broker:
        yield options.broker
        return
    broker: RunningBroker = start_embedded_broker(work / "broker")
    say(f"started an embedded MQTT broker ({type(broker).__name__}) at {broker.url}")
    try:
        yield broker.url
    finally:
        broker.stop()


def _cloud_settings(options: DemoOptions, work: Path, broker_url: str) -> CloudSettings:
    port = options.port if _port_is_free(options.port) else free_port()
    return CloudSettings(
        broker_url=broker_url,
        db_url=f"sqlite:///{work / 'cloud.db'}",
        tsdb_url=f"sqlite:///{work / 'timeseries.db'}",
        host="127.0.0.1",
        port=port,
    )


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _agents(
    options: DemoOptions, work: Path, broker_url: str, fleet: list[DeviceSpec], signing_key: Path
) -> list[Agent]:
    return [
        Agent(
            AgentSettings(
                device_id=spec.device_id,
                tenant=TENANT,
                broker_url=broker_url,
                sensor=f"sim:{spec.asset_kind}",
                fault=None if spec.fault is None else str(spec.fault),
                rate_hz=options.rate,
                seed=spec.seed,
                state_dir=work / "edge" / spec.device_id,
                signing_key_file=signing_key,
            )
        )
        for spec in fleet
    ]


def _run_fleet(
    options: DemoOptions, work: Path, broker_url: str, api_url: str, api_key: str, fleet: list[DeviceSpec],
    signing_key: Path,
) -> DemoReport:
    faults = {spec.device_id: str(spec.fault) for spec in fleet if spec.fault is not None}
    agents = _agents(options, work, broker_url, fleet, signing_key)
    say(f"starting {len(agents)} edge agents ({len(faults)} with an injected fault) for {options.seconds:g} s ...")
    for agent in agents:
        agent.start()
    try:
        _show_progress(options.seconds, agents, api_url, api_key)
    finally:
        say("stopping the agents and flushing their queues ...")
        with ThreadPoolExecutor(max_workers=len(agents)) as pool:
            list(pool.map(lambda agent: agent.stop(flush_timeout_s=30.0), agents))
    published = sum(agent.stats().readings_sampled for agent in agents)
    _wait_until_stored(api_url, api_key, published)
    return collect(api_url, api_key, options.devices, options.seconds, published, faults)


def _show_progress(seconds: float, agents: list[Agent], api_url: str, api_key: str) -> None:
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        time.sleep(min(PROGRESS_EVERY_S, max(0.0, seconds - elapsed)))
        sampled = sum(a.stats().readings_sampled for a in agents)
        acked = sum(a.stats().readings_acked for a in agents)
        orders = len(get_json(f"{api_url}/api/v1/work-orders", api_key))
        say(
            f"[{min(time.monotonic() - start, seconds):5.0f}/{seconds:.0f} s] readings sampled {sampled}, "
            f"acknowledged by the broker {acked}, stored {_stored(api_url, api_key)}; work orders {orders}"
        )


def _stored(api_url: str, api_key: str) -> int:
    return int(get_json(f"{api_url}/api/v1/stats", api_key)["readings_stored"])


def _wait_until_stored(api_url: str, api_key: str, published: int) -> None:
    """Wait for the ingest to catch up, then for its event count to settle."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while _stored(api_url, api_key) < published and time.monotonic() < deadline:
        time.sleep(0.25)
    previous = -1
    while time.monotonic() < deadline:
        count = int(get_json(f"{api_url}/api/v1/stats", api_key)["events"])
        if count == previous:
            return
        previous = count
        time.sleep(1.0)


def _serve_until_interrupted(api_url: str) -> None:
    say(f"The API stays up at {api_url} (docs: {api_url}/docs). Press Ctrl-C to stop.")
    stop = threading.Event()
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
