"""Recording a customer's consent or its withdrawal, with what must follow at once.

The one way consents change (routes, the CLI, tests): the ledger entry, the offers a
withdrawal stops (cloud.offers.review.stop_offers), and the audit changes, all in the
caller's transaction. Who may record for whom is the route's business: a customer for
itself, a planner or administrator for a customer of its tenant (with the source saying
where the customer said it).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from cloud.audit.trail import Change
from cloud.auth.accounts import get_customer
from cloud.consent.ledger import Purpose, append
from cloud.errors import NotFoundError
from cloud.offers.review import stop_offers
from cloud.store.consent_tables import ConsentRow
from cloud.store.scope import Scope


def set_consent(session: Session, scope: Scope, customer_id: int, purpose: Purpose, granted: bool, source: str,
                text: str, recorded_by: str, now: float) -> tuple[ConsentRow, list[Change]]:
    """Append the customer's answer for `purpose`; a withdrawal withdraws the offers that relied on it."""
    if scope.customer_id is not None and scope.customer_id != customer_id:
        raise NotFoundError(f"customer {customer_id} does not exist")  # another customer's: as if missing
    customer = get_customer(session, scope, customer_id)
    row = append(session, customer.tenant, customer.id, purpose, granted, source, text, recorded_by, now)
    changes = [Change("consent.grant" if granted else "consent.withdraw", "consent", f"{customer.id}:{purpose.value}",
                      customer.tenant, None, {"granted": granted, "source": source, "entry_id": row.id})]
    if not granted:
        changes += stop_offers(session, customer.id, purpose, f"consent to {purpose.value} withdrawn", now)
    return row, changes
