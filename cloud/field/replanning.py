"""What makes assigned orders plannable again: their technician will be absent during the visit.

A declined order needs nothing here: the lifecycle's decline puts it back to approved with the
technician in `declined_by`, and dispatch never offers it to them again. An absence is entered
by a planner; the orders it hits are unassigned in the same transaction (audited, as the
planner), so the next `POST /api/v1/dispatch/plan` places them with someone else.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.auth.principal import Principal
from cloud.field.calendar import Interval
from cloud.maintenance.lifecycle import Action, move
from cloud.maintenance.status import WorkOrderStatus
from cloud.store.tables import WorkOrderRow

HELD = (WorkOrderStatus.ASSIGNED.value, WorkOrderStatus.ACCEPTED.value)


def release_for_absence(session: Session, technician_id: int, absence: Interval, actor: Principal, client: str,
                        now: float) -> list[WorkOrderRow]:
    """Unassign the technician's held orders whose visit window overlaps `absence`; those orders."""
    orders = session.scalars(sa.select(WorkOrderRow).where(
        WorkOrderRow.technician_id == technician_id, WorkOrderRow.status.in_(HELD),
        WorkOrderRow.planned_start < absence.end, WorkOrderRow.planned_end > absence.start,
    ).order_by(WorkOrderRow.id)).all()
    for order in orders:
        move(session, order, Action.UNASSIGN, actor, now, reason="the technician is absent during the visit",
             client=client)
    return list(orders)
