"""Device profiles a tenant registered: the kinds of asset beyond the built-in pump and turbofan.

One row per (tenant, kind). A profile is immutable once registered, like a model version:
the readings stored under it are in its units, so changing a unit later would mix units in
one channel. The built-in profiles are not rows: they live in `contract.channels`.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cloud.store.base import ID_LEN, Base

DESCRIPTION_LEN = 1000


class DeviceProfileRow(Base):
    """A tenant's kind of asset: its channels (name, unit, label), what it is and the model it usually runs."""

    __tablename__ = "device_profiles"

    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    description: Mapped[str] = mapped_column(sa.String(DESCRIPTION_LEN), default="")
    model_id: Mapped[str] = mapped_column(sa.String(128), default="")
    channels: Mapped[list[dict[str, str]]] = mapped_column(doc="[{name, unit, label}] in the profile's order")
    created_at: Mapped[float]
    created_by: Mapped[str] = mapped_column(sa.String(200))
