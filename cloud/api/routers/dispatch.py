"""Dispatch: preview a plan of who visits which asset when (solved by OR-Tools), then commit it.

A preview assigns nothing: it is stored with the state it was built from, so a planner can look
at every visit's why before committing. A commit assigns through the work-order lifecycle
(audited, each order's history), enqueues the technicians' and customers' notices, and is
refused (409) when an order or a technician changed since the preview.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.deps import NowDep, SessionDep
from cloud.api.field_schemas import (
    DispatchCommitIn,
    DispatchCommitted,
    DispatchPlanIn,
    DispatchPlanPublic,
    LeftOut,
    TechnicianLeftOut,
    VisitPublic,
    WhyPublic,
)
from cloud.api.params import RowIdPath
from cloud.api.timestamps import optional_utc, utc
from cloud.audit.trail import Change
from cloud.auth.roles import Permission
from cloud.field.planning import PlanRequest, commit, get_plan, preview
from cloud.store.field_tables import DispatchPlanRow

router = APIRouter(prefix="/dispatch", tags=["dispatch"])

_PLAN = allow(Permission.DISPATCH_PLAN)


@router.post("/plan", status_code=status.HTTP_201_CREATED, dependencies=[_PLAN])
def plan_dispatch(session: SessionDep, auditor: AuditDep, now: NowDep,
                  body: DispatchPlanIn | None = None) -> DispatchPlanPublic:
    """Preview a plan for the tenant's approved orders (nothing is assigned until it is committed)."""
    body = body or DispatchPlanIn()
    tenant = auditor.principal.tenant_for(body.tenant)
    request = PlanRequest(body.horizon_hours, _ids(body.technician_ids), _ids(body.order_ids), body.replan)
    row = preview(session, tenant, request, auditor.principal.label, now)
    auditor.record(Change("preview", "dispatch_plan", str(row.id), tenant, after={
        "visits": len(row.plan["visits"]), "unassigned": len(row.plan["unassigned"]), "request": row.request}))
    session.commit()
    return plan_public(row)


@router.get("/plans/{plan_id}", dependencies=[_PLAN], responses={404: {}})
def read_plan(plan_id: RowIdPath, session: SessionDep, principal: PrincipalDep) -> DispatchPlanPublic:
    """A previewed (or committed) plan."""
    return plan_public(get_plan(session, principal.scope, plan_id))


@router.post("/commit", dependencies=[_PLAN], responses={
    404: {}, 409: {"description": "committed already, or orders or technicians changed since the preview"}})
def commit_dispatch(body: DispatchCommitIn, session: SessionDep, auditor: AuditDep,
                    now: NowDep) -> DispatchCommitted:
    """Assign the previewed plan's orders to its technicians and tell them (and the customers)."""
    row = get_plan(session, auditor.principal.scope, body.plan_id)
    moved = commit(session, row, auditor.principal, auditor.client, now)
    session.commit()
    return DispatchCommitted(plan=plan_public(row), assigned_work_orders=[order.id for order in moved])


def _ids(ids: list[int] | None) -> tuple[int, ...] | None:
    return None if ids is None else tuple(ids)


def plan_public(row: DispatchPlanRow) -> DispatchPlanPublic:
    plan = row.plan
    return DispatchPlanPublic(
        id=row.id, tenant=row.tenant, created_at=utc(row.created_at), created_by=row.created_by,
        horizon_end=utc(row.horizon_end), visits=[_visit(v) for v in plan["visits"]],
        unassigned=[LeftOut(order_id=u["order_id"], reason=u["reason"]) for u in plan["unassigned"]],
        technicians_left_out=[TechnicianLeftOut(technician_id=t["technician_id"], reason=t["reason"])
                              for t in plan["technicians_left_out"]],
        total_travel_s=plan["total_travel_s"], total_late_s=plan["total_late_s"], solve_s=plan["solve_s"],
        committed_at=optional_utc(row.committed_at), committed_by=row.committed_by,
    )


def _visit(visit: dict[str, object]) -> VisitPublic:
    return VisitPublic.model_validate({**visit, "start_at": _at(visit["start_at"]), "end_at": _at(visit["end_at"]),
                                       "why": WhyPublic.model_validate(visit["why"])})


def _at(value: object) -> datetime:
    return utc(float(value))  # type: ignore[arg-type]  # stored by plan_json as a float
