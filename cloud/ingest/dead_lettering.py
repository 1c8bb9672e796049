"""Keeping what the ingest refuses: each message as a dead letter, within its device's share of the store.

A device may keep at most `max_rows` dead letters not yet replayed, and `max_bytes` of
their payloads (`DeadLetterBudget`, from cloud.settings). Past that, what it sends that
cannot be stored is dropped: acknowledged so it cannot block the ingest, counted
(`dead_letters_dropped`) and logged, and never confirmed, so an agent keeps it and sends
it again later. This bounds what a hostile device can make the cloud keep to its own share,
while the device's rate budget (cloud.ingest.limits) bounds how fast it can try.

The shares are counted in memory, loaded per device from the store when first needed and
looked at again when a device reaches its share (a replay frees room) at most every
`RECOUNT_S` seconds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from cloud.ingest.peek import Peek
from cloud.store.dead_letters import DeadLetter, add_dead_letter, held_by
from contract.clock import Clock
from contract.errors import ProtocolError
from contract.wire import Topic

log = logging.getLogger(__name__)

RECOUNT_S = 30.0
MAX_TRACKED = 100_000


@dataclass(frozen=True)
class DeadLetterBudget:
    """What one device may keep in the dead-letter store (rows not replayed yet, and their payload bytes)."""

    max_rows: int
    max_bytes: int


@dataclass
class _Share:
    rows: int
    size: int
    counted_at: float
    full: bool = False  # logged once when it fills, not per message dropped


class DeadLetterKeeper:
    """Adds dead letters to the caller's transaction, each within its device's share."""

    def __init__(self, budget: DeadLetterBudget, clock: Clock) -> None:
        self._budget, self._clock = budget, clock
        self._shares: dict[str | None, _Share] = {}
        self._lock = threading.Lock()

    def keep(self, session: Session, topic: str, payload: bytes, reason: str, detail: str,
             seen: Callable[[], Peek], now: float) -> Peek | None:
        """Add the message to `session` as a dead letter and return what was read of it (`seen`, called only then);
        None when its device's share is full (not kept, and not read: a flood past its share costs little)."""
        device_id = _device_of(topic)
        if not self._admit(session, device_id, len(payload)):
            return None
        read = seen()
        letter = DeadLetter(_printable(topic), payload, reason, _printable(detail), read.message_id, read.tenant,
                            read.device_id)
        add_dead_letter(session, letter, now)
        return read

    def forget(self) -> None:
        """Drop the counts (after a rolled-back transaction: the rows it added are not there)."""
        with self._lock:
            self._shares.clear()

    def _admit(self, session: Session, device_id: str | None, size: int) -> bool:
        with self._lock:
            share = self._shares.get(device_id)
            now = self._clock.monotonic()
            if share is None or (not self._fits(share, size) and now - share.counted_at >= RECOUNT_S):
                if len(self._shares) >= MAX_TRACKED:
                    self._shares.clear()
                share = self._shares[device_id] = _Share(*held_by(session, device_id), counted_at=now)
            if not self._fits(share, size):
                if not share.full:
                    log.warning("device %s holds its full share of dead letters (%d, %d bytes): what else it sends "
                                "that cannot be stored is dropped, unconfirmed, until some are replayed",
                                device_id, share.rows, share.size)
                share.full = True
                return False
            share.full = False
            share.rows += 1
            share.size += size
            return True

    def _fits(self, share: _Share, size: int) -> bool:
        return share.rows + 1 <= self._budget.max_rows and share.size + size <= self._budget.max_bytes


def _device_of(topic: str) -> str | None:
    try:
        return Topic.parse(topic).device_id
    except ProtocolError:
        return None


def _printable(text: str) -> str:
    """Without NUL, which PostgreSQL's text cannot hold (a refused message must still be kept)."""
    return text.replace("\x00", "\ufffd")
