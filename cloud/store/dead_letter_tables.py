"""The dead-letter store's table: every message the ingest could not store, kept as it arrived.

A row keeps the raw topic and payload (so a replay feeds exactly what the device sent
through the same handler), why it was refused (`reason`, a short code also counted in the
ingest stats, and `detail` for people), what could be read of it (message id; tenant and
device when the topic parses) and, once replayed, when and with what result.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cloud.store.base import ID_LEN, Base

_BIGINT_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class DeadLetterRow(Base):
    """One message the ingest kept instead of storing it (cloud.store.dead_letters)."""

    __tablename__ = "dead_letters"
    __table_args__ = (
        sa.Index("ix_dead_letters_tenant_received", "tenant", "received_at"),
        sa.Index("ix_dead_letters_device", "device_id", "id"),
        sa.Index("ix_dead_letters_reason", "reason"),
    )

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    received_at: Mapped[float]
    topic: Mapped[str] = mapped_column(sa.Text)
    payload: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    size: Mapped[int] = mapped_column(doc="payload bytes")
    reason: Mapped[str] = mapped_column(sa.String(ID_LEN))
    detail: Mapped[str] = mapped_column(sa.Text)
    message_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), default=None)
    # NULL when the topic does not parse: then only a platform administrator sees the row.
    tenant: Mapped[str | None] = mapped_column(sa.String(ID_LEN), default=None)
    device_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), default=None)
    replayed_at: Mapped[float | None] = mapped_column(default=None, doc="when a replay stored it (NULL: not yet)")
    replay_result: Mapped[str | None] = mapped_column(sa.Text, default=None, doc="what the last replay did")
