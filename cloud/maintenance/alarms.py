"""Closing alarms: a done order whose asset stayed quiet for N days closes the alarms (events) behind it.

"Quiet" means no anomaly on the asset within `quiet_s` after the order was done. A recurrence
within that time keeps the alarms open (the fix did not hold), and the rules propose a new
order for it as for any anomaly. `close_quiet_alarms` is a sweep: the service runs it
periodically (PAAS_ALARM_QUIET_DAYS sets N); it is idempotent and marks each event once.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.maintenance.status import WorkOrderStatus
from cloud.store.tables import EventRow, WorkOrderRow

DAY_S = 86400.0


def close_quiet_alarms(session: Session, now: float, quiet_s: float) -> int:
    """Mark closed (`EventRow.closed_at`) the events of every order done at least `quiet_s` ago whose asset had no
    anomaly within `quiet_s` after; returns how many events were closed (not committed)."""
    open_alarm = sa.exists().where(EventRow.work_order_id == WorkOrderRow.id, EventRow.closed_at.is_(None))
    orders = session.execute(
        sa.select(WorkOrderRow.id, WorkOrderRow.device_id, WorkOrderRow.updated_at)
        .where(WorkOrderRow.status == WorkOrderStatus.DONE.value, WorkOrderRow.updated_at <= now - quiet_s,
               open_alarm)
    ).all()
    closed = 0
    for order_id, device_id, done_at in orders:
        recurred = session.scalar(sa.select(sa.func.count()).select_from(EventRow).where(
            EventRow.device_id == device_id, EventRow.is_anomaly.is_(True), EventRow.ts > done_at,
            EventRow.ts <= done_at + quiet_s))
        if recurred:
            continue
        result = session.execute(sa.update(EventRow).where(EventRow.work_order_id == order_id,
                                                           EventRow.closed_at.is_(None)).values(closed_at=now))
        closed += int(getattr(result, "rowcount", 0) or 0)
    return closed
