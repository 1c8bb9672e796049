"""A customer's record beyond its name: language and contacts; its preferred channel is read from cloud.notify.

The channel is not copied here: the customer's contact point (e-mail or webhook) is the one
place it lives, so the notifier and this record can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from cloud.auth.accounts import get_customer
from cloud.errors import NotFoundError
from cloud.notify.contacts import contact_of
from cloud.store.account_tables import CustomerRow
from cloud.store.contract_tables import CustomerDetailsRow
from cloud.store.notify_tables import RecipientKind
from cloud.store.scope import Scope

DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class CustomerRecord:
    """What the directory knows of a customer."""

    row: CustomerRow
    language: str
    contacts: list[dict[str, Any]]
    preferred_channel: str | None

    def fields(self) -> dict[str, Any]:
        """As written to the audit trail."""
        return {"name": self.row.name, "language": self.language, "contacts": self.contacts}


def customer_record(session: Session, scope: Scope, customer_id: int) -> CustomerRecord:
    """The customer's record (NotFoundError outside the scope; a customer principal sees only its own)."""
    row = get_customer(session, scope, customer_id)
    if scope.customer_id is not None and scope.customer_id != customer_id:
        raise NotFoundError(f"customer {customer_id} does not exist")  # another customer: as if there were none
    details = session.get(CustomerDetailsRow, customer_id)
    contact = contact_of(session, RecipientKind.CUSTOMER, customer_id)
    return CustomerRecord(
        row=row, language=DEFAULT_LANGUAGE if details is None else details.language,
        contacts=[] if details is None else list(details.contacts),
        preferred_channel=None if contact is None else contact.channel,
    )


def update_customer_record(session: Session, scope: Scope, customer_id: int, language: str | None,
                           contacts: list[dict[str, Any]] | None, now: float) -> tuple[CustomerRecord, CustomerRecord]:
    """Set the fields given (None: unchanged); the record (before, after)."""
    before = customer_record(session, scope, customer_id)
    details = session.get(CustomerDetailsRow, customer_id)
    if details is None:
        details = CustomerDetailsRow(customer_id=customer_id, language=DEFAULT_LANGUAGE, contacts=[], updated_at=now)
        session.add(details)
    if language is not None:
        details.language = language
    if contacts is not None:
        details.contacts = contacts
    details.updated_at = now
    session.flush()
    return before, customer_record(session, scope, customer_id)
