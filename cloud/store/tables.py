"""The relational schema: assets, their events and the work orders proposed for them.

Times are stored as UTC epoch seconds (float), as on the wire: the same on SQLite and
PostgreSQL, and no time-zone conversion can shift them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID_LEN = 64
OPEN_STATUSES = ("proposed", "approved", "in_progress")
WORK_ORDER_STATUSES = (*OPEN_STATUSES, "done", "rejected")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: sa.JSON, list[dict[str, str]]: sa.JSON, float: sa.Double}


class AssetRow(Base):
    """One device and the machine it watches, as last heard of."""

    __tablename__ = "assets"

    # Device ids are unique across tenants; the tenant is recorded and checked on every message.
    device_id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    asset_kind: Mapped[str] = mapped_column(sa.String(ID_LEN), default="")
    first_seen: Mapped[float]
    last_seen: Mapped[float]
    online: Mapped[bool] = mapped_column(default=True)
    state_ts: Mapped[float | None] = mapped_column(default=None, doc="device time of the last applied state")
    agent_version: Mapped[str] = mapped_column(sa.String(ID_LEN), default="")
    model_id: Mapped[str] = mapped_column(sa.String(128), default="")
    model_version: Mapped[str] = mapped_column(sa.String(ID_LEN), default="")
    channels: Mapped[list[dict[str, str]]] = mapped_column(default=list, doc="[{name, unit}] canonical")
    health: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_score: Mapped[float | None] = mapped_column(default=None)
    last_score_at: Mapped[float | None] = mapped_column(default=None)
    last_anomaly_at: Mapped[float | None] = mapped_column(default=None)


class EventRow(Base):
    """An anomaly or RUL event as the device sent it (message_id makes redelivery harmless)."""

    __tablename__ = "events"
    __table_args__ = (sa.Index("ix_events_device_ts", "device_id", "ts"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    message_id: Mapped[str] = mapped_column(sa.String(ID_LEN), unique=True)
    device_id: Mapped[str] = mapped_column(sa.String(ID_LEN), sa.ForeignKey("assets.device_id"))
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN))
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    kind: Mapped[str] = mapped_column(sa.String(16))
    ts: Mapped[float]
    received_at: Mapped[float]
    score: Mapped[float]
    threshold: Mapped[float]
    is_anomaly: Mapped[bool]
    contributions: Mapped[dict[str, Any]]
    model_id: Mapped[str] = mapped_column(sa.String(128))
    model_version: Mapped[str] = mapped_column(sa.String(ID_LEN))
    window_start: Mapped[float]
    window_end: Mapped[float]
    window_samples: Mapped[int]
    rul_cycles: Mapped[float | None] = mapped_column(default=None)
    rul_lower: Mapped[float | None] = mapped_column(default=None)
    rul_upper: Mapped[float | None] = mapped_column(default=None)
    work_order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("work_orders.id"), default=None, index=True)


class WorkOrderRow(Base):
    """A maintenance job proposed by a rule and decided by a planner."""

    __tablename__ = "work_orders"
    __table_args__ = (
        sa.CheckConstraint(f"status IN {WORK_ORDER_STATUSES!r}", name="ck_work_orders_status"),
        # At most one open order per asset, whatever a future second ingest worker does.
        sa.Index(
            "uq_work_orders_open_per_asset",
            "device_id",
            unique=True,
            sqlite_where=sa.text(f"status IN {OPEN_STATUSES!r}"),
            postgresql_where=sa.text(f"status IN {OPEN_STATUSES!r}"),
        ),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    device_id: Mapped[str] = mapped_column(sa.String(ID_LEN), sa.ForeignKey("assets.device_id"), index=True)
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN))
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    rule: Mapped[str] = mapped_column(sa.String(ID_LEN))
    reason: Mapped[str] = mapped_column(sa.Text)
    evidence: Mapped[dict[str, Any]]
    created_at: Mapped[float]
    updated_at: Mapped[float]
    decided_by: Mapped[str | None] = mapped_column(sa.String(128), default=None)
    decided_at: Mapped[float | None] = mapped_column(default=None)
    decision_note: Mapped[str | None] = mapped_column(sa.Text, default=None)


METADATA = Base.metadata
