"""The notification tables: who is told where (contact points), and the durable outbox of what is to be sent.

A notification is a row before it is a message: it is added in the transaction that
decided it (an assignment, a visit window), so it exists exactly when the decision does,
and a sender (cloud.notify.outbox) delivers it later, retrying until the server accepts
it. `dedupe_key` is unique: deciding the same thing twice adds no second message.
`delivery_id` is fixed when the row is made and sent with every attempt (the e-mail's
Message-ID, the webhook's delivery header), so a receiver can drop a repeat.

A webhook's secret is kept as is, not hashed: signing a body needs the secret itself.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cloud.store.base import ID_LEN, Base

_BIGINT_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
EMAIL_LEN = 254  # RFC 5321's limit on a forward path
URL_LEN = 2048


class Channel(StrEnum):
    """How a recipient is reached."""

    EMAIL = "email"
    WEBHOOK = "webhook"


class RecipientKind(StrEnum):
    TECHNICIAN = "technician"
    CUSTOMER = "customer"


class NotificationKind(StrEnum):
    ASSIGNMENT = "assignment"  # a technician's new task
    VISIT_WINDOW = "visit_window"  # a customer told when a technician comes
    HELP_ANSWER = "help_answer"  # a customer told that a person answered its help request
    OFFER = "offer"  # a customer sent an offer a planner approved (cloud.offers.delivery)


class NotificationStatus(StrEnum):
    """Where a notification stands; only `pending` rows are sent."""

    PENDING = "pending"  # to be sent at `next_attempt_at` (also while an attempt is under way)
    SENT = "sent"  # the server or receiver accepted it
    FAILED = "failed"  # given up after the last attempt or a permanent refusal; an operator may retry it
    NO_CONTACT = "no_contact"  # the recipient has no contact point: nobody was told (retry once one is set)


CHANNELS = tuple(c.value for c in Channel)
RECIPIENT_KINDS = tuple(k.value for k in RecipientKind)
NOTIFICATION_KINDS = tuple(k.value for k in NotificationKind)
NOTIFICATION_STATUSES = tuple(s.value for s in NotificationStatus)


class ContactPointRow(Base):
    """Where one technician or customer is told things: an e-mail address, or (customers) a signed webhook."""

    __tablename__ = "contact_points"
    __table_args__ = (
        sa.CheckConstraint(f"recipient_kind IN {RECIPIENT_KINDS!r}", name="ck_contact_points_recipient_kind"),
        sa.CheckConstraint(f"channel IN {CHANNELS!r}", name="ck_contact_points_channel"),
    )

    recipient_kind: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    recipient_id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    email: Mapped[str | None] = mapped_column(sa.String(EMAIL_LEN), default=None)
    webhook_url: Mapped[str | None] = mapped_column(sa.String(URL_LEN), default=None)
    webhook_secret: Mapped[str | None] = mapped_column(sa.String(128), default=None, doc="HMAC key; never shown again")
    updated_at: Mapped[float]


class NotificationRow(Base):
    """One message in the outbox: to whom, over which channel, what about (`facts`), and how sending went."""

    __tablename__ = "notifications"
    __table_args__ = (
        sa.CheckConstraint(f"status IN {NOTIFICATION_STATUSES!r}", name="ck_notifications_status"),
        sa.CheckConstraint(f"kind IN {NOTIFICATION_KINDS!r}", name="ck_notifications_kind"),
        sa.CheckConstraint(f"recipient_kind IN {RECIPIENT_KINDS!r}", name="ck_notifications_recipient_kind"),
        sa.Index("ix_notifications_due", "status", "next_attempt_at"),
        sa.Index("ix_notifications_tenant_created", "tenant", "created_at"),
    )

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN))
    dedupe_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    delivery_id: Mapped[str] = mapped_column(sa.String(64), unique=True, doc="same on every attempt")
    kind: Mapped[str] = mapped_column(sa.String(16))
    recipient_kind: Mapped[str] = mapped_column(sa.String(16))
    recipient_id: Mapped[int] = mapped_column(_BIGINT_ID)
    order_id: Mapped[int | None] = mapped_column(_BIGINT_ID, default=None, index=True)
    channel: Mapped[str | None] = mapped_column(sa.String(16), default=None, doc="NULL: no contact point")
    address: Mapped[str | None] = mapped_column(sa.String(URL_LEN), default=None, doc="e-mail address or URL")
    facts: Mapped[dict[str, Any]] = mapped_column(doc="what the message says, rendered when sent")
    status: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[float]
    claim: Mapped[str | None] = mapped_column(sa.String(32), default=None, doc="the attempt under way")
    last_error: Mapped[str | None] = mapped_column(sa.Text, default=None)
    created_at: Mapped[float]
    sent_at: Mapped[float | None] = mapped_column(default=None)
