"""One pass of some work, repeated on a thread of the cloud service until it stops.

Rollouts, the notification outbox and the alarm sweep all need to move when nobody asks
(a deadline passes, a mail server comes back, an asset stays quiet). Each is a function
that does one pass; this runs it every `interval_s` of real time (the interval paces
database work, like a socket timeout would, so it is not the injected clock). A failing
pass is logged and retried at the next tick: it must not end the work for good.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from cloud.errors import CloudError

log = logging.getLogger(__name__)


class Periodic:
    """Runs `one_pass` every `interval_s` on a daemon thread named `name`.

    With `drain`, a pass that returns a truthy value (it did some work) runs again at once: a pass
    handles a batch, and after an outage many batches may be due.
    """

    def __init__(self, name: str, interval_s: float, one_pass: Callable[[], object], *, drain: bool = False,
                 join_timeout_s: float = 15.0) -> None:
        self.name, self._interval, self._pass = name, interval_s, one_pass
        self._drain, self._join_timeout = drain, join_timeout_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._join_timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                while self._pass() and self._drain and not self._stop.is_set():
                    pass
            except CloudError as exc:
                log.warning("%s pass failed, retrying in %.0f s: %s", self.name, self._interval, exc)
