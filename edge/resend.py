"""When to send again what the broker acknowledged but the cloud has not confirmed.

The broker's PUBACK only says the broker took a message; a broker that crashes
before its autosave, or that lost the ingest's session, never delivers it. So every
acknowledged telemetry batch, event and usage report is remembered here with the
time of its PUBACK, and once `timeout_s` has passed without the cloud's Confirm
removing its rows from the outbox, the publisher sends what is left of it again
(the cloud dedupes, so a re-send of something it has is harmless).

Why the default timeout (`--confirm-timeout`, 60 s): the cloud confirms after it
commits a batch, within about a second when it keeps up; a backlog it is working
through (after an ingest restart) takes longer. Too short, and a slow but healthy
cloud receives everything twice; too long, and a reading the broker lost reaches
the cloud that much later. A minute is far beyond a healthy confirmation and short
against the outages the outbox exists for.

Back-off: while no Confirm at all arrives (the cloud is down, or is an old one that
never confirms), sending everything again and again would only pile duplicates into
the broker's queue for the ingest. So each re-send round that starts without a
Confirm since the previous one waits longer: `timeout_s` plus a full-jitter
exponential delay (`contract.backoff.Backoff`, base `timeout_s`, capped at
`RESEND_CAP_S`); the first Confirm resets it. A fleet's re-sends are thus spread,
and a cloud that comes back confirms new readings within seconds, which brings the
re-sends of what the broker lost back to `timeout_s`.

Reconnects: the agent's session is clean by default, so a Confirm the cloud
published while the agent was disconnected (a broker restart, a network outage) is
never delivered. After a reconnect, what was awaiting its Confirm is therefore due
`RECONNECT_GRACE_S` later (at most `timeout_s`) instead of a whole timeout after
its PUBACK: the cloud dedupes the re-send and confirms again. Not while the cloud is
silent (the back-off has grown): then a flaky link would only re-send more into the
void.

This schedule lives in memory, per run: rows still kept at a restart are all sent
again by the next run anyway (the publisher starts with fresh cursors). The clock
is the injected one's `monotonic()`, so tests tick it.
"""

from __future__ import annotations

import threading
from collections import deque

from contract.backoff import Backoff
from contract.clock import Clock
from edge.queue import LANE_EVENT, LANE_TELEMETRY, LANE_USAGE, AckToken, EventToken

RESEND_CAP_S = 3600.0  # the longest extra wait between re-send rounds while the cloud stays silent
RECONNECT_GRACE_S = 5.0  # after a reconnect: time for the cloud's own reconnect and redelivery, then re-send
LANES = (LANE_EVENT, LANE_USAGE, LANE_TELEMETRY)  # the publisher's order: events, usage, telemetry


def lane_of(token: AckToken) -> int:
    return token.lane if isinstance(token, EventToken) else LANE_TELEMETRY


class Resends:
    """Acknowledged tokens per lane, oldest first, and which of them are due for a re-send; thread-safe."""

    def __init__(self, timeout_s: float, clock: Clock, backoff: Backoff | None = None) -> None:
        self.timeout_s = timeout_s
        self._clock = clock
        self._backoff = backoff or Backoff(base_s=timeout_s, cap_s=max(timeout_s, RESEND_CAP_S))
        self._wait_s = timeout_s
        self._round_ends = -1.0  # monotonic time the current re-send round ends; < 0: none yet
        self._confirmed = False  # a Confirm arrived since the current round began
        self._acked: dict[int, deque[tuple[float, AckToken]]] = {lane: deque() for lane in LANES}
        self._lock = threading.Lock()
        self.resent = 0  # tokens handed again (this run)

    @property
    def wait_s(self) -> float:
        """How long an acknowledged token waits for its Confirm now (grows while the cloud is silent)."""
        with self._lock:
            return self._wait_s

    def note_acked(self, token: AckToken) -> None:
        """The broker acknowledged `token` (on the link's thread): its Confirm is awaited from now."""
        with self._lock:
            self._acked[lane_of(token)].append((self._clock.monotonic(), token))

    def note_confirmed(self) -> None:
        """A Confirm arrived: the cloud is there, so a re-send waits `timeout_s` again."""
        with self._lock:
            self._confirmed = True
            self._wait_s = self.timeout_s
            self._backoff.reset()

    def note_reconnected(self) -> None:
        """The link reconnected: Confirms sent meanwhile are lost, so what awaits one is due soon (unless silent)."""
        with self._lock:
            if self._wait_s > self.timeout_s:
                return  # the cloud has been silent: the back-off stands
            # Due `grace` from now at the latest; min() keeps each lane's queue in time order.
            latest = self._clock.monotonic() - self._wait_s + min(RECONNECT_GRACE_S, self.timeout_s)
            for lane, pending in self._acked.items():
                self._acked[lane] = deque((min(at, latest), token) for at, token in pending)

    def due(self, lane: int) -> AckToken | None:
        """The oldest token of `lane` whose Confirm is overdue, left in place until `done`/`skip`."""
        with self._lock:
            pending = self._acked[lane]
            if not pending or pending[0][0] + self._wait_s > self._clock.monotonic():
                return None
            return pending[0][1]

    def done(self, lane: int, resent: bool) -> None:
        """The token `due` gave was sent again (`resent`) or has nothing left to send: forget it.

        A re-send's PUBACK brings it back through `note_acked`, so it is awaited anew.
        """
        now = self._clock.monotonic()
        with self._lock:
            if self._acked[lane]:
                self._acked[lane].popleft()
            if not resent:
                return
            self.resent += 1
            if now >= self._round_ends:  # a new round: longer if the cloud stayed silent through the last one
                if self._round_ends >= 0 and not self._confirmed:
                    self._wait_s = self.timeout_s + self._backoff.next_delay()
                self._round_ends, self._confirmed = now + self._wait_s, False

    def pending(self) -> int:
        """Tokens awaiting their Confirm (acknowledged in this run)."""
        with self._lock:
            return sum(len(q) for q in self._acked.values())
