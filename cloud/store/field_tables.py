"""Field service in space and time: technicians' working hours and absences, the skill each failure kind needs,
and the dispatch plans previewed (and later committed) by planners.

Working hours are local wall-clock times in the technician's time zone (`TechnicianRow.time_zone`),
stored as minutes after midnight, so a shift stays 08:00-17:00 across a daylight-saving change;
absences are instants (UTC epoch seconds), like every other time in the store.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cloud.store.base import ID_LEN, Base

_BIGINT_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
MINUTES_PER_DAY = 24 * 60


class WorkingHoursRow(Base):
    """One stretch of a technician's week: on `weekday` (0 Monday .. 6 Sunday), from `start_min` to `end_min`."""

    __tablename__ = "technician_hours"
    __table_args__ = (
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="ck_technician_hours_weekday"),
        sa.CheckConstraint(f"start_min >= 0 AND start_min < end_min AND end_min <= {MINUTES_PER_DAY}",
                           name="ck_technician_hours_span"),
        sa.Index("ix_technician_hours_technician", "technician_id", "weekday"),
    )

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    technician_id: Mapped[int] = mapped_column(sa.ForeignKey("technicians.id"))
    weekday: Mapped[int]
    start_min: Mapped[int] = mapped_column(doc="local minutes after midnight")
    end_min: Mapped[int] = mapped_column(doc="local minutes after midnight, after start_min (1440: midnight)")


class AbsenceRow(Base):
    """A time a technician is not available (leave, sickness, training): no shift overlaps it."""

    __tablename__ = "technician_absences"
    __table_args__ = (
        sa.CheckConstraint("start_at < end_at", name="ck_technician_absences_span"),
        sa.Index("ix_technician_absences_technician", "technician_id", "end_at"),
    )

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    technician_id: Mapped[int] = mapped_column(sa.ForeignKey("technicians.id"))
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN))
    start_at: Mapped[float]
    end_at: Mapped[float]
    reason: Mapped[str] = mapped_column(sa.String(256), default="")
    created_at: Mapped[float]
    created_by: Mapped[str] = mapped_column(sa.String(200))


class FailureSkillRow(Base):
    """Per tenant: which skill a failure kind needs, and which evidence names that kind (cloud.field.skills).

    `rule` (None: any rule) and `channels` (empty: any channel) say which orders are of this
    kind; the matching itself is defined once, in `cloud.field.skills.failure_kind_of`.
    """

    __tablename__ = "failure_skills"
    __table_args__ = (sa.UniqueConstraint("tenant", "kind", name="uq_failure_skills_tenant_kind"),)

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    kind: Mapped[str] = mapped_column(sa.String(ID_LEN), doc="e.g. bearing_wear")
    skill: Mapped[str] = mapped_column(sa.String(ID_LEN), doc="e.g. mechanical")
    rule: Mapped[str | None] = mapped_column(sa.String(ID_LEN), default=None, doc="the proposing rule; None: any")
    channels: Mapped[list[str]] = mapped_column(sa.JSON, default=list, doc="top contributing channels; []: any")
    updated_at: Mapped[float]


class DispatchPlanRow(Base):
    """A dispatch plan as previewed, with the fingerprint of the state it was built from, until committed.

    Committing re-reads that state: if an order or a technician changed meanwhile, the
    fingerprint differs and the plan is refused (a planner previews again).
    """

    __tablename__ = "dispatch_plans"
    __table_args__ = (sa.Index("ix_dispatch_plans_tenant_created", "tenant", "created_at"),)

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN))
    created_at: Mapped[float]
    created_by: Mapped[str] = mapped_column(sa.String(200))
    horizon_end: Mapped[float]
    request: Mapped[dict[str, Any]] = mapped_column(doc="what was asked: technician and order ids")
    fingerprint: Mapped[str] = mapped_column(sa.String(64), doc="sha256 of the problem the plan solved")
    plan: Mapped[dict[str, Any]] = mapped_column(doc="visits and unassigned orders, JSON-ready")
    committed_at: Mapped[float | None] = mapped_column(default=None)
    committed_by: Mapped[str | None] = mapped_column(sa.String(200), default=None)
