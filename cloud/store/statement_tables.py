"""Statements: the monthly document billed for one contract and period, kept exactly as it was issued.

A statement is written once and never updated (an ORM update is refused outright, see
`refuse_update`): closing a period again returns the stored document, and a correction
is a new row with the next `revision` that points at the one it corrects. The document
itself is JSON (amounts as exact decimal strings) with a SHA-256 of its canonical text,
so any rendering (JSON, CSV, HTML, PDF) is made from the same numbers, and a copy can be
checked against the hash.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from cloud.errors import ConflictError
from cloud.store.base import ID_LEN, Base

_BIGINT_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
PERIOD_LEN = 7  # "YYYY-MM"
AMOUNT_LEN = 40  # a decimal as text: no Numeric column, whose SQLite driver would pass amounts through floats


class StatementRow(Base):
    """One issued statement (revision 0) or a correction of it (revision 1, 2, ...)."""

    __tablename__ = "statements"
    __table_args__ = (
        sa.UniqueConstraint("contract_id", "period", "revision", name="uq_statements_contract_period_revision"),
        sa.CheckConstraint("revision >= 0", name="ck_statements_revision"),
    )

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    contract_id: Mapped[int] = mapped_column(sa.ForeignKey("service_contracts.id"), index=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    period: Mapped[str] = mapped_column(sa.String(PERIOD_LEN), doc="YYYY-MM, UTC")
    revision: Mapped[int] = mapped_column(doc="0: the statement as first issued; n: its n-th correction")
    corrects_id: Mapped[int | None] = mapped_column(sa.ForeignKey("statements.id"), default=None)
    currency: Mapped[str] = mapped_column(sa.String(3))
    total: Mapped[str] = mapped_column(sa.String(AMOUNT_LEN), doc="exact decimal text, as on the document")
    document: Mapped[dict[str, Any]] = mapped_column(doc="cloud.billing.statements: lines, totals, amounts as text")
    content_hash: Mapped[str] = mapped_column(sa.String(64), doc="SHA-256 hex of the document's canonical JSON")
    closed_at: Mapped[float]
    closed_by: Mapped[str] = mapped_column(sa.String(200))
    reason: Mapped[str | None] = mapped_column(sa.Text, default=None, doc="why a correction was issued")


@event.listens_for(StatementRow, "before_update")
def refuse_update(_mapper: Mapper[Any], _connection: sa.Connection, target: StatementRow) -> None:
    """An issued statement never changes: a correction is a new document."""
    raise ConflictError(f"statement {target.id} is closed and cannot change; issue a correction instead")
