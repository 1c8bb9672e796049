"""The demo's faster clock: the real clock, which the demo may move forward at once (never back).

A billing period can only be closed once it has ended. The demo's fleet runs for seconds
in the month under way, so after the fleet has run and its work is done, the demo jumps
the service's clock to just after the month's end and closes that month: the statement
bills the readings the simulated fleet really sent. Everything later (the API left up with
`--keep-serving`) runs on the moved clock, consistently.
"""

from __future__ import annotations

import threading
import time


class DemoClock:
    """`contract.clock.Clock`: system time plus an offset that `jump_to` only ever grows."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def jump_to(self, ts: float) -> None:
        """From now on, time continues from `ts` (if that is ahead)."""
        with self._lock:
            self._offset = max(self._offset, ts - time.time())
