"""The durable outbox's sender: claim due notifications, send each, record how it went, retry with back-off.

Failure model:
- A row is claimed in a short transaction of its own: `attempts` + 1, a claim token, and
  `next_attempt_at` moved `CLAIM_S` ahead. On PostgreSQL the due rows are read
  `FOR UPDATE SKIP LOCKED` and each claim is a compare-and-set (`WHERE` still due), so two
  cloud processes never hold the same row; a process that dies mid-attempt leaves a claim
  that expires, and the row is due again.
- The message is sent outside any transaction (an SMTP server may take seconds).
- Accepted: the row is marked `sent` at once, in its own transaction. Refused or no
  answer: the error is kept and the next attempt is due after a full-jitter exponential
  back-off; after `max_attempts`, or on a permanent refusal, the row is `failed` (kept,
  listed, retryable by an operator).
- Never lost: a row leaves `pending` only when a server accepted it or it was given up
  on visibly. Never sent twice, but for one window: a crash after the server accepted a
  message and before `sent` was recorded makes the claim expire and the message be sent
  again, with the same Message-ID / `X-Paas-Delivery-Id`, by which a receiver drops it.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.errors import DeliveryError
from cloud.notify.contacts import contact_of
from cloud.notify.notifier import Notifier, OutgoingMessage
from cloud.notify.texts import TextContext, render
from cloud.periodic import Periodic
from cloud.store.database import Database
from cloud.store.notify_tables import Channel, NotificationKind, NotificationRow, NotificationStatus, RecipientKind
from contract.clock import Clock

log = logging.getLogger(__name__)

CLAIM_S = 300.0  # longer than any notifier's timeout: an attempt still unfinished by then is presumed dead
BATCH = 50
ERROR_LEN = 500


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again: full jitter over an exponential ceiling (`first_s`, doubling, capped at `max_s`)."""

    first_s: float = 30.0
    max_s: float = 3600.0
    max_attempts: int = 20

    def delay(self, attempts: int, rng: random.Random) -> float:
        """Seconds until the next attempt after `attempts` failed ones."""
        ceiling = min(self.max_s, self.first_s * 2.0 ** min(max(attempts - 1, 0), 60))
        return rng.uniform(0.0, ceiling)


@dataclass(frozen=True)
class Claimed:
    """One row claimed for one attempt, with all the attempt needs (read inside the claim's transaction)."""

    id: int
    claim: str
    attempts: int
    message: OutgoingMessage | None  # None: nothing can be sent (why in `problem`)
    problem: str = ""


class OutboxSender:
    """Sends due notifications through the notifier of each row's channel; `send_due` is one pass."""

    def __init__(
        self, database: Database, clock: Clock, notifiers: Mapping[Channel, Notifier], texts: TextContext,
        policy: RetryPolicy | None = None, rng: random.Random | None = None, interval_s: float = 5.0,
    ) -> None:
        self._database, self._clock, self._notifiers, self._texts = database, clock, notifiers, texts
        self._policy = policy or RetryPolicy()
        self._rng = rng or random.SystemRandom()
        # A pass that got some accepted runs again at once: more may be due (a backlog after an outage).
        self._periodic = Periodic("notify-outbox", interval_s, self.send_due, drain=True, join_timeout_s=60)

    def start(self) -> None:
        self._periodic.start()

    def stop(self) -> None:
        self._periodic.stop()

    def send_due(self, limit: int = BATCH) -> int:
        """Attempt every due notification (up to `limit`); how many were accepted."""
        accepted = 0
        for claimed in self._claim(limit):
            accepted += self._attempt(claimed)
        return accepted

    def _claim(self, limit: int) -> list[Claimed]:
        now = self._clock.time()
        with self._database.session() as session:
            due = (sa.select(NotificationRow.id)
                   .where(NotificationRow.status == NotificationStatus.PENDING.value,
                          NotificationRow.next_attempt_at <= now)
                   .order_by(NotificationRow.next_attempt_at, NotificationRow.id).limit(limit)
                   .with_for_update(skip_locked=True))  # SQLite has one writer and ignores this
            claims = []
            for notification_id in session.scalars(due).all():
                claim = uuid.uuid4().hex
                taken = session.execute(
                    sa.update(NotificationRow)
                    .where(NotificationRow.id == notification_id,
                           NotificationRow.status == NotificationStatus.PENDING.value,
                           NotificationRow.next_attempt_at <= now)
                    .values(claim=claim, attempts=NotificationRow.attempts + 1, next_attempt_at=now + CLAIM_S)
                    .execution_options(synchronize_session=False))
                if getattr(taken, "rowcount", 0) == 1:
                    row = session.get(NotificationRow, notification_id, populate_existing=True)
                    if row is not None:
                        claims.append(self._prepare(session, row, claim))
        return claims

    def _prepare(self, session: Session, row: NotificationRow, claim: str) -> Claimed:
        if row.channel is None or row.address is None:
            return Claimed(row.id, claim, row.attempts, None, "no contact point")
        channel = Channel(row.channel)
        secret = None
        if channel is Channel.WEBHOOK:
            contact = contact_of(session, RecipientKind(row.recipient_kind), row.recipient_id)
            secret = None if contact is None else contact.webhook_secret
        try:
            rendered = render(NotificationKind(row.kind), row.facts, row.delivery_id, self._texts)
        except (KeyError, TypeError, ValueError) as exc:  # a row no release can word: fail it, not every pass
            return Claimed(row.id, claim, row.attempts, None, f"cannot word notification: {type(exc).__name__}: {exc}")
        message = OutgoingMessage(row.delivery_id, channel, row.address, rendered.subject, rendered.text,
                                  rendered.payload, secret)
        return Claimed(row.id, claim, row.attempts, message)

    def _attempt(self, claimed: Claimed) -> int:
        try:
            if claimed.message is None:
                raise DeliveryError(claimed.problem, permanent=True)
            notifier = self._notifiers.get(claimed.message.channel)
            if notifier is None:
                raise DeliveryError(f"no notifier for {claimed.message.channel.value} in this service")
            notifier.send(claimed.message)
        except DeliveryError as exc:
            self._failed(claimed, exc)
            return 0
        self._finish(claimed, status=NotificationStatus.SENT.value, sent_at=self._clock.time(), last_error=None)
        log.info("notification %s sent (attempt %d)", claimed.id, claimed.attempts)
        return 1

    def _failed(self, claimed: Claimed, exc: DeliveryError) -> None:
        now = self._clock.time()
        if exc.permanent or claimed.attempts >= self._policy.max_attempts:
            log.warning("notification %s failed after %d attempts: %s", claimed.id, claimed.attempts, exc)
            self._finish(claimed, status=NotificationStatus.FAILED.value, next_attempt_at=now,
                         last_error=str(exc)[:ERROR_LEN])
            return
        wait = self._policy.delay(claimed.attempts, self._rng)
        log.info("notification %s not accepted (attempt %d), next in %.0f s: %s", claimed.id, claimed.attempts,
                 wait, exc)
        self._finish(claimed, next_attempt_at=now + wait, last_error=str(exc)[:ERROR_LEN])

    def _finish(self, claimed: Claimed, **values: Any) -> None:
        """Record the attempt's outcome, if the row is still this attempt's (an operator may have reset it)."""
        with self._database.session() as session:
            done = session.execute(
                sa.update(NotificationRow)
                .where(NotificationRow.id == claimed.id, NotificationRow.claim == claimed.claim)
                .values(claim=None, **values).execution_options(synchronize_session=False))
            if getattr(done, "rowcount", 0) != 1:
                log.warning("notification %s changed during its attempt; outcome not recorded", claimed.id)
