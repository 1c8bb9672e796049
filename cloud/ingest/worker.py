"""The ingest worker: batches deliveries into transactions, acknowledges them once committed, then confirms them.

Each delivery is first held to its device's budget (cloud.ingest.limits). A batch is
stored in one transaction; once it commits, every message of it is stored or kept as a
dead letter, so all are acknowledged to the broker and then confirmed to their devices
(best effort: a lost confirmation makes the device re-send, and the dedupe makes that
harmless). When a batch fails, the failure decides (cloud.ingest.failures):

- the database cannot take anything now (disconnect, disk full, read-only, lock
  timeout): nothing is acknowledged; the worker backs off with full jitter and retries
  the same batch, and `problem` says why until a batch commits again (/healthz: 503);
- the database refuses some data (a constraint or data error), or a message trips a bug:
  the batch is retried one message at a time, and the one that fails on its own is kept
  as a dead letter (`store_constraint` or `internal_error`), acknowledged and confirmed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from cloud.errors import StoreError
from cloud.ingest.failures import INTERNAL_ERROR, STORE_CONSTRAINT, is_transient
from cloud.ingest.handler import MessageHandler, Outcome, Refusal
from cloud.ingest.limits import RATE_LIMITED, DeviceLimits, device_key
from cloud.ingest.subscriber import Delivery
from contract.backoff import Backoff

log = logging.getLogger(__name__)

POLL_S = 0.1


class IngestWorker:
    """Consumes deliveries on its own thread; `ack` is called for each one after it is committed, then `confirm`."""

    def __init__(
        self,
        handler: MessageHandler,
        ack: Callable[[Delivery], None],
        batch_max: int = 500,
        linger_s: float = 0.05,
        backoff: Backoff | None = None,
        confirm: Callable[[Sequence[Outcome]], None] | None = None,
        limits: DeviceLimits | None = None,
    ) -> None:
        self._handler = handler
        self._ack = ack
        self._confirm = confirm
        self._limits = limits
        self._batch_max = batch_max
        self._linger_s = linger_s
        self._backoff = backoff or Backoff(base_s=0.5, cap_s=30.0)
        self._queue: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._problem: str | None = None

    @property
    def problem(self) -> str | None:
        """Why the ingest cannot store messages right now (None: it can)."""
        return self._problem

    def submit(self, delivery: Delivery) -> None:
        self._queue.put(delivery)

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="cloud-ingest", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Finish what is queued (if the stores answer), then stop."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=timeout_s)
            if thread.is_alive():
                log.error("the ingest worker did not stop within %.0f s", timeout_s)

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch:
                self._process(batch)
            elif self._stopping.is_set():
                return

    def _next_batch(self) -> list[Delivery]:
        """Up to `batch_max` deliveries: waits for the first, then `linger_s` for more."""
        try:
            batch = [self._queue.get(timeout=POLL_S)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self._linger_s
        while len(batch) < self._batch_max:
            remaining = deadline - time.monotonic()
            try:
                batch.append(self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _refusals(self, batch: list[Delivery]) -> dict[int, Refusal]:
        """The deliveries over their device's budget, by index (decided once, whatever retries follow)."""
        if self._limits is None:
            return {}
        refused: dict[int, Refusal] = {}
        for index, delivery in enumerate(batch):
            why = self._limits.refusal(delivery.topic, len(delivery.payload))
            if why is not None:
                # Not confirmed: the agent keeps it and re-sends it once its budget has refilled.
                refused[index] = Refusal(RATE_LIMITED, f"device {device_key(delivery.topic)!r} is {why}", False)
        return refused

    def _process(self, batch: list[Delivery]) -> None:
        refused = self._refusals(batch)
        messages = [(d.topic, d.payload) for d in batch]
        while True:
            try:
                outcomes = self._handler.apply(messages, refused)
            except Exception as exc:
                if is_transient(exc):
                    if self._wait_out(exc):
                        continue
                    return  # stopping while the stores are down: the broker keeps the batch
                # A message the database refuses, or a bug one message triggers: find it by going one by one.
                log.error("storing a batch of %d messages failed (%s); retrying them one by one", len(batch), exc)
                for index, delivery in enumerate(batch):
                    if not self._process_alone(delivery, refused.get(index)):
                        return  # stopping while the stores are down: the broker keeps the rest
                return
            self._finish(batch, outcomes)
            return

    def _process_alone(self, delivery: Delivery, refusal: Refusal | None) -> bool:
        """Store (or keep) one message, retrying while the stores are down; False if stopped before it was."""
        refused = {} if refusal is None else {0: refusal}
        while True:
            try:
                outcomes = self._handler.apply([(delivery.topic, delivery.payload)], refused)
            except StoreError as exc:
                if is_transient(exc):
                    if self._wait_out(exc):
                        continue
                    return False
                return self._set_aside(delivery, STORE_CONSTRAINT, str(exc))
            except Exception as exc:  # a bug must not stop the ingest: this message is set aside, the rest go on
                log.exception("storing a message failed unexpectedly")
                return self._set_aside(delivery, INTERNAL_ERROR, repr(exc))
            self._finish([delivery], outcomes)
            return True

    def _set_aside(self, delivery: Delivery, reason: str, detail: str) -> bool:
        """Keep a message that cannot be stored as a dead letter; False if stopped while the stores were down."""
        while True:
            try:
                outcome = self._handler.dead_letter(delivery.topic, delivery.payload, reason, detail)
            except StoreError as exc:  # transient: the handler itself gives up on a letter the store refuses
                if self._wait_out(exc):
                    continue
                return False
            self._finish([delivery], [outcome])
            return True

    def _wait_out(self, exc: Exception) -> bool:
        """Back off while the stores cannot take anything; False when stopping meanwhile."""
        self._problem = f"the stores cannot take messages: {exc}"
        delay = self._backoff.next_delay()
        log.error("%s; nothing acknowledged, retrying in %.1f s", self._problem, delay)
        return not self._stopping.wait(delay)

    def _finish(self, deliveries: list[Delivery], outcomes: Sequence[Outcome]) -> None:
        """Committed: acknowledge every delivery to the broker, then confirm to the devices (best effort)."""
        self._problem = None
        self._backoff.reset()
        for delivery in deliveries:
            self._ack(delivery)
        if self._confirm is None:
            return
        try:
            self._confirm(outcomes)
        except Exception:  # a confirmation is best effort: the device re-sends, the dedupe absorbs it
            log.exception("confirming a stored batch failed")
