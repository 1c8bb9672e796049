"""The technician's task list: the orders assigned to the signed-in technician, with what it needs on site."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cloud.api.access import PrincipalDep, allow
from cloud.api.deps import SessionDep
from cloud.api.work_order_schemas import TaskOut
from cloud.api.work_order_views import task_out
from cloud.auth.roles import Permission
from cloud.maintenance.findings import findings_of
from cloud.maintenance.status import CLOSED_STATUSES, WorkOrderStatus
from cloud.maintenance.work_orders import list_work_orders

router = APIRouter(prefix="/me", tags=["work orders"])


@router.get("/tasks", dependencies=[allow(Permission.WORK_ORDERS_WORK)])
def read_my_tasks(
    session: SessionDep,
    principal: PrincipalDep,
    status: Annotated[WorkOrderStatus | None, Query(description="default: the open ones")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[TaskOut]:
    """The orders assigned to the caller's technician record (none for an account bound to no technician), soonest
    visit first."""
    if principal.technician_id is None:
        return []
    rows = list_work_orders(session, principal.scope, status=status, limit=limit,
                            technician_id=principal.technician_id)
    if status is None:
        rows = [row for row in rows if WorkOrderStatus(row.status) not in CLOSED_STATUSES]
    rows = sorted(rows, key=lambda row: (row.planned_start is None, row.planned_start or 0.0, row.id))
    findings = findings_of(session, (row.id for row in rows))
    return [task_out(session, row, findings.get(row.id)) for row in rows]
