"""Sending approved offers: each goes to the customer's preferred channel through the notification outbox.

Only an `approved` offer is ever queued (anything else is a `TransitionError`), and only
while the customer still consents to personalised offers and every purpose the offer
relied on; without, it is withdrawn instead. The outbox row is added in the caller's
transaction (cloud.notify.events explains why), keyed by the offer, so delivering twice
queues one message. A customer without a contact point gets a `no_contact` row, sent once
one is set and the row retried.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.audit.trail import Change
from cloud.consent.ledger import Purpose, has_consent
from cloud.errors import TransitionError
from cloud.notify.contacts import contact_of
from cloud.notify.events import address_of
from cloud.store.account_tables import CustomerRow
from cloud.store.database import insert_ignoring_duplicates
from cloud.store.notify_tables import NotificationKind, NotificationRow, NotificationStatus, RecipientKind
from cloud.store.offer_tables import OfferRow, OfferStatus

log = logging.getLogger(__name__)


def deliver(session: Session, offer: OfferRow, now: float) -> Change:
    """Queue the approved offer for its customer (status `sent`), or withdraw it if consent is gone."""
    if offer.status != OfferStatus.APPROVED.value:
        raise TransitionError(f"offer {offer.id} is {offer.status}: only an approved offer is sent")
    before = {"status": offer.status}
    missing = [p for p in (Purpose.PERSONALISED_OFFERS, *map(Purpose, offer.purposes))
               if not has_consent(session, offer.customer_id, p)]
    if missing:
        offer.status, offer.reason = OfferStatus.WITHDRAWN.value, f"no consent to {missing[0].value}"
        offer.decided_at = now
        return Change("offer.withdraw", "offer", str(offer.id), offer.tenant, before,
                      {"status": offer.status, "reason": offer.reason})
    offer.notification_id = _enqueue(session, offer, now)
    offer.status, offer.sent_at = OfferStatus.SENT.value, now
    return Change("offer.send", "offer", str(offer.id), offer.tenant, before,
                  {"status": offer.status, "notification_id": offer.notification_id})


def deliver_approved(session: Session, tenant: str | None, now: float) -> list[Change]:
    """The job: deliver every approved offer of `tenant` (None: all) not yet sent; the changes to audit."""
    select = sa.select(OfferRow).where(OfferRow.status == OfferStatus.APPROVED.value).order_by(OfferRow.id)
    if tenant is not None:
        select = select.where(OfferRow.tenant == tenant)
    return [deliver(session, offer, now) for offer in session.scalars(select).all()]


def _enqueue(session: Session, offer: OfferRow, now: float) -> int:
    customer = session.get(CustomerRow, offer.customer_id)
    target = address_of(contact_of(session, RecipientKind.CUSTOMER, offer.customer_id), RecipientKind.CUSTOMER)
    if target is None:
        log.warning("customer %s of tenant %s has no contact point: offer %s waits as no_contact",
                    offer.customer_id, offer.tenant, offer.id)
    facts: dict[str, Any] = {
        "offer_id": offer.id, "title": offer.title, "explanation": offer.explanation,
        "expected_value": str(offer.expected_value), "currency": offer.currency, "kind": offer.kind,
        "name": None if customer is None else customer.name,
    }
    key = f"offer:{offer.id}"
    values = {
        "tenant": offer.tenant, "dedupe_key": key, "delivery_id": uuid.uuid4().hex,
        "kind": NotificationKind.OFFER.value, "recipient_kind": RecipientKind.CUSTOMER.value,
        "recipient_id": offer.customer_id, "order_id": None, "channel": None if target is None else target[0].value,
        "address": None if target is None else target[1], "facts": facts,
        "status": (NotificationStatus.PENDING if target is not None else NotificationStatus.NO_CONTACT).value,
        "attempts": 0, "next_attempt_at": now, "created_at": now,
    }
    session.flush()
    table = cast(sa.Table, NotificationRow.__table__)
    session.execute(insert_ignoring_duplicates(session.get_bind().dialect.name, table), values)
    notification_id = session.scalar(sa.select(NotificationRow.id).where(NotificationRow.dedupe_key == key))
    assert notification_id is not None  # inserted now, or by an earlier call
    return notification_id
