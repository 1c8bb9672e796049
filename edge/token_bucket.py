"""A token bucket: at most `rate` messages per second on average, bursts of up to `burst`.

Why the drain is paced: after a long outage the outbox may hold days of readings,
and a fleet reconnecting after a broker restart would otherwise push them all at
once, flooding the broker and the ingest just when they are recovering. The bucket
bounds each device's backlog drain; live traffic (well under the rate) never waits.
"""

from __future__ import annotations

from contract.clock import Clock


class TokenBucket:
    """`take()` a token per message sent; `wait_s()` says how long until the next one is there."""

    def __init__(self, rate: float, burst: float, clock: Clock) -> None:
        if not rate > 0 or not burst >= 1:
            raise ValueError(f"a token bucket needs rate > 0 and burst >= 1, got {rate}, {burst}")
        self.rate, self.burst = rate, burst
        self._clock = clock
        self._tokens = burst
        self._at = clock.monotonic()

    def take(self) -> None:
        """Spend one token (the caller checked `wait_s()` first)."""
        self._refill()
        self._tokens -= 1.0

    def wait_s(self) -> float:
        """Seconds until a token is available (0 if one is)."""
        self._refill()
        return max(0.0, (1.0 - self._tokens) / self.rate)

    def _refill(self) -> None:
        now = self._clock.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
