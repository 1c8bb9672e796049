"""Advance running rollouts periodically, on a thread of the cloud service.

Devices report through the ingest at their own pace; a rollout must also move when
nobody asks (a deadline passing turns a device stuck), hence a timer rather than
only a hook on reported state. A failing pass is logged and retried at the next tick.
"""

from __future__ import annotations

import logging
import threading

from cloud.errors import CloudError
from cloud.registry.desired_state import CommandSender
from cloud.registry.rollouts import advance_running
from cloud.store.database import Database
from contract.clock import Clock

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 5.0


class RolloutTicker:
    def __init__(self, database: Database, clock: Clock, sender: CommandSender,
                 interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self._database, self._clock, self._sender, self._interval = database, clock, sender, interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rollout-ticker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def tick(self) -> int:
        with self._database.session() as session:
            return advance_running(session, self._clock.time(), self._sender)

    def _run(self) -> None:
        # Real time between passes: the interval paces database work, like a socket timeout would.
        while not self._stop.wait(self._interval):
            try:
                self.tick()
            except CloudError as exc:
                log.warning("rollout pass failed, retrying in %.0f s: %s", self._interval, exc)
