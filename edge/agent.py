"""The edge agent: sample the sensors, score windows, keep everything in the outbox, publish it.

Two threads besides paho's loop (see `edge.link`):

- the sampler (`edge.sampler`) reads the sensor at `rate_hz` on the injected clock (a
  rate the cloud desires replaces it at run time), writes each reading to the durable
  queue, meters usage (`edge.metering`, a report every `usage_interval_s` and at stop),
  and every `hop` samples (once the window is full) scores the window, enqueuing an
  anomaly event when the score is above threshold;
- the publisher thread drains the queue (`edge.publisher`) every
  `publish_interval_s`, sooner when a full batch is waiting or, while a backlog
  drains, as soon as a PUBACK frees an in-flight slot (at most `max_msgs_per_s`),
  and sends the heartbeat. A PUBACK marks rows sent; rows leave the queue when the
  cloud's Confirm for this outbox's install arrives on the device's `confirm`
  topic, and sent rows it has not confirmed within `confirm_timeout_s` are sent
  again (`edge.resend`).

Pacing: the sampler waits on the `Clock` (a `ManualClock` makes it run flat out in
simulated time); network waits (publish interval, flush, the drain's token bucket,
the confirmation timeout) are real time, because sockets are.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from contract.backoff import Backoff
from contract.clock import Clock, SystemClock
from contract.wire import Command, Confirm, DeviceState, DeviceStatus, EventKind, ModelRef, Topic, TopicKind
from edge.commands import CommandDispatcher
from edge.credentials import HEALTH_USERNAME_KEY, ROTATE_COMMAND, Credentials, load_credentials, save_credentials
from edge.errors import EdgeError, ModelError, QueueError
from edge.health import CpuMeter, Health, snapshot
from edge.link import MqttLink
from edge.metering import UsageMeter
from edge.publisher import Publisher, acknowledge, apply_confirm
from edge.queue import OutboundQueue
from edge.resend import Resends
from edge.runtime import OnnxModel
from edge.sampler import Sampler
from edge.sensors import SensorSource, SensorSpec, open_sensor
from edge.settings import AgentSettings
from edge.token_bucket import TokenBucket
from edge.updates.desired import COMMAND_NAME as DESIRED_STATE_COMMAND
from edge.updates.updater import Updater, UpdaterConfig

log = logging.getLogger("edge.agent")

_FLUSH_POLL_S = 0.05
_RUN_POLL_S = 0.2


def agent_version() -> str:
    try:
        return metadata.version("paas-platform")
    except metadata.PackageNotFoundError:
        return "0.0.0+unknown"


@dataclass(frozen=True)
class AgentStats:
    """Lifetime counters of the device's state directory, plus this run's link state."""

    readings_sampled: int
    readings_acked: int
    events_sampled: int
    events_acked: int
    queue_depth: int
    dropped: int
    model_version: str  # "" when the agent runs without a model
    oldest_unsent_s: float = 0.0
    connected: bool = False
    inflight: int = 0
    reconnects: int = 0
    sensor_errors: int = 0
    readings_confirmed: int = 0  # confirmed stored by the cloud (readings_acked: by the broker)
    events_confirmed: int = 0
    unconfirmed_depth: int = 0  # rows the broker acknowledged and the cloud has not confirmed yet
    install_id: str = ""


class Agent:
    """One device's agent. `start()`, then `stop()` (or `run_until(event)`); also a context manager."""

    def __init__(
        self,
        settings: AgentSettings,
        *,
        clock: Clock | None = None,
        sensor: SensorSource | None = None,
        model: OnnxModel | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock or SystemClock()
        self._backoff = backoff
        self._cpu = CpuMeter(self._clock)
        self._cpu_pct = 0.0
        self.clock_offset_s: float | None = None  # see edge.health; set when a command of the cloud arrives
        self._owns_sensor = False
        self._sensor = sensor
        self._queue: OutboundQueue | None = None
        self._link: MqttLink | None = None
        self._threads: list[threading.Thread] = []
        self._stop_sampling = threading.Event()
        self._stop_publishing = threading.Event()
        self._wake = threading.Event()
        self._flushing = threading.Event()
        self._drained = threading.Event()
        self._publisher: Publisher | None = None
        # Real time, not the injected clock: the confirmation timeout is a network wait (module docstring).
        self._resends = Resends(settings.confirm_timeout_s, SystemClock())
        self._started_at = 0.0
        self._last_heartbeat = 0.0
        self._final: AgentStats | None = None
        self._failure: Exception | None = None
        # Commands of the cloud by name (edge.commands): registering a handler is one line here.
        self.commands = CommandDispatcher()
        self.commands.register(ROTATE_COMMAND, self._rotate_credentials)
        # Over-the-air updates (edge.updates), with the agent as their host (`ModelHost`, below).
        self.updates = Updater(UpdaterConfig(
            settings.state_dir, settings.tenant, settings.device_id, signing_key_file=settings.signing_key_file,
            signing_key_tofu=settings.signing_key_tofu, fallback_model=settings.model_path, rate_hz=settings.rate_hz,
            probe=settings.probe_limits()), self)
        self.commands.register(DESIRED_STATE_COMMAND, self.updates.handle_command)
        self._sampler = Sampler(settings, self._clock, model=model, stop=self._stop_sampling, wake=self._wake,
                                observe_score=self.updates.observe_score)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Open sensor, model, queue and link; start sampling and publishing.

        Raises `ConfigError`/`SensorError`/`ModelError`/`QueueError`, or `LinkError`
        when the broker cannot be reached now (later outages are retried, not raised).
        """
        if self._threads or self._final is not None:
            raise RuntimeError("an agent starts once; create a new Agent to run again")
        s = self.settings
        self._owns_sensor = self._sensor is None
        self._sampler.rate_hz = self.updates.sample_rate()  # a rate the cloud desired outlives a restart
        sensor = self._sensor or open_sensor(SensorSpec.parse(s.sensor), seed=s.seed, rate_hz=self._sampler.rate_hz,
                                             fault=s.fault, at_eof=s.replay_at_eof)
        self._sensor = self._sampler.sensor = sensor
        try:
            self._sampler.meter = UsageMeter(s.state_dir, sensor.asset_kind, [c.name for c in sensor.channels],
                                             self._clock)
            queue, link = self._open(sensor)
        except BaseException:
            if self._owns_sensor:
                sensor.close()
            raise
        # Real time, not the injected clock: the bucket paces sockets (module docstring).
        bucket = TokenBucket(s.max_msgs_per_s, max(1.0, s.max_msgs_per_s / 5), SystemClock())
        self._publisher = Publisher(queue, link, tenant=s.tenant, device_id=s.device_id, channels=sensor.channels,
                                    batch_max=s.batch_max, clock=self._clock, bucket=bucket,
                                    resends=self._resends)
        self._sampler.queue = queue
        self._threads = [
            threading.Thread(target=self._guarded, args=(loop,), name=f"{name}-{s.device_id}", daemon=True)
            for name, loop in (("sampler", self._sampler.run), ("publisher", self._publish_loop))
        ]
        for thread in self._threads:
            thread.start()
        self.updates.start()
        model = self._sampler.model.info if self._sampler.model else None
        log.info("event=started device=%s sensor=%s rate_hz=%g model=%s state_dir=%s next_seq=%d install=%s",
                 s.device_id, s.sensor, self._sampler.effective_rate_hz,
                 f"{model.id}@{model.version}" if model else "none", s.state_dir, queue.next_seq, queue.install_id)

    def _open(self, sensor: SensorSource) -> tuple[OutboundQueue, MqttLink]:
        """Load the model, open the outbox, connect; nothing stays open if one of them fails."""
        s = self.settings
        self._load_model(sensor)
        self._queue = queue = OutboundQueue(s.state_dir, clock=self._clock, max_bytes=int(s.queue_max_mb * 2**20),
                                            fsync=s.fsync)
        self._started_at = self._last_heartbeat = self._clock.monotonic()
        try:
            self._check_channels(queue, sensor)
            self._link = link = self._make_link(queue)
            link.start(s.connect_timeout_s)
        except BaseException:
            self._queue = self._link = None
            queue.close()
            raise
        return queue, link

    def stop(self, flush_timeout_s: float = 10.0) -> None:
        """Stop sampling, publish what is queued (up to `flush_timeout_s`), go offline, disconnect."""
        if not self._threads or self._queue is None or self._link is None:
            return
        sampler, publisher = self._threads
        self.updates.stop()
        self._stop_sampling.set()
        sampler.join()
        self._sampler.report_usage()  # the use up to the stop, flushed below with the rest
        self._drained.clear()
        self._flushing.set()
        self._wake.set()
        flushed = self._failure is None and self._drained.wait(flush_timeout_s)
        self._stop_publishing.set()
        self._wake.set()
        publisher.join()
        self._link.close(self._state(DeviceStatus.OFFLINE))
        self._final = self.stats()
        self._queue.close()
        if self._sensor is not None and self._owns_sensor:
            self._sensor.close()
        self._threads = []
        log.info("event=stopped device=%s flushed=%s queue_depth=%d readings_acked=%d readings_confirmed=%d",
                 self.settings.device_id, flushed, self._final.queue_depth, self._final.readings_acked,
                 self._final.readings_confirmed)

    def run_until(self, stop_event: threading.Event, duration_s: float | None = None,
                  flush_timeout_s: float = 10.0) -> None:
        """Run (starting if needed) until `stop_event` is set or `duration_s` passed on the clock, then stop.

        Raises `EdgeError` after stopping if one of the agent's threads died of an unexpected error.
        """
        if not self._threads:
            self.start()
        deadline = None if duration_s is None else self._clock.monotonic() + duration_s
        try:
            while not stop_event.wait(_RUN_POLL_S) and self._failure is None and not self._sampler.exhausted.is_set():
                if deadline is not None and self._clock.monotonic() >= deadline:
                    break
        finally:
            self.stop(flush_timeout_s)
        if self._failure is not None:
            raise EdgeError(f"the agent stopped after an internal error: {self._failure!r}") from self._failure

    def __enter__(self) -> Agent:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def stats(self) -> AgentStats:
        if self._queue is None or not self._threads:
            if self._final is not None:
                return self._final
            raise RuntimeError("agent not started")
        q, link = self._queue.stats(), self._link
        return AgentStats(
            readings_sampled=q.readings_sampled, readings_acked=q.readings_acked,
            events_sampled=q.events_sampled, events_acked=q.events_acked,
            queue_depth=q.depth, dropped=q.dropped, model_version=self._model_ref_version(),
            oldest_unsent_s=q.oldest_age_s, connected=bool(link and link.connected),
            inflight=link.inflight if link else 0, reconnects=link.reconnects if link else 0,
            sensor_errors=self._sampler.sensor_errors, readings_confirmed=q.readings_confirmed,
            events_confirmed=q.events_confirmed, unconfirmed_depth=q.unconfirmed_depth, install_id=q.install_id,
        )

    def health(self) -> Health:
        """The heartbeat's health; `cpu_pct` is the use since the previous heartbeat (or the start)."""
        assert self._queue is not None
        return snapshot(
            self._queue.stats(), model_version=self._model_ref_version(),
            uptime_s=self._clock.monotonic() - self._started_at,
            reconnects=self._link.reconnects if self._link else 0, sensor_errors=self._sampler.sensor_errors,
            cpu_pct=self._cpu_pct, state_dir=self.settings.state_dir, clock_offset_s=self.clock_offset_s,
            sample_rate_hz=self._sampler.effective_rate_hz,
        )

    def _guarded(self, loop: Callable[[], None]) -> None:
        """Run a thread's loop; an unexpected error is logged and ends the run instead of vanishing."""
        try:
            loop()
        except Exception as exc:
            log.exception("event=thread_failed thread=%s", threading.current_thread().name)
            self._failure = exc
            self._stop_sampling.set()

    # -- set-up ------------------------------------------------------------------------------

    def _load_model(self, sensor: SensorSource) -> None:
        # An applied over-the-air artifact (STATE_DIR/model) wins over the settings' model.
        model = self._sampler.model or self.updates.load_active()
        if model is None:
            log.info("event=no_model device=%s asset_kind=%s detail=%r", self.settings.device_id,
                     self.settings.asset_kind, "telemetry only")
            return
        model.check_inputs(tuple(c.name for c in sensor.channels), tuple(c.unit for c in sensor.channels))
        if model.info.kind not in (EventKind.ANOMALY.value, EventKind.RUL.value):
            raise ModelError(
                f"model {model.info.id} is a {model.info.kind!r} model; this agent runs anomaly and RUL models"
            )
        self._sampler.swap_model(model)

    def _check_channels(self, queue: OutboundQueue, sensor: SensorSource) -> None:
        """Refuse to label queued readings of one sensor layout with another's channels."""
        layout = ",".join(f"{c.name}:{c.unit}" for c in sensor.channels)
        stored = queue.info("channels")
        if stored not in (None, layout) and queue.stats().reading_depth:
            raise QueueError(
                f"{queue.state_dir} holds unsent readings of another sensor layout ({stored}); "
                "run with the previous --sensor until they are sent, or use another --state-dir"
            )
        model = self._sampler.model.info if self._sampler.model else None
        queue.set_info(channels=layout, asset_kind=self.settings.asset_kind, device_id=self.settings.device_id,
                       model_id=model.id if model else "", model_version=model.version if model else "")

    def _make_link(self, queue: OutboundQueue) -> MqttLink:
        s = self.settings
        return MqttLink(
            s.broker_url, f"edge-{s.tenant}-{s.device_id}",
            birth=lambda: self._state(DeviceStatus.ONLINE), will=lambda: self._state(DeviceStatus.OFFLINE),
            on_ack=functools.partial(self._on_ack, queue), max_inflight=s.max_inflight,
            clean_session=not s.persistent_session, keepalive_s=s.keepalive_s, backoff=self._backoff,
            command_topic=str(Topic(s.tenant, s.device_id, TopicKind.COMMANDS)), on_command=self._on_command,
            confirm_topic=str(Topic(s.tenant, s.device_id, TopicKind.CONFIRM)),
            on_confirm=functools.partial(self._on_confirm, queue),
            on_reconnect=self._resends.note_reconnected,
            ca_file=str(s.ca_file) if s.ca_file else None,
            credentials=load_credentials(s.state_dir, s.username, s.password_file),
        )

    def _on_command(self, command: Command) -> None:
        """On the link's thread: each command measures the clock offset, then its handler runs."""
        self.clock_offset_s = self._clock.time() - command.ts
        log.info("event=command name=%s message_id=%s clock_offset_s=%.3f", command.name,
                 command.message_id, self.clock_offset_s)
        self.commands.dispatch(command)

    def _rotate_credentials(self, command: Command) -> None:
        """Persist the new credentials first (a crash must not lose them), then reconnect with them."""
        credentials = Credentials.from_params(command.params)
        save_credentials(self.settings.state_dir, credentials)
        if self._link is not None:
            self._link.use_credentials(credentials)
        log.info("event=credentials_rotated username=%s", credentials.username)

    def _on_confirm(self, queue: OutboundQueue, confirm: Confirm) -> None:
        if apply_confirm(queue, confirm, self._resends) and self._flushing.is_set():
            self._wake.set()  # a stop waits for the last confirmations: check at once

    def _on_ack(self, queue: OutboundQueue, token: object) -> None:
        acknowledge(queue, token, self._resends)
        if self._publisher is not None and self._publisher.backlogged:
            self._wake.set()  # a slot is free and more is waiting: do not sit out the publish interval

    def _state(self, status: DeviceStatus) -> DeviceState:
        model = self._sampler.model.info if self._sampler.model else None
        health = self.health().as_dict() if status is DeviceStatus.ONLINE and self._queue is not None else {}
        if health and self._link is not None and self._link.username:
            health[HEALTH_USERNAME_KEY] = self._link.username  # proves to the cloud which credentials are in use
        if health:
            health.update(self.updates.health())
        return DeviceState(
            tenant=self.settings.tenant, device_id=self.settings.device_id, ts=self._clock.time(), status=status,
            asset_kind=self.settings.asset_kind, agent_version=agent_version(),
            model=ModelRef(model.id, model.version) if model else None, health=health,
        )

    def _model_ref_version(self) -> str:
        return self._sampler.model.info.version if self._sampler.model else ""

    # -- over-the-air updates: the agent as edge.updates.apply.ModelHost ---------------------

    def sensor_layout(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        assert self._sensor is not None
        return tuple(c.name for c in self._sensor.channels), tuple(c.unit for c in self._sensor.channels)

    def recent_window(self, size: int) -> npt.NDArray[np.floating[Any]] | None:
        return self._sampler.recent_window(size)

    def active_model(self) -> OnnxModel | None:
        return self._sampler.model

    def swap_model(self, model: OnnxModel | None) -> OnnxModel | None:
        return self._sampler.swap_model(model)

    def set_sample_rate(self, rate_hz: float) -> bool:
        return self._sampler.set_rate(rate_hz)

    def announce(self) -> None:
        """Send the state (with the update's outcome) at the publisher's next turn, not at the next heartbeat."""
        self._last_heartbeat = -math.inf
        self._wake.set()

    # -- publisher thread --------------------------------------------------------------------

    def _publish_loop(self) -> None:
        publisher = self._publisher
        assert publisher is not None
        retry_in: float | None = None  # when the drain's rate bound allows the next message
        while not self._stop_publishing.is_set():
            flushing = self._flushing.is_set()
            timeout = _FLUSH_POLL_S if flushing else self.settings.publish_interval_s
            self._wake.wait(timeout if retry_in is None else min(timeout, retry_in))
            self._wake.clear()
            self._maybe_heartbeat()
            retry_in = publisher.drain()
            if flushing and publisher.is_drained():
                self._drained.set()

    def _maybe_heartbeat(self) -> None:
        assert self._link is not None
        now = self._clock.monotonic()
        if now - self._last_heartbeat < self.settings.heartbeat_s or not self._link.connected:
            return
        self._last_heartbeat = now
        self._cpu_pct = self._cpu.percent()
        self._link.publish(self._state(DeviceStatus.ONLINE), retain=True, force=True)
