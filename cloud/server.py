"""The cloud service in one object: stores, ingest, command publisher and HTTP API, started and stopped together.

A `ServiceRole` picks what one process runs: the ingest and the API together (`python -m cloud serve`), the
ingest only (`python -m cloud ingest`, one of N workers: docs/reliability.md, "Horizontal ingest") or the API
and its background duties only (`python -m cloud api`).

On a secured broker (`PAAS_BROKER=mqtts://…`) it also rotates device credentials
(`cloud.security.rotation_service`).

`CloudService` never installs signal handlers: `python -m cloud serve` does that, and
the demo runs the service in-process, possibly several times.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import httpx
import uvicorn
from fastapi import FastAPI

from cloud.api.app import create_app
from cloud.api.deps import ApiContext
from cloud.auth.secret_key import load_auth_secret
from cloud.auth.sign_in import SignIn
from cloud.auth.throttle import ThrottlePolicy
from cloud.auth.tokens import TokenIssuer
from cloud.errors import CloudError, ConfigError
from cloud.ingest.pipeline import Ingest, build_handler
from cloud.ingest.stats import IngestCounters, IngestStats
from cloud.maintenance.alarms import DAY_S, close_quiet_alarms
from cloud.notify.channels import outbox_sender
from cloud.notify.outbox import OutboxSender
from cloud.periodic import Periodic
from cloud.registry.artifact_links import ArtifactLinks
from cloud.registry.command_publisher import CommandPublisher
from cloud.registry.desired_state import CommandSender
from cloud.registry.rollout_ticker import RolloutTicker
from cloud.registry.signing import Signer, load_signing_key
from cloud.security.rotation_service import RotationService
from cloud.settings import CloudSettings
from cloud.store.assets import count_assets
from cloud.store.database import Database
from cloud.store.events import count_events
from cloud.store.raw_readings import RawReadings
from cloud.store.retention_job import RETENTION_INTERVAL_S, run_retention
from cloud.store.schema import ensure_schema
from cloud.store.scope import Scope
from cloud.store.timeseries import TimeSeriesStore, open_timeseries_store
from contract.clock import Clock, SystemClock

log = logging.getLogger(__name__)

# Alarms close after days of quiet: a sweep every ten minutes is prompt enough and costs one query.
ALARM_SWEEP_INTERVAL_S = 600.0


class ServiceRole(StrEnum):
    """What one cloud process runs."""

    ALL = "all"  # ingest + API + background duties: the simple case
    INGEST = "ingest"  # MQTT -> stores only; no HTTP listener, no command publisher
    API = "api"  # HTTP API, commands, rollouts, credential rotation, notifications, alarm sweep; no ingest

    @property
    def ingests(self) -> bool:
        return self is not ServiceRole.API

    @property
    def serves_api(self) -> bool:
        return self is not ServiceRole.INGEST


@dataclass(frozen=True)
class FleetCounts:
    """What the stores hold, counted cheaply (no scan of readings)."""

    assets: int
    readings_stored: int
    events: int
    anomalies: int


@dataclass
class _Running:
    database: Database
    timeseries: TimeSeriesStore
    raw_readings: RawReadings
    ingest: Ingest | None = None
    commands: CommandPublisher | None = None
    api: ApiThread | None = None
    rollouts: RolloutTicker | None = None
    rotation: RotationService | None = None
    notifications: OutboxSender | None = None
    alarms: Periodic | None = None
    retention: Periodic | None = None


class CloudService:
    """Stores + ingest + API. `start()` returns once the ingest is subscribed and the API answers."""

    def __init__(
        self, settings: CloudSettings | None = None, clock: Clock | None = None, role: ServiceRole = ServiceRole.ALL
    ) -> None:
        self.settings = settings or CloudSettings()
        self.clock = clock or SystemClock()
        self.role = role
        self._counters = IngestCounters()
        self._running: _Running | None = None
        self.tokens: TokenIssuer | None = None  # the running service's token issuer (tests mint links with it)

    @property
    def api_url(self) -> str:
        """Base URL of the API (e.g. http://127.0.0.1:8000); the real port when settings.port is 0."""
        if self._running is None or self._running.api is None:
            raise CloudError("the cloud service is not running")
        return self._running.api.url

    @property
    def running(self) -> bool:
        return self._running is not None

    def start(self, timeout_s: float = 30.0) -> None:
        if self._running is not None:
            raise CloudError("the cloud service is already running")
        self._counters = IngestCounters()
        settings = self.settings
        running = _Running(
            Database(settings.db_url), open_timeseries_store(settings.tsdb_url), RawReadings(settings.tsdb_url)
        )
        self._running = running
        try:
            # Secrets first: outside PAAS_ENV=local a missing or exposed one refuses to start before anything runs.
            secrets = self._load_secrets() if self.role.serves_api else None
            ensure_schema(running.database)
            running.timeseries.create_schema()
            if self.role.ingests:
                running.ingest = Ingest(settings, running.database, running.timeseries, self.clock, self._counters)
                running.ingest.start()
            if secrets is not None:
                self._start_api(running, *secrets, timeout_s)
        except BaseException:
            self.stop()
            raise
        if running.api is None:
            log.info("cloud ingest %s up: from %s", settings.ingest_session_id, settings.broker_url)
        else:
            log.info("cloud service up: API %s/docs, ingest from %s", running.api.url, self.settings.broker_url)

    def _load_secrets(self) -> tuple[TokenIssuer, Signer]:
        """The token issuer (on the auth secret) and the model-signing key; `ConfigError` if either is refused."""
        settings = self.settings
        tokens = self.tokens = TokenIssuer(load_auth_secret(settings), self.clock, settings.access_token_ttl_s,
                                           settings.artifact_link_ttl_s)
        # Outside PAAS_ENV=local a missing or exposed key refuses to start: a new one no device would trust.
        return tokens, load_signing_key(settings)

    def _start_api(self, running: _Running, tokens: TokenIssuer, signer: Signer, timeout_s: float) -> None:
        """The HTTP API and what acts on the API's behalf: commands, rollouts, rotation, notifications, alarms."""
        settings = self.settings
        ingest = running.ingest
        # The API alone (ingest None): the ingest's counters and health are the ingest processes' own; a dead letter
        # is replayed through a handler of this process (the stores, and so the dedupe, are shared).
        replay = (ingest.handler if ingest is not None else build_handler(
            settings, running.database, running.timeseries, self.clock, self._counters)).replay
        running.commands = CommandPublisher(
            settings.broker_host, settings.broker_port, settings.command_client_id, settings.mqtt_keepalive_s,
            login=settings.broker_login,
        )
        running.commands.start()
        context = ApiContext(
            running.database,
            running.timeseries,
            settings,
            self.clock,
            tokens,
            _sign_in(settings, tokens),
            ingest_stats=None if ingest is None else self._counters.snapshot,
            broker_connected=None if ingest is None else (lambda: ingest.connected),
            signer=signer,
            raw_readings=running.raw_readings,
            publish_command=running.commands.publish,
            ingest_problem=None if ingest is None else (lambda: ingest.problem),
            replay=replay,
        )
        running.api = ApiThread(create_app(context), self.settings.host, self.settings.port)
        running.api.start(timeout_s)
        links = ArtifactLinks(settings.public_api_url or running.api.url, tokens)
        sender = CommandSender(links, signer, running.commands.publish)
        running.rollouts = RolloutTicker(running.database, self.clock, sender)
        running.rollouts.start()
        if settings.credential_rotation and settings.broker_url.startswith("mqtts://"):
            # A secured broker: rotate due device credentials and re-send those not yet in use
            # (cloud.security.rotation_service).
            running.rotation = RotationService(settings, running.database, self.clock)
            running.rotation.start()
        # Notifications queued by decisions (cloud.notify): sent, and retried, from the durable outbox.
        running.notifications = outbox_sender(settings, running.database, self.clock, running.api.url)
        running.notifications.start()
        # Alarms behind a done order close once the asset stayed quiet (cloud.maintenance.alarms).
        running.alarms = Periodic("alarm-sweep", ALARM_SWEEP_INTERVAL_S, functools.partial(
            self._close_quiet_alarms, running.database, settings.alarm_quiet_days * DAY_S))
        running.alarms.start()
        # Raw readings and rollups past their days go, in short batches (cloud.store.retention).
        running.retention = Periodic("ts-retention", RETENTION_INTERVAL_S, lambda: run_retention(
            settings, running.database, running.timeseries, self.clock.time()))
        running.retention.start()

    def stop(self) -> None:
        """Stop the API, store what the ingest received, disconnect and close the stores."""
        running, self._running = self._running, None
        if running is None:
            return
        try:
            # Background passes first, then the API, then the ingest (it stores what it received), then the
            # command publisher the passes and the API send through.
            for part in (running.alarms, running.retention, running.notifications, running.rotation,
                         running.rollouts, running.api, running.ingest, running.commands):
                if part is not None:
                    part.stop()
        finally:
            running.raw_readings.close()
            running.timeseries.close()
            running.database.close()

    def _close_quiet_alarms(self, database: Database, quiet_s: float) -> int:
        with database.session() as session:
            return close_quiet_alarms(session, self.clock.time(), quiet_s)

    def ingest_stats(self) -> IngestStats:
        """Messages accepted, rejected per reason and readings stored since the last `start()`."""
        return self._counters.snapshot()

    def fleet_counts(self) -> FleetCounts:
        """Assets, stored readings, events and anomalies in the stores (while running)."""
        if self._running is None:
            raise CloudError("the cloud service is not running")
        with self._running.database.session() as session:
            assets, _online = count_assets(session, Scope.everything())
            events, anomalies = count_events(session, Scope.everything())
        return FleetCounts(assets, self._running.timeseries.total(), events, anomalies)

    def __enter__(self) -> CloudService:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _sign_in(settings: CloudSettings, tokens: TokenIssuer) -> SignIn:
    policy = ThrottlePolicy(settings.sign_in_max_failures, settings.sign_in_max_failures_per_client,
                            settings.sign_in_window_s)
    return SignIn(tokens, policy, settings.refresh_token_ttl_s)


class ApiThread:
    """uvicorn serving `app` on its own thread and event loop (no signal handlers: not the main thread)."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self._app, self._host, self._port = app, host, port
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host
        host = f"[{host}]" if ":" in host else host
        port = self._socket.getsockname()[1] if self._socket is not None else self._port
        return f"http://{host}:{port}"

    def start(self, timeout_s: float) -> None:
        self._socket = _listen(self._host, self._port)
        # log_config=None: an in-process service must not reconfigure the host program's logging.
        config = uvicorn.Config(
            self._app, lifespan="off", log_config=None, access_log=False, timeout_graceful_shutdown=5
        )
        server = uvicorn.Server(config)
        self._server = server
        sockets = [self._socket]
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets)), name="cloud-api", daemon=True
        )
        self._thread.start()
        _wait_until(lambda: server.started or not self._alive(), timeout_s, "the API did not start")
        if not server.started:
            raise CloudError(f"the API server on {self.url} exited at start (see the log above)")
        _wait_until(self._answers, timeout_s, f"the API on {self.url} does not answer /healthz")

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=15)
        if self._socket is not None:
            self._socket.close()

    def _alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _answers(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{self.url}/healthz", timeout=2.0).status_code < 500
        return False


def _listen(host: str, port: int) -> socket.socket:
    """Bind the API's socket here, so a port in use is a clear error before anything else runs."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        listener = socket.create_server((host, port), family=family, backlog=128)
        # asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP, and create_server's is 0; without
        # it, Nagle holds the response body until the client's delayed ACK (~40 ms on every request). Accepted
        # connections inherit the option from the listener.
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return listener
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another with PAAS_PORT / --port"
        ) from None


def _wait_until(condition: Callable[[], bool], timeout_s: float, failure: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise CloudError(f"{failure} within {timeout_s:.0f} s")
        time.sleep(0.02)
