"""Notifications as people see them: list a tenant's outbox by status, and retry one (operators and planners).

A retry resolves the recipient's contact point again (so a `no_contact` row is sent once
one is set, and a changed address is used) and makes the row due now with a fresh count
of attempts. A row already `sent` is not sent again (409), nor one whose attempt is under
way (409: it might be accepted a moment later, and then it would arrive twice).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.audit.trail import Change
from cloud.errors import ConflictError, NotFoundError
from cloud.notify.contacts import contact_of
from cloud.notify.events import address_of
from cloud.store.notify_tables import NotificationRow, NotificationStatus, RecipientKind
from cloud.store.scope import Scope

MAX_LIMIT = 1000


def list_notifications(
    session: Session, scope: Scope, status: NotificationStatus | None = None, order_id: int | None = None,
    limit: int = 100,
) -> Sequence[NotificationRow]:
    """The scope's notifications, newest first."""
    select = sa.select(NotificationRow).where(scope.tenant_clause(NotificationRow.tenant))
    if status is not None:
        select = select.where(NotificationRow.status == status.value)
    if order_id is not None:
        select = select.where(NotificationRow.order_id == order_id)
    return session.scalars(select.order_by(NotificationRow.id.desc()).limit(min(limit, MAX_LIMIT))).all()


def get_notification(session: Session, scope: Scope, notification_id: int) -> NotificationRow:
    row = session.get(NotificationRow, notification_id)
    if row is None or not scope.owns(row.tenant):
        raise NotFoundError(f"notification {notification_id} does not exist")
    return row


def retry_notification(session: Session, scope: Scope, notification_id: int, now: float) -> tuple[NotificationRow,
                                                                                                  Change]:
    """Make the notification due now, to its recipient's current contact point; the change to audit."""
    row = get_notification(session, scope, notification_id)
    if row.status == NotificationStatus.SENT:
        raise ConflictError(f"notification {notification_id} was sent at {row.sent_at}; it is not sent twice")
    if row.claim is not None and row.next_attempt_at > now:
        raise ConflictError(f"notification {notification_id} is being sent now; look again in a minute")
    before = {"status": row.status, "attempts": row.attempts, "channel": row.channel, "address": row.address}
    recipient = RecipientKind(row.recipient_kind)
    target = address_of(contact_of(session, recipient, row.recipient_id), recipient)
    row.channel, row.address = (None, None) if target is None else (target[0].value, target[1])
    row.status = (NotificationStatus.NO_CONTACT if target is None else NotificationStatus.PENDING).value
    row.attempts, row.next_attempt_at, row.claim, row.last_error = 0, now, None, None
    session.flush()
    after = {"status": row.status, "attempts": 0, "channel": row.channel, "address": row.address}
    return row, Change("notification.retry", "notification", str(row.id), row.tenant, before, after)
