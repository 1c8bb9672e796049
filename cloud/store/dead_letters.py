"""Dead letters: messages the ingest kept instead of storing, listed per tenant, replayed once the cause is fixed.

The ingest adds a row in the same transaction as the rest of its batch, so a message is
acknowledged to the broker only once it is stored or kept here. What a device may keep
here is bounded (`DeadLetterQuota`): a hostile device can fill only its own share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.errors import NotFoundError
from cloud.store.dead_letter_tables import DeadLetterRow
from cloud.store.scope import Scope

MAX_LIMIT = 10_000
MAX_TOPIC_CHARS = 1024  # a longer topic cannot be valid (each level <= 64 characters); kept cut, never refused
MAX_DETAIL_CHARS = 2000


@dataclass(frozen=True)
class DeadLetter:
    """A message to keep: as it arrived, why it was refused, and what could be read of it."""

    topic: str
    payload: bytes
    reason: str
    detail: str
    message_id: str | None = None
    tenant: str | None = None
    device_id: str | None = None


def add_dead_letter(session: Session, letter: DeadLetter, received_at: float) -> DeadLetterRow:
    row = DeadLetterRow(
        received_at=received_at, topic=letter.topic[:MAX_TOPIC_CHARS], payload=letter.payload,
        size=len(letter.payload), reason=letter.reason[:64], detail=letter.detail[:MAX_DETAIL_CHARS],
        message_id=letter.message_id, tenant=letter.tenant, device_id=letter.device_id,
    )
    session.add(row)
    return row


def get_dead_letter(session: Session, letter_id: int, scope: Scope) -> DeadLetterRow:
    row = session.scalars(
        sa.select(DeadLetterRow).where(DeadLetterRow.id == letter_id, scope.tenant_clause(DeadLetterRow.tenant))
    ).first()
    if row is None:
        raise NotFoundError(f"dead letter {letter_id} does not exist")
    return row


def list_dead_letters(
    session: Session,
    scope: Scope,
    reason: str | None = None,
    device_id: str | None = None,
    since: float | None = None,
    pending_only: bool = False,
    limit: int = 100,
) -> Sequence[DeadLetterRow]:
    """Dead letters within `scope` matching the filters, newest first (`pending_only`: not replayed yet)."""
    query = sa.select(DeadLetterRow).where(scope.tenant_clause(DeadLetterRow.tenant))
    if reason is not None:
        query = query.where(DeadLetterRow.reason == reason)
    if device_id is not None:
        query = query.where(DeadLetterRow.device_id == device_id)
    if since is not None:
        query = query.where(DeadLetterRow.received_at >= since)
    if pending_only:
        query = query.where(DeadLetterRow.replayed_at.is_(None))
    return session.scalars(query.order_by(DeadLetterRow.id.desc()).limit(min(limit, MAX_LIMIT))).all()


def held_by(session: Session, device_id: str | None) -> tuple[int, int]:
    """(rows, payload bytes) the device keeps here that were not replayed (`None`: rows without a device)."""
    owner = DeadLetterRow.device_id.is_(None) if device_id is None else DeadLetterRow.device_id == device_id
    count, size = session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(DeadLetterRow.size), 0))
        .where(owner, DeadLetterRow.replayed_at.is_(None))
    ).one()
    return int(count), int(size)


def mark_replayed(row: DeadLetterRow, stored: bool, result: str, now: float) -> None:
    """Record a replay: `replayed_at` is set only when it stored the message (a failed one may be tried again)."""
    row.replay_result = result[:MAX_DETAIL_CHARS]
    if stored:
        row.replayed_at = now
