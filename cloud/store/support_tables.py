"""The tables of "always a human": a customer's request for a person, and the people's answers to it.

A request keeps a snapshot of the customer's whole history as it was when it was asked
(`history`: assets, work orders, offers, statements, notifications), so the planner who
answers sees what the customer saw, even after later changes. `first_answered_at` is set
once, by the first answer, and never moved: time to a human is measured from it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cloud.store.base import ID_LEN, Base

_BIGINT_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class AboutKind(StrEnum):
    """What a request is about: the thing the customer asked from (or nothing in particular)."""

    STATEMENT = "statement"
    OFFER = "offer"
    NOTIFICATION = "notification"
    WORK_ORDER = "work_order"


class HelpStatus(StrEnum):
    OPEN = "open"  # waiting for a person's first answer
    ANSWERED = "answered"  # a person answered; more answers may follow
    CLOSED = "closed"  # done: nothing more is expected


ABOUT_KINDS = tuple(k.value for k in AboutKind)
HELP_STATUSES = tuple(s.value for s in HelpStatus)


class HelpRequestRow(Base):
    """A customer's request to talk to a person, with the history it was asked against."""

    __tablename__ = "help_requests"
    __table_args__ = (
        sa.CheckConstraint(f"status IN {HELP_STATUSES!r}", name="ck_help_requests_status"),
        sa.CheckConstraint(f"about_kind IS NULL OR about_kind IN {ABOUT_KINDS!r}", name="ck_help_requests_about_kind"),
        sa.Index("ix_help_requests_tenant_status", "tenant", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN))
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    about_kind: Mapped[str | None] = mapped_column(sa.String(16), default=None, doc="NULL: nothing in particular")
    about_id: Mapped[int | None] = mapped_column(_BIGINT_ID, default=None)
    message: Mapped[str] = mapped_column(sa.Text)
    complaint: Mapped[bool] = mapped_column(default=False, server_default=sa.false(),
                                            doc="the customer (or the planner) calls it a complaint")
    status: Mapped[str] = mapped_column(sa.String(16))
    history: Mapped[dict[str, Any]] = mapped_column(sa.JSON, doc="snapshot of the customer's history when asked")
    created_at: Mapped[float]
    created_by: Mapped[str] = mapped_column(sa.String(200), doc="who asked: the customer, or a planner for it")
    first_answered_at: Mapped[float | None] = mapped_column(default=None, doc="set once, by the first answer")
    first_answered_by: Mapped[str | None] = mapped_column(sa.String(200), default=None)
    closed_at: Mapped[float | None] = mapped_column(default=None)
    closed_by: Mapped[str | None] = mapped_column(sa.String(200), default=None)


class HelpAnswerRow(Base):
    """One answer of a person to a help request; append-only."""

    __tablename__ = "help_answers"
    __table_args__ = (sa.Index("ix_help_answers_request", "request_id", "id"),)

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("help_requests.id"))
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN))
    message: Mapped[str] = mapped_column(sa.Text)
    answered_by: Mapped[str] = mapped_column(sa.String(200))
    answered_at: Mapped[float]
