"""Ingest counters, safe to read from any thread while the worker updates them."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class IngestStats:
    """A snapshot: messages accepted, rejected per reason, and readings newly stored.

    Every rejected message is counted under its reason and is either `dead_lettered` (kept, replayable) or
    `dead_letters_dropped` (its device's share of the dead-letter store was full: not kept, not confirmed).
    `confirmations_sent`: Confirm messages handed to the broker connection after a commit.
    """

    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    readings_stored: int = 0
    duplicate_readings: int = 0
    duplicate_events: int = 0
    events_stored: int = 0
    work_orders_opened: int = 0
    usage_stored: int = 0
    duplicate_usage: int = 0
    dead_lettered: int = 0
    dead_letters_dropped: int = 0
    confirmations_sent: int = 0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


class IngestCounters:
    """The live counters behind `IngestStats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._rejected: Counter[str] = Counter()

    def add(self, **amounts: int) -> None:
        with self._lock:
            self._counts.update(amounts)

    def reject(self, reason: str) -> None:
        with self._lock:
            self._rejected[reason] += 1

    def snapshot(self) -> IngestStats:
        with self._lock:
            counts = dict(self._counts)
            rejected = dict(self._rejected)
        return IngestStats(
            accepted=counts.get("accepted", 0),
            rejected=rejected,
            readings_stored=counts.get("readings_stored", 0),
            duplicate_readings=counts.get("duplicate_readings", 0),
            duplicate_events=counts.get("duplicate_events", 0),
            events_stored=counts.get("events_stored", 0),
            work_orders_opened=counts.get("work_orders_opened", 0),
            usage_stored=counts.get("usage_stored", 0),
            duplicate_usage=counts.get("duplicate_usage", 0),
            dead_lettered=counts.get("dead_lettered", 0),
            dead_letters_dropped=counts.get("dead_letters_dropped", 0),
            confirmations_sent=counts.get("confirmations_sent", 0),
        )
