"""Telling a customer that a person answered its help request: a `help_answer` row in the notification outbox.

Added in the answer's own transaction (never committed here), so a committed answer always
has its message; by the customer's preferred channel (cloud.notify.events.address_of), or
with status `no_contact` when the customer has none. One message per answer (`dedupe_key`).
"""

from __future__ import annotations

import uuid
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.notify.contacts import contact_of
from cloud.notify.events import address_of
from cloud.store.account_tables import CustomerRow
from cloud.store.database import insert_ignoring_duplicates
from cloud.store.notify_tables import NotificationKind, NotificationRow, NotificationStatus, RecipientKind
from cloud.store.support_tables import HelpAnswerRow, HelpRequestRow

ANSWER_EXCERPT = 2000  # the message carries the answer's start; the whole is at the request's URL


def enqueue_help_answer(session: Session, request: HelpRequestRow, answer: HelpAnswerRow, now: float) -> int:
    """Queue telling the request's customer of `answer`; the outbox row's id."""
    session.flush()  # the answer's id first: it names the message
    customer = session.get(CustomerRow, request.customer_id)
    target = address_of(contact_of(session, RecipientKind.CUSTOMER, request.customer_id), RecipientKind.CUSTOMER)
    key = f"help_answer:{request.id}:{answer.id}"
    facts = {"request_id": request.id, "answer_id": answer.id, "answer": answer.message[:ANSWER_EXCERPT],
             "answered_by": answer.answered_by.partition(":")[2] or answer.answered_by,
             "name": None if customer is None else customer.name}
    status = NotificationStatus.PENDING if target is not None else NotificationStatus.NO_CONTACT
    values = {
        "tenant": request.tenant, "dedupe_key": key, "delivery_id": uuid.uuid4().hex,
        "kind": NotificationKind.HELP_ANSWER.value, "recipient_kind": RecipientKind.CUSTOMER.value,
        "recipient_id": request.customer_id, "order_id": None,
        "channel": None if target is None else target[0].value, "address": None if target is None else target[1],
        "facts": facts, "status": status.value, "attempts": 0, "next_attempt_at": now, "created_at": now,
    }
    table = cast(sa.Table, NotificationRow.__table__)
    session.execute(insert_ignoring_duplicates(session.get_bind().dialect.name, table), values)
    notification_id = session.scalar(sa.select(NotificationRow.id).where(NotificationRow.dedupe_key == key))
    assert notification_id is not None  # inserted now, or by an earlier call
    return notification_id
