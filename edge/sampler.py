"""The agent's sampler thread: read the sensor at the sampling rate, queue each reading, score windows.

Each tick reads the sensor, writes the reading to the durable queue, and every `hop`
samples (once the window is full) scores the window with the running model, enqueuing
an event when the model raises one. The running model and its window are swapped
under a lock (`swap_model`, for the over-the-air updater), so a window is never scored
by a model of another window length.

Every reading also feeds the usage meter (`edge.metering`), and every
`usage_interval_s` (on the clock) a usage report goes into the outbox's `usage` lane.

The period is 1 / `rate_hz`, which `set_rate` changes at run time (the cloud's desired
`sample_rate_hz`). The sampler's own thread takes the new rate up at its next tick and
tells a simulated sensor there too (`SteppedSource`: it advances its time by 1 / rate
per read), so the readings' pace and their simulated time never disagree. A replay
keeps its file's pace (`PacedSource`) and refuses another rate.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from contract.clock import Clock
from edge.errors import MeteringError, ModelError, QueueError, SensorError, SensorExhaustedError
from edge.inference import window_event
from edge.metering import UsageMeter
from edge.queue import OutboundQueue
from edge.runtime import OnnxModel
from edge.sensors import PacedSource, SensorSource, SteppedSource
from edge.settings import AgentSettings
from edge.window import SlidingWindow

log = logging.getLogger("edge.agent")

_SLEEP_SLICE_S = 0.1  # the sampler re-checks for stop (and a new rate) at least this often


class Sampler:
    """Samples one agent's sensor; `sensor`, `queue` and `meter` are attached at the agent's start, then `run()`."""

    def __init__(self, settings: AgentSettings, clock: Clock, *, model: OnnxModel | None, stop: threading.Event,
                 wake: threading.Event, observe_score: Callable[[bool], None]) -> None:
        self._settings = settings
        self._clock = clock
        self._stop = stop
        self._wake = wake  # set when the publisher should not wait for its interval
        self._observe_score = observe_score
        self.model = model
        self.rate_hz = settings.rate_hz
        self.sensor: SensorSource | None = None
        self.queue: OutboundQueue | None = None
        self.meter: UsageMeter | None = None
        self.exhausted = threading.Event()
        self.sensor_errors = 0
        self._window: SlidingWindow | None = None
        self._lock = threading.RLock()
        self._since_score = 0
        self._since_wake = 0

    # -- the rate ------------------------------------------------------------------------------

    @property
    def effective_rate_hz(self) -> float:
        """What the sampler runs at: a replay's own pace, else `rate_hz`."""
        sensor = self.sensor
        return 1.0 / sensor.period_s if isinstance(sensor, PacedSource) else self.rate_hz

    def set_rate(self, rate_hz: float) -> bool:
        """Sample at `rate_hz` from the next tick on (any thread); False for a replay, which keeps its pace."""
        if isinstance(self.sensor, PacedSource):
            return False
        self.rate_hz = rate_hz
        return True

    # -- the model -----------------------------------------------------------------------------

    def recent_window(self, size: int) -> npt.NDArray[np.floating[Any]] | None:
        with self._lock:
            window = self._window
            return window.array() if window is not None and window.full and window.size == size else None

    def swap_model(self, model: OnnxModel | None) -> OnnxModel | None:
        """Swap under the sampler's lock; a window of another length starts empty (it refills in W samples)."""
        assert self.sensor is not None
        with self._lock:
            previous, self.model = self.model, model
            if model is None:
                self._window = None
            elif self._window is None or self._window.size != model.info.window:
                self._window = SlidingWindow(model.info.window, len(self.sensor.channels))
            self._since_score = 0
        if self.queue is not None:
            info = model.info if model else None
            self.queue.set_info(model_id=info.id if info else "", model_version=info.version if info else "")
        return previous

    # -- the thread ----------------------------------------------------------------------------

    def run(self) -> None:
        paced = self.sensor if isinstance(self.sensor, PacedSource) else None
        followed: float | None = None  # the rate the sensor was last told
        next_at = self._clock.monotonic()
        usage_at = next_at + self._settings.usage_interval_s
        while not self._stop.is_set():
            followed = self._follow_rate(followed)
            self._sample_once()
            if self._clock.monotonic() >= usage_at:
                usage_at += self._settings.usage_interval_s
                self.report_usage()
            period = paced.period_s if paced is not None else 1.0 / self.rate_hz
            next_at += period
            now = self._clock.monotonic()
            if now - next_at > period:  # fell behind (slow disk, suspended VM): skip ticks instead of bursting
                next_at = now
            self._wait_until(next_at, period, paced is None)

    def _follow_rate(self, followed: float | None) -> float:
        rate = self.rate_hz
        if rate != followed and isinstance(self.sensor, SteppedSource):
            self.sensor.set_rate(rate)
        return rate

    def _wait_until(self, next_at: float, period: float, follows_rate: bool) -> None:
        # A rate changed while waiting moves the tick: a slow rate must not hold back a faster one.
        while not self._stop.is_set():
            if follows_rate and (new := 1.0 / self.rate_hz) != period:
                next_at, period = next_at + new - period, new
            remaining = next_at - self._clock.monotonic()
            if remaining <= 0:
                return
            self._clock.sleep(min(remaining, _SLEEP_SLICE_S))

    def _sample_once(self) -> None:
        assert self.sensor is not None and self.queue is not None
        try:
            values = self.sensor.read()
        except SensorExhaustedError as exc:
            log.info("event=sensor_exhausted detail=%r", str(exc))
            self.exhausted.set()
            self._stop.set()
            return
        except SensorError as exc:
            self.sensor_errors += 1
            if self.sensor_errors == 1 or self.sensor_errors % 100 == 0:
                log.error("event=sensor_error count=%d error=%r", self.sensor_errors, str(exc))
            return
        ts = self._clock.time()
        if self.meter is not None:
            self.meter.observe(values, ts)
        seq = self.queue.next_seq
        try:
            self.queue.put_reading(seq, ts, values)
        except QueueError as exc:
            self.queue.note_dropped(1)
            log.error("event=reading_dropped seq=%d error=%r", seq, str(exc))
            return
        self._since_wake += 1
        if self._since_wake >= self._settings.batch_max:
            self._since_wake = 0
            self._wake.set()
        with self._lock:
            if self._window is not None:
                self._window.push(values, ts)
                self._since_score += 1
                if self._window.full and self._since_score >= self._settings.hop:
                    self._since_score = 0
                    self._score(seq, ts)

    def report_usage(self) -> None:
        """Queue a usage report (usage lane, never dropped); a failure is logged, the next report covers it."""
        if self.meter is None or self.queue is None:
            return
        try:
            usage = self.meter.report(self._settings.tenant, self._settings.device_id)
            self.queue.put_usage(usage)
        except (MeteringError, QueueError) as exc:
            # The counters are cumulative: the next report carries this one's use too.
            log.error("event=usage_report_failed error=%r", str(exc))
            return
        log.info("event=usage_report seq=%d counters=%s", usage.seq, usage.counters)
        self._wake.set()

    def _score(self, seq: int, ts: float) -> None:
        assert self.model is not None and self._window is not None and self.queue is not None
        try:
            event = window_event(self.model, self._window, tenant=self._settings.tenant,
                                 device_id=self._settings.device_id, seq=seq, ts=ts)
        except ModelError as exc:
            log.error("event=score_failed seq=%d error=%r", seq, str(exc))
            self._observe_score(False)
            return
        self._observe_score(True)
        if event is None:
            return
        try:
            self.queue.put_event(event)
        except QueueError as exc:
            log.error("event=event_dropped seq=%d error=%r", seq, str(exc))
            return
        log.info("event=%s seq=%d score=%.3f threshold=%.3f", event.kind.value, seq, event.score, event.threshold)
        self._wake.set()
