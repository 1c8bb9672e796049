"""Advance running rollouts periodically, on a thread of the cloud service.

Devices report through the ingest at their own pace; a rollout must also move when
nobody asks (a deadline passing turns a device stuck), hence a timer rather than
only a hook on reported state. A failing pass is logged and retried at the next tick.
"""

from __future__ import annotations

from cloud.periodic import Periodic
from cloud.registry.desired_state import CommandSender
from cloud.registry.rollouts import advance_running
from cloud.store.database import Database
from contract.clock import Clock

DEFAULT_INTERVAL_S = 5.0


class RolloutTicker:
    def __init__(self, database: Database, clock: Clock, sender: CommandSender,
                 interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self._database, self._clock, self._sender = database, clock, sender
        self._periodic = Periodic("rollout-ticker", interval_s, self.tick)

    def start(self) -> None:
        self._periodic.start()

    def stop(self) -> None:
        self._periodic.stop()

    def tick(self) -> int:
        with self._database.session() as session:
            return advance_running(session, self._clock.time(), self._sender)
