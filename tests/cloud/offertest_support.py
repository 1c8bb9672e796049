"""Helpers of the offer and consent API tests: consents granted through the API, faults that call for advice.

The API is `supporttest_support.serve_api`.
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from supporttest_support import NOW, Served, done_order

from cloud.auth.accounts import create_customer
from cloud.consent.ledger import Purpose, append
from cloud.offers import review
from cloud.offers.delivery import deliver
from cloud.store.account_tables import AuditRow
from cloud.store.database import Database
from cloud.store.notify_tables import NotificationKind, NotificationRow
from cloud.store.offer_tables import OfferKind, OfferRow, OfferStatus
from cloud.store.scope import Scope
from cloud.store.tables import FindingRow

GRANT = {"granted": True, "source": "web form", "text": "You may use my data for this."}


def cavitation(served: Served, device: str = "p-a", count: int = 3) -> None:
    """`count` real faults on `device` whose findings name cavitation, in the last weeks."""
    for n in range(count):
        order_id = done_order(served.database, device, "true_fault", NOW - (n + 1) * 7 * 86400)
        with served.database.session() as session:
            finding = session.scalar(sa.select(FindingRow).where(FindingRow.work_order_id == order_id))
            assert finding is not None
            finding.notes = "impeller pitted: cavitation (suction valve left half closed)"
            session.commit()


def grant(served: Served, who: str, customer_id: int, *purposes: str) -> None:
    """Customer `who` (a key of `served.keys`) grants consent to each purpose through the API."""
    for purpose in purposes:
        response = served.http.put(f"/customers/{customer_id}/consents/{purpose}", json=GRANT, headers=served.as_(who))
        assert response.status_code == 200, response.text


def audit_actions(served: Served) -> list[str]:
    with served.database.session() as session:
        return list(session.scalars(sa.select(AuditRow.action).order_by(AuditRow.id)).all())


def walk_offers(database: Database, tenant: str, customer_id: int, now: float) -> dict[str, str]:
    """For the route walk: an offer of the customer in the status each action needs, a spare customer to erase, and
    a purpose; keys as `Walk.path_value` looks them up (`offer:<action>`, `offer:read`, `customer:erase`)."""
    ids = {}
    with database.session() as session:
        for action in ("approve", "reject", "accept", "decline", "read"):
            row = OfferRow(tenant=tenant, customer_id=customer_id, kind=OfferKind.OPERATION_ADVICE.value,
                           status=OfferStatus.DRAFT.value, dedupe_key=f"walk:{action}", title=f"walk {action}",
                           explanation="walked", expected_value=Decimal("0.00"), currency="EUR", data_used={},
                           purposes=[Purpose.PERSONALISED_OFFERS.value], created_at=now)
            session.add(row)
            session.flush()
            if action in ("accept", "decline", "read"):  # sent: approved by a planner, then delivered
                append(session, tenant, customer_id, Purpose.PERSONALISED_OFFERS, True, "walk", "walk", "walk", now)
                review.approve(session, Scope(tenant), row.id, "user:walk", None, now)
                deliver(session, row, now)
            ids[f"offer:{action}"] = str(row.id)
        ids["customer:erase"] = str(create_customer(session, tenant, "Erasable Ltd", now).id)
        session.commit()
    return ids | {"purpose": Purpose.USAGE_ANALYTICS.value}


def unapproved_offers_sent(database: Database) -> list[str]:
    """Each offer message in the outbox whose offer a planner did not approve (approve-before-send: always empty)."""
    wrong = []
    with database.session() as session:
        messages = session.scalars(sa.select(NotificationRow).where(
            NotificationRow.kind == NotificationKind.OFFER.value)).all()
        for message in messages:
            offer = session.get(OfferRow, int(message.facts["offer_id"]))
            # `decided_by` is set by an approval or a rejection only; a rejected offer is not in these statuses.
            sent = (OfferStatus.SENT.value, OfferStatus.ACCEPTED.value, OfferStatus.DECLINED.value)
            if offer is None or offer.decided_by is None or offer.status not in sent:
                wrong.append(f"message {message.id} for offer {message.facts['offer_id']}")
    return wrong
