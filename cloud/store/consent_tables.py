"""The consent ledger's table: what a customer agreed to (or withdrew), for which purpose, when, where and in whose
words.

Append-only: a change of mind is a new row, never an update, so the ledger shows what held
at any moment. The latest row of a customer and purpose is what holds now. Erasure
(cloud.consent.erasure) is the one exception: it blanks the free texts, keeping the yes/no
and the times, which prove what data could be used when.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cloud.store.base import ID_LEN, Base

_BIGINT_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
PURPOSES = ("maintenance", "usage_analytics", "personalised_offers", "partner_sharing")  # cloud.consent.ledger.Purpose


class ConsentRow(Base):
    """One entry of the ledger: `granted` or withdrawn, for one purpose of one customer."""

    __tablename__ = "consents"
    __table_args__ = (
        sa.CheckConstraint(f"purpose IN {PURPOSES!r}", name="ck_consents_purpose"),
        sa.Index("ix_consents_customer_purpose", "customer_id", "purpose", "id"),
    )

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"))
    purpose: Mapped[str] = mapped_column(sa.String(32))
    granted: Mapped[bool]
    source: Mapped[str] = mapped_column(sa.String(200), doc="where it was given, e.g. web form, phone call, contract")
    text: Mapped[str] = mapped_column(sa.Text, doc="the wording the customer agreed to (or withdrew)")
    recorded_at: Mapped[float]
    recorded_by: Mapped[str] = mapped_column(sa.String(200), doc="the credential that recorded it, e.g. user:ann")
