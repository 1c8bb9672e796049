"""The history of each device's online/offline state, as the devices said it (birth, health, last will).

The asset row keeps only the newest state; downtime for an SLA needs the whole history, in the
devices' own time, whatever order the messages arrived in. One row per state message, stored
once per (device, message id), so a redelivered message changes nothing.
"""

from __future__ import annotations

from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from cloud.store.base import ID_LEN, Base
from cloud.store.database import insert_ignoring_duplicates
from contract.wire import DeviceState, DeviceStatus


class AssetStateRow(Base):
    """One state message of a device: online or not, at the device's time `ts`."""

    __tablename__ = "asset_state_log"
    __table_args__ = (
        sa.UniqueConstraint("device_id", "message_id", name="uq_asset_state_log_device_message"),
        sa.Index("ix_asset_state_log_device_ts", "device_id", "ts"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    device_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN))
    message_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    ts: Mapped[float]
    online: Mapped[bool]
    received_at: Mapped[float]


def log_state(session: Session, state: DeviceState, received_at: float) -> None:
    """Record `state` in the history (once per device and message id), whether or not it was the newest."""
    table = cast(sa.Table, AssetStateRow.__table__)
    insert = insert_ignoring_duplicates(session.get_bind().dialect.name, table)
    session.execute(insert, {
        "device_id": state.device_id, "tenant": state.tenant, "message_id": state.message_id, "ts": state.ts,
        "online": state.status is DeviceStatus.ONLINE, "received_at": received_at,
    })


def states_between(session: Session, device_id: str, start: float, end: float) -> list[AssetStateRow]:
    """The last state before `start` (the state the period opens in), then every state in [start, end), by ts."""
    mine = sa.select(AssetStateRow).where(AssetStateRow.device_id == device_id)
    before = session.scalars(
        mine.where(AssetStateRow.ts < start).order_by(AssetStateRow.ts.desc(), AssetStateRow.id.desc()).limit(1)
    ).first()
    within = session.scalars(
        mine.where(AssetStateRow.ts >= start, AssetStateRow.ts < end).order_by(AssetStateRow.ts, AssetStateRow.id)
    ).all()
    return ([before] if before is not None else []) + list(within)
