"""The ingest worker: batches deliveries into transactions and acknowledges them once committed.

If a batch cannot be stored, its messages are retried one by one: a message that
fails on its own while the stores answer is a poison message (rejected, logged,
acknowledged), and so is one that trips an unexpected error; while the stores do
not answer, the worker backs off and retries, holding the acknowledgements, so the
broker keeps the messages.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from cloud.errors import StoreError
from cloud.ingest.handler import MessageHandler
from cloud.ingest.subscriber import Delivery
from contract.backoff import Backoff

log = logging.getLogger(__name__)

POLL_S = 0.1


class IngestWorker:
    """Consumes deliveries on its own thread; `ack` is called for each one after it is committed."""

    def __init__(
        self,
        handler: MessageHandler,
        ack: Callable[[Delivery], None],
        batch_max: int = 500,
        linger_s: float = 0.05,
        backoff: Backoff | None = None,
    ) -> None:
        self._handler = handler
        self._ack = ack
        self._batch_max = batch_max
        self._linger_s = linger_s
        self._backoff = backoff or Backoff(base_s=0.5, cap_s=30.0)
        self._queue: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._idle = threading.Event()
        self._thread: threading.Thread | None = None

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

    def _process(self, batch: list[Delivery]) -> None:
        try:
            self._handler.apply([(d.topic, d.payload) for d in batch])
        except Exception as exc:  # StoreError, or a bug one message triggers: find it by going one by one
            log.error("storing a batch of %d messages failed (%s); retrying them one by one", len(batch), exc)
            for delivery in batch:
                if not self._process_alone(delivery):
                    return  # stopping while the stores are down: the broker keeps the rest
            return
        self._backoff.reset()
        for delivery in batch:
            self._ack(delivery)

    def _process_alone(self, delivery: Delivery) -> bool:
        """Store one message, retrying while the stores are down; False if stopped before it was."""
        failed_while_reachable = False
        while True:
            try:
                self._handler.apply([(delivery.topic, delivery.payload)])
            except StoreError as exc:
                if self._handler.stores_reachable():
                    # The stores may have come back just after this attempt failed: only a second failure
                    # with the stores answering in between makes the message a poison one.
                    if not failed_while_reachable:
                        failed_while_reachable = True
                        continue
                    self._handler.reject_unstorable(delivery.topic, str(exc))
                    self._ack(delivery)
                    return True
                failed_while_reachable = False
                delay = self._backoff.next_delay()
                log.error("the stores do not answer (%s); retrying in %.1f s", exc, delay)
                if self._stopping.wait(delay):
                    return False
                continue
            except Exception as exc:  # a bug must not stop the ingest: this message is set aside, the rest go on
                log.exception("storing a message failed unexpectedly")
                self._handler.reject_unstorable(delivery.topic, repr(exc), reason="internal_error")
                self._ack(delivery)
                return True
            self._backoff.reset()
            self._ack(delivery)
            return True
