"""What is worth telling: a technician's new assignment, a customer's visit window; each queued in the outbox.

Both functions add rows in the caller's session and never commit: the notification is
part of the decision's transaction, so a committed assignment always has its message and a
rolled-back one never does. The recipient is resolved from its contact point now (a
technician by e-mail; a customer by its preferred channel). One without a contact point
gets a row all the same, with status `no_contact`: visible at `GET /api/v1/notifications`,
and sent once a contact point is set and the row is retried. Each row's `dedupe_key` names
what it is about; queueing the same thing again adds nothing.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.notify.contacts import contact_of
from cloud.store.account_tables import CustomerRow, TechnicianRow
from cloud.store.database import insert_ignoring_duplicates
from cloud.store.notify_tables import (
    Channel,
    ContactPointRow,
    NotificationKind,
    NotificationRow,
    NotificationStatus,
    RecipientKind,
)

log = logging.getLogger(__name__)


def enqueue_assignment(
    session: Session, *, tenant: str, technician_id: int, order_id: int, device_id: str, window_start: float,
    window_end: float, site: str | None, now: float, reason: str = "",
) -> list[int]:
    """Queue telling the technician of a new task (`reason`: why this technician, why now); the outbox row ids."""
    technician = session.get(TechnicianRow, technician_id)
    facts = _facts(order_id, device_id, window_start, window_end, None if technician is None else technician.name)
    facts |= {"site": site, "reason": reason}
    key = f"assignment:{order_id}:{technician_id}:{int(window_start)}"
    return [_enqueue(session, tenant, key, NotificationKind.ASSIGNMENT, RecipientKind.TECHNICIAN, technician_id,
                     order_id, facts, now)]


def enqueue_visit_window(
    session: Session, *, tenant: str, customer_id: int, order_id: int, device_id: str, window_start: float,
    window_end: float, now: float,
) -> list[int]:
    """Queue telling the customer when a technician comes, by its preferred channel; the outbox row ids."""
    customer = session.get(CustomerRow, customer_id)
    facts = _facts(order_id, device_id, window_start, window_end, None if customer is None else customer.name)
    key = f"visit_window:{order_id}:{customer_id}:{int(window_start)}"
    return [_enqueue(session, tenant, key, NotificationKind.VISIT_WINDOW, RecipientKind.CUSTOMER, customer_id,
                     order_id, facts, now)]


def address_of(contact: ContactPointRow | None, kind: RecipientKind) -> tuple[Channel, str] | None:
    """The channel and address to use for a recipient of `kind` (technicians: e-mail only), or None."""
    if contact is None:
        return None
    if contact.channel == Channel.WEBHOOK and kind is RecipientKind.CUSTOMER and contact.webhook_url:
        return Channel.WEBHOOK, contact.webhook_url
    if contact.email:
        return Channel.EMAIL, contact.email
    return None


def _facts(order_id: int, device_id: str, window_start: float, window_end: float, name: str | None) -> dict[str, Any]:
    return {"order_id": order_id, "device_id": device_id, "window_start": window_start, "window_end": window_end,
            "name": name}


def _enqueue(
    session: Session, tenant: str, key: str, kind: NotificationKind, recipient: RecipientKind, recipient_id: int,
    order_id: int, facts: dict[str, Any], now: float,
) -> int:
    target = address_of(contact_of(session, recipient, recipient_id), recipient)
    if target is None:
        log.warning("%s %s of tenant %s has no contact point: not notified of %s (%s)", recipient.value,
                    recipient_id, tenant, kind.value, key)
    status = NotificationStatus.PENDING if target is not None else NotificationStatus.NO_CONTACT
    values = {
        "tenant": tenant, "dedupe_key": key, "delivery_id": uuid.uuid4().hex, "kind": kind.value,
        "recipient_kind": recipient.value, "recipient_id": recipient_id, "order_id": order_id,
        "channel": None if target is None else target[0].value, "address": None if target is None else target[1],
        "facts": facts, "status": status.value, "attempts": 0, "next_attempt_at": now, "created_at": now,
    }
    session.flush()  # the caller's pending rows (the order, its assignment) first, as the database would see them
    table = cast(sa.Table, NotificationRow.__table__)
    session.execute(insert_ignoring_duplicates(session.get_bind().dialect.name, table), values)
    notification_id = session.scalar(sa.select(NotificationRow.id).where(NotificationRow.dedupe_key == key))
    assert notification_id is not None  # inserted now, or by an earlier call
    return notification_id
