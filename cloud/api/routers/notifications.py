"""The notification outbox as operators and planners see it: what is pending, failed or sent, and a retry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.deps import NowDep, SessionDep
from cloud.api.notify_schemas import NotificationPublic
from cloud.api.params import MAX_ROW_ID, RowIdPath
from cloud.api.timestamps import optional_utc, utc
from cloud.auth.roles import Permission
from cloud.notify.review import MAX_LIMIT, list_notifications, retry_notification
from cloud.store.notify_tables import (
    Channel,
    NotificationKind,
    NotificationRow,
    NotificationStatus,
    RecipientKind,
)

router = APIRouter(prefix="/notifications", tags=["notifications"])


@router.get("", dependencies=[allow(Permission.NOTIFICATIONS_READ)])
def read_notifications(
    session: SessionDep,
    principal: PrincipalDep,
    status: Annotated[NotificationStatus | None, Query(description="only those in this state")] = None,
    order_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID, description="only those about this work order")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> list[NotificationPublic]:
    """The tenant's notifications, newest first: who was told what, over which channel, and how sending went."""
    rows = list_notifications(session, principal.scope, status, order_id, limit)
    return [notification_public(row) for row in rows]


@router.post("/{notification_id}/retry", dependencies=[allow(Permission.NOTIFICATIONS_RETRY)], responses={
    404: {}, 409: {"description": "it was sent already, or is being sent now"}})
def retry(notification_id: RowIdPath, session: SessionDep, auditor: AuditDep, now: NowDep) -> NotificationPublic:
    """Send it again, now, to the recipient's current contact point (`no_contact` if it still has none)."""
    row, change = retry_notification(session, auditor.principal.scope, notification_id, now)
    auditor.record(change)
    session.commit()
    return notification_public(row)


def notification_public(row: NotificationRow) -> NotificationPublic:
    pending = row.status == NotificationStatus.PENDING
    return NotificationPublic(
        id=row.id, tenant=row.tenant, kind=NotificationKind(row.kind), recipient_kind=RecipientKind(row.recipient_kind),
        recipient_id=row.recipient_id, order_id=row.order_id,
        channel=None if row.channel is None else Channel(row.channel), address=row.address,
        status=NotificationStatus(row.status), attempts=row.attempts,
        next_attempt_at=optional_utc(row.next_attempt_at) if pending else None, last_error=row.last_error,
        created_at=utc(row.created_at), sent_at=optional_utc(row.sent_at),
    )
