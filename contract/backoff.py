"""Exponential back-off with full jitter.

Full jitter (a uniform delay between 0 and the exponential cap) spreads a fleet's
reconnects after a broker restart; paho's built-in back-off has none, so 10,000
devices would otherwise come back in lock-step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays for successive retries: uniform(0, min(cap, base * 2**attempt))."""

    base_s: float = 0.5
    cap_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        """The delay before the next retry; each call counts one more failure."""
        ceiling = min(self.cap_s, self.base_s * (2 ** min(self.attempt, 32)))
        self.attempt += 1
        return self.rng.uniform(0.0, ceiling)

    def reset(self) -> None:
        """Forget past failures (call after a success)."""
        self.attempt = 0
