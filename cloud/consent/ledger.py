"""The consent ledger: per customer and purpose, append-only, with time, source, the text agreed to and who recorded it.

What holds now is the latest entry of a customer and purpose; no entry means no consent
(nothing is assumed). `has_consent` is the one question every data use asks before it
reads. Recording a withdrawal here only appends it; what must stop at once (pending offer
drafts) is stopped by `cloud.consent.recording`, which every route goes through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.store.consent_tables import PURPOSES, ConsentRow


class Purpose(StrEnum):
    """What a customer's data may be used for; each is consented to (and withdrawn) on its own."""

    MAINTENANCE = "maintenance"  # health data and work orders, to keep its assets running
    USAGE_ANALYTICS = "usage_analytics"  # its usage counters beyond billing, e.g. comparing plans
    PERSONALISED_OFFERS = "personalised_offers"  # offers drafted for it from its data
    PARTNER_SHARING = "partner_sharing"  # sharing with partners


assert tuple(p.value for p in Purpose) == PURPOSES  # the table's check constraint names the same purposes


@dataclass(frozen=True)
class ConsentState:
    """Where one purpose stands for a customer: granted or not, and the entry that says so (None: never asked)."""

    purpose: Purpose
    granted: bool
    latest: ConsentRow | None


def latest_entry(session: Session, customer_id: int, purpose: Purpose) -> ConsentRow | None:
    return session.scalar(sa.select(ConsentRow).where(ConsentRow.customer_id == customer_id,
                                                      ConsentRow.purpose == purpose.value)
                          .order_by(ConsentRow.id.desc()).limit(1))


def has_consent(session: Session, customer_id: int, purpose: Purpose) -> bool:
    """Whether the latest ledger entry of the customer for `purpose` grants it (no entry: no consent)."""
    entry = latest_entry(session, customer_id, purpose)
    return entry is not None and entry.granted


def append(session: Session, tenant: str, customer_id: int, purpose: Purpose, granted: bool, source: str, text: str,
           recorded_by: str, now: float) -> ConsentRow:
    """Add an entry (never changes one); flushed so that `has_consent` sees it in this transaction."""
    row = ConsentRow(tenant=tenant, customer_id=customer_id, purpose=purpose.value, granted=granted, source=source,
                     text=text, recorded_at=now, recorded_by=recorded_by[:200])
    session.add(row)
    session.flush()
    return row


def states(session: Session, customer_id: int) -> list[ConsentState]:
    """Every purpose's current state for the customer, in the enum's order."""
    result = []
    for purpose in Purpose:
        entry = latest_entry(session, customer_id, purpose)
        result.append(ConsentState(purpose, entry is not None and entry.granted, entry))
    return result


def history(session: Session, customer_id: int) -> Sequence[ConsentRow]:
    """Every entry of the customer, oldest first."""
    return session.scalars(sa.select(ConsentRow).where(ConsentRow.customer_id == customer_id)
                           .order_by(ConsentRow.id)).all()
