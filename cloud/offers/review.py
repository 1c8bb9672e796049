"""The human side of offers: a planner approves or rejects a draft, the customer accepts or declines what it was
sent, and a withdrawn consent stops every offer that relied on it and has not yet gone out.

Every function changes rows in the caller's session and returns the audit `Change` (or
changes) to record in the same transaction; none commits. A move from the wrong status is
a `TransitionError` (409), so nothing skips the planner: only `approve` leads towards
sending, and only from `draft`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.audit.trail import Change
from cloud.consent.ledger import Purpose
from cloud.errors import NotFoundError, TransitionError
from cloud.store.notify_tables import NotificationRow, NotificationStatus
from cloud.store.offer_tables import OfferRow, OfferStatus
from cloud.store.scope import Scope

# What a customer may see of its offers: those sent to it, never a draft or a planner's decision against one.
CUSTOMER_VISIBLE = (OfferStatus.SENT, OfferStatus.ACCEPTED, OfferStatus.DECLINED)
# Offers a withdrawal stops: not yet out of the door (a sent one is stopped while its message still waits).
STOPPABLE = (OfferStatus.DRAFT, OfferStatus.APPROVED, OfferStatus.SENT)
# Outbox rows of an offer that have not reached the customer (a failed one could be retried by an operator).
UNSENT = (NotificationStatus.PENDING, NotificationStatus.NO_CONTACT, NotificationStatus.FAILED)


def offers_clause(scope: Scope) -> sa.ColumnElement[bool]:
    """Offers within the scope: its tenant's; for a customer only its own, and only those sent to it."""
    clause = scope.tenant_clause(OfferRow.tenant)
    if scope.customer_id is not None:
        clause = sa.and_(clause, OfferRow.customer_id == scope.customer_id,
                         OfferRow.status.in_([s.value for s in CUSTOMER_VISIBLE]))
    return clause


def list_offers(session: Session, scope: Scope, status: OfferStatus | None = None,
                customer_id: int | None = None) -> Sequence[OfferRow]:
    select = sa.select(OfferRow).where(offers_clause(scope)).order_by(OfferRow.id)
    if status is not None:
        select = select.where(OfferRow.status == status.value)
    if customer_id is not None:
        select = select.where(OfferRow.customer_id == customer_id)
    return session.scalars(select).all()


def get_offer(session: Session, scope: Scope, offer_id: int) -> OfferRow:
    row = session.scalar(sa.select(OfferRow).where(OfferRow.id == offer_id, offers_clause(scope)))
    if row is None:
        raise NotFoundError(f"offer {offer_id} does not exist")
    return row


def approve(session: Session, scope: Scope, offer_id: int, actor: str, note: str | None, now: float
            ) -> tuple[OfferRow, Change]:
    """A planner lets the draft go out (cloud.offers.delivery sends it)."""
    row = get_offer(session, scope, offer_id)
    before = _state(row)
    _move(row, OfferStatus.DRAFT, OfferStatus.APPROVED, "approve")
    row.decided_by, row.decided_at, row.reason = actor[:200], now, note
    return row, _change("offer.approve", row, before)


def reject(session: Session, scope: Scope, offer_id: int, actor: str, reason: str, now: float
           ) -> tuple[OfferRow, Change]:
    """A planner decides against the draft, saying why; it is never sent."""
    row = get_offer(session, scope, offer_id)
    before = _state(row)
    _move(row, OfferStatus.DRAFT, OfferStatus.REJECTED, "reject")
    row.decided_by, row.decided_at, row.reason = actor[:200], now, reason
    return row, _change("offer.reject", row, before)


def respond(session: Session, scope: Scope, offer_id: int, accept: bool, note: str | None, now: float
            ) -> tuple[OfferRow, Change]:
    """The customer accepts or declines an offer it was sent."""
    row = get_offer(session, scope, offer_id)
    before = _state(row)
    target = OfferStatus.ACCEPTED if accept else OfferStatus.DECLINED
    _move(row, OfferStatus.SENT, target, "accept" if accept else "decline")
    row.responded_at, row.response_note = now, note
    return row, _change(f"offer.{'accept' if accept else 'decline'}", row, before)


def stop_offers(session: Session, customer_id: int, purpose: Purpose, reason: str, now: float) -> list[Change]:
    """Withdraw the customer's offers that relied on `purpose` and have not reached it; their waiting messages go.

    Called in the transaction that records the withdrawal, so it holds from that commit on.
    """
    rows = session.scalars(sa.select(OfferRow).where(
        OfferRow.customer_id == customer_id, OfferRow.status.in_([s.value for s in STOPPABLE]))
        .order_by(OfferRow.id)).all()
    changes = []
    for row in rows:
        if purpose.value not in row.purposes:
            continue
        if row.status == OfferStatus.SENT and not _recall(session, row):
            continue  # the message already reached the customer: the offer stands, the customer may answer it
        before = _state(row)
        row.status, row.reason, row.decided_at = OfferStatus.WITHDRAWN.value, reason, now
        changes.append(_change("offer.withdraw", row, before))
    return changes


def _recall(session: Session, row: OfferRow) -> bool:
    """Delete the offer's message if it has not been sent; whether it was still waiting."""
    if row.notification_id is None:
        return True
    message = session.get(NotificationRow, row.notification_id)
    if message is None:
        return True
    if message.status not in [s.value for s in UNSENT] or message.claim is not None:
        return False  # sent, or an attempt is under way: it may be out already
    session.delete(message)
    row.notification_id = None
    return True


def _move(row: OfferRow, source: OfferStatus, target: OfferStatus, action: str) -> None:
    if row.status != source.value:
        raise TransitionError(f"offer {row.id} is {row.status}: only a {source.value} offer can {action}")
    row.status = target.value


def _state(row: OfferRow) -> dict[str, Any]:
    return {"status": row.status}


def _change(action: str, row: OfferRow, before: dict[str, Any]) -> Change:
    after = {"status": row.status, "kind": row.kind, "customer_id": row.customer_id}
    if row.reason is not None:
        after["reason"] = row.reason
    return Change(action, "offer", str(row.id), row.tenant, before, after)
