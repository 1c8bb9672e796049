"""Who is told where: a technician by e-mail; a customer by e-mail or a signed webhook, as it prefers.

Each technician and customer has at most one contact point. Setting one is a change like
any other (the caller audits it); a webhook's signing secret is made here, shown to the
caller once, and never written to the audit trail or a log.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from cloud.audit.trail import Change
from cloud.errors import NotFoundError
from cloud.store.account_tables import CustomerRow, TechnicianRow
from cloud.store.notify_tables import Channel, ContactPointRow, RecipientKind
from cloud.store.scope import Scope

SECRET_PREFIX = "whsec_"


@dataclass(frozen=True)
class CustomerContact:
    """How a customer wants to be told: `email` for e-mail, `webhook_url` for a webhook."""

    channel: Channel
    email: str | None = None
    webhook_url: str | None = None
    rotate_secret: bool = False


def contact_of(session: Session, kind: RecipientKind, recipient_id: int) -> ContactPointRow | None:
    """The recipient's contact point, or None (for the service: no scope)."""
    return session.get(ContactPointRow, (kind.value, recipient_id))


def technician_contact(session: Session, scope: Scope, technician_id: int) -> ContactPointRow | None:
    """The technician's contact point (None: none set); `NotFoundError` for a technician outside the scope."""
    _technician(session, scope, technician_id)
    return contact_of(session, RecipientKind.TECHNICIAN, technician_id)


def customer_contact(session: Session, scope: Scope, customer_id: int) -> ContactPointRow | None:
    """The customer's contact point (None: none set); `NotFoundError` for a customer outside the scope."""
    _customer(session, scope, customer_id)
    return contact_of(session, RecipientKind.CUSTOMER, customer_id)


def set_technician_email(
    session: Session, scope: Scope, technician_id: int, email: str, now: float
) -> tuple[ContactPointRow, Change]:
    """Tell the technician at `email` from now on."""
    technician = _technician(session, scope, technician_id)
    row = contact_of(session, RecipientKind.TECHNICIAN, technician_id)
    before = None if row is None else _shown(row)
    if row is None:
        row = ContactPointRow(recipient_kind=RecipientKind.TECHNICIAN.value, recipient_id=technician_id,
                              tenant=technician.tenant, channel=Channel.EMAIL.value, updated_at=now)
        session.add(row)
    row.channel, row.email, row.webhook_url, row.webhook_secret = Channel.EMAIL.value, email, None, None
    row.updated_at = now
    session.flush()
    return row, Change("contact.set", RecipientKind.TECHNICIAN.value, str(technician_id), technician.tenant,
                       before, _shown(row))


def set_customer_contact(
    session: Session, scope: Scope, customer_id: int, contact: CustomerContact, now: float
) -> tuple[ContactPointRow, str | None, Change]:
    """Tell the customer as `contact` says; the new webhook secret (when one was made) is returned, once."""
    customer = _customer(session, scope, customer_id)
    row = contact_of(session, RecipientKind.CUSTOMER, customer_id)
    before = None if row is None else _shown(row)
    if row is None:
        row = ContactPointRow(recipient_kind=RecipientKind.CUSTOMER.value, recipient_id=customer_id,
                              tenant=customer.tenant, channel=contact.channel.value, updated_at=now)
        session.add(row)
    new_secret = None
    if contact.channel is Channel.WEBHOOK:
        # A secret survives a change of URL (the receiver keeps verifying) unless a new one is asked for.
        if contact.rotate_secret or not row.webhook_secret:
            new_secret = row.webhook_secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        row.email, row.webhook_url = None, contact.webhook_url
    else:
        row.email, row.webhook_url, row.webhook_secret = contact.email, None, None
    row.channel, row.updated_at = contact.channel.value, now
    session.flush()
    after = {**_shown(row), **({"webhook_secret": "new"} if new_secret else {})}
    return row, new_secret, Change("contact.set", RecipientKind.CUSTOMER.value, str(customer_id), customer.tenant,
                                   before, after)


def _shown(row: ContactPointRow) -> dict[str, str | None]:
    """What the audit trail keeps of a contact point: never the secret."""
    return {"channel": row.channel, "email": row.email, "webhook_url": row.webhook_url}


def _technician(session: Session, scope: Scope, technician_id: int) -> TechnicianRow:
    row = session.get(TechnicianRow, technician_id)
    if row is None or not scope.owns(row.tenant):
        raise NotFoundError(f"technician {technician_id} does not exist")
    return row


def _customer(session: Session, scope: Scope, customer_id: int) -> CustomerRow:
    row = session.get(CustomerRow, customer_id)
    if row is None or not scope.owns(row.tenant) or scope.customer_id not in (None, customer_id):
        raise NotFoundError(f"customer {customer_id} does not exist")
    return row
