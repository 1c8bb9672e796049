"""How offers are received: per offer type, how many reached customers and how many were accepted or declined.

The acceptance rate is accepted / offered, where offered counts every offer that was sent
(still unanswered, accepted or declined); None while none was offered. Drafts, rejected and
withdrawn offers never reached a customer and do not count.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.store.offer_tables import OfferKind, OfferRow, OfferStatus

_OFFERED = (OfferStatus.SENT, OfferStatus.ACCEPTED, OfferStatus.DECLINED)


@dataclass(frozen=True)
class AcceptanceRate:
    kind: OfferKind
    offered: int
    accepted: int
    declined: int
    rate: float | None  # accepted / offered


def acceptance_rates(session: Session, tenant: str | None) -> list[AcceptanceRate]:
    """One entry per offer type (all types, zeros included), for `tenant` (None: every tenant)."""
    select = sa.select(OfferRow.kind, OfferRow.status, sa.func.count()).where(
        OfferRow.status.in_([s.value for s in _OFFERED])).group_by(OfferRow.kind, OfferRow.status)
    if tenant is not None:
        select = select.where(OfferRow.tenant == tenant)
    counts = {(kind, status): int(n) for kind, status, n in session.execute(select).all()}
    rates = []
    for kind in OfferKind:
        accepted = counts.get((kind.value, OfferStatus.ACCEPTED.value), 0)
        declined = counts.get((kind.value, OfferStatus.DECLINED.value), 0)
        offered = accepted + declined + counts.get((kind.value, OfferStatus.SENT.value), 0)
        rates.append(AcceptanceRate(kind, offered, accepted, declined, accepted / offered if offered else None))
    return rates
