"""From the store to the solver and back: the dispatch `Problem` of a tenant, a previewed plan, and its commit.

What is planned: the tenant's approved orders (and, on a re-plan, assigned ones not yet
accepted), on the technicians with a home base, within their shifts in the horizon. Orders a
technician already holds (accepted, or assigned when not re-planning) are in the problem too,
pinned to that technician, so the time they take is not given away twice; a commit leaves them
as they are. A technician who declined an order is never offered it again (`excluded_orders`).

A preview is stored with the sha256 of the problem it solved (built at the preview's `now`);
committing builds the problem again at that same `now` and refuses the plan (`ConflictError`,
409) when anything it was built from changed: an order's status or fields, a technician's
skills, base, hours or absences.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.audit.trail import Change, record
from cloud.auth.principal import Principal
from cloud.dispatch.problem import JobSpec, Location, Plan, Problem, Shift, TechnicianSpec
from cloud.dispatch.solver import solve
from cloud.errors import ConflictError, InvalidFieldDataError, NotFoundError
from cloud.field.sites import site_of
from cloud.field.technicians import home_of, shifts_of
from cloud.field.visit_notices import tell_assignment
from cloud.maintenance.lifecycle import Action, move
from cloud.maintenance.status import Priority, WorkOrderStatus
from cloud.store.account_tables import TechnicianRow
from cloud.store.field_tables import DispatchPlanRow
from cloud.store.scope import Scope
from cloud.store.tables import AssetRow, WorkOrderRow

HOUR = 3600.0
DEFAULT_HORIZON_HOURS = 72.0
MAX_HORIZON_HOURS = 24.0 * 31
ON_SITE_S = 3600.0  # how long a visit takes, until orders carry their own estimate
SOLVER_TIME_LIMIT_S = 5.0
S = WorkOrderStatus

Solver = Callable[[Problem], Plan]


@dataclass(frozen=True)
class PlanRequest:
    """What a planner asks to plan: the horizon, and optionally only some technicians or orders."""

    horizon_hours: float = DEFAULT_HORIZON_HOURS
    technician_ids: tuple[int, ...] | None = None
    order_ids: tuple[int, ...] | None = None
    replan: bool = False  # also move assigned orders that were not accepted yet

    def __post_init__(self) -> None:
        if not 0 < self.horizon_hours <= MAX_HORIZON_HOURS:
            raise InvalidFieldDataError(f"horizon_hours must be in (0, {MAX_HORIZON_HOURS:g}]")

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlanRequest:
        def ids(key: str) -> tuple[int, ...] | None:
            return None if data.get(key) is None else tuple(int(i) for i in data[key])

        return cls(float(data["horizon_hours"]), ids("technician_ids"), ids("order_ids"), bool(data["replan"]))


@dataclass(frozen=True)
class Built:
    """A problem and what was left out of it before solving (technicians without a base, orders without a site)."""

    problem: Problem
    left_out_technicians: tuple[tuple[int, str], ...]
    left_out_orders: tuple[tuple[int, str], ...]
    names: dict[int, str]  # technician id -> name
    devices: dict[int, str]  # order id -> device id

    def fingerprint(self) -> str:
        text = json.dumps([dataclasses.asdict(self.problem), self.left_out_technicians, self.left_out_orders],
                          sort_keys=True, separators=(",", ":"), default=sorted)  # frozensets, in a stable order
        return hashlib.sha256(text.encode()).hexdigest()


def build_problem(session: Session, tenant: str, request: PlanRequest, now: float) -> Built:
    """The dispatch problem of `tenant` at `now` for `request` (read from the store; nothing is written)."""
    horizon_end = now + request.horizon_hours * HOUR
    technicians, left_out_technicians = _technicians(session, tenant, request, now, horizon_end)
    orders = _orders(session, tenant, request, {t.technician_id for t in technicians})
    declined: dict[int, set[int]] = {}
    for order in orders:
        for technician_id in order.declined_by or []:
            declined.setdefault(technician_id, set()).add(order.id)
    technicians = [dataclasses.replace(t, excluded_orders=frozenset(declined.get(t.technician_id, ())))
                   for t in technicians]
    assets = {a.device_id: a for a in session.scalars(
        sa.select(AssetRow).where(AssetRow.device_id.in_({o.device_id for o in orders}))).all()}
    jobs, left_out_orders = [], []
    for order in orders:
        site = site_of(assets[order.device_id])
        if site is None:
            left_out_orders.append((order.id, f"asset {order.device_id} has no site (PUT /assets/{{id}}/site)"))
            continue
        jobs.append(_job(order, Location(site.lat, site.lon), pinned=_pinned(order, request)))
    problem = Problem(now, horizon_end, tuple(technicians), tuple(jobs))
    return Built(problem, tuple(left_out_technicians), tuple(left_out_orders),
                 names={t.technician_id: t.name for t in technicians},
                 devices={order.id: order.device_id for order in orders})


def _technicians(session: Session, tenant: str, request: PlanRequest, now: float,
                 horizon_end: float) -> tuple[list[TechnicianSpec], list[tuple[int, str]]]:
    query = sa.select(TechnicianRow).where(TechnicianRow.tenant == tenant)
    if request.technician_ids is not None:
        query = query.where(TechnicianRow.id.in_(request.technician_ids))
    specs, left_out = [], []
    for row in session.scalars(query.order_by(TechnicianRow.id)).all():
        home = home_of(row)
        if home is None:
            left_out.append((row.id, "no home base (PUT /technicians/{id} with home)"))
            continue
        shifts = tuple(Shift(s.start, s.end) for s in shifts_of(session, row, now, horizon_end))
        specs.append(TechnicianSpec(row.id, row.name, frozenset(row.skills or ()), Location(home.lat, home.lon),
                                    shifts))
    return specs, left_out


def _orders(session: Session, tenant: str, request: PlanRequest, technicians: set[int]) -> Sequence[WorkOrderRow]:
    """The orders to place (approved, and assigned on a re-plan) and those pinned to one of `technicians`."""
    free = [S.APPROVED.value, *([S.ASSIGNED.value] if request.replan else [])]
    free_clause: sa.ColumnElement[bool] = WorkOrderRow.status.in_(free)
    if request.order_ids is not None:
        free_clause = sa.and_(free_clause, WorkOrderRow.id.in_(request.order_ids))
    held = sa.and_(WorkOrderRow.status.in_([S.ASSIGNED.value, S.ACCEPTED.value]),
                   WorkOrderRow.status.not_in(free), WorkOrderRow.technician_id.in_(technicians))
    query = sa.select(WorkOrderRow).where(WorkOrderRow.tenant == tenant, sa.or_(free_clause, held))
    return session.scalars(query.order_by(WorkOrderRow.id)).all()


def _pinned(order: WorkOrderRow, request: PlanRequest) -> int | None:
    if order.status == S.ACCEPTED.value or (order.status == S.ASSIGNED.value and not request.replan):
        return order.technician_id
    return None


def _job(order: WorkOrderRow, location: Location, pinned: int | None) -> JobSpec:
    return JobSpec(order_id=order.id, device_id=order.device_id, location=location,
                   required_skill=order.required_skill, duration_s=ON_SITE_S, priority=Priority(order.priority).rank,
                   due_at=order.due_at, pinned_technician=pinned)


def preview(session: Session, tenant: str, request: PlanRequest, actor: str, now: float,
            solver: Solver | None = None) -> DispatchPlanRow:
    """Solve the tenant's dispatch problem and store the plan as a preview (not committed; nothing assigned)."""
    built = build_problem(session, tenant, request, now)
    plan = (solver or _solve)(built.problem)
    row = DispatchPlanRow(tenant=tenant, created_at=now, created_by=actor[:200], horizon_end=built.problem.horizon_end,
                          request=request.as_json(), fingerprint=built.fingerprint(), plan=plan_json(built, plan))
    session.add(row)
    session.flush()
    return row


def _solve(problem: Problem) -> Plan:
    return solve(problem, time_limit_s=SOLVER_TIME_LIMIT_S)


def plan_json(built: Built, plan: Plan) -> dict[str, Any]:
    """The plan as stored and shown: visits (with the technician's name and the asset), and what was left out."""
    pinned = {job.order_id for job in built.problem.jobs if job.pinned_technician is not None}
    visits = [{**dataclasses.asdict(v), "device_id": built.devices.get(v.order_id, ""),
               "technician_name": built.names.get(v.technician_id, ""), "pinned": v.order_id in pinned}
              for v in plan.visits]
    unassigned = [dataclasses.asdict(u) for u in plan.unassigned]
    unassigned += [{"order_id": order_id, "reason": reason} for order_id, reason in built.left_out_orders]
    return {
        "visits": visits, "unassigned": sorted(unassigned, key=lambda u: int(u["order_id"])),
        "technicians_left_out": [{"technician_id": t, "reason": r} for t, r in built.left_out_technicians],
        "total_travel_s": plan.total_travel_s, "total_late_s": plan.total_late_s, "solve_s": plan.solve_s,
        "now": built.problem.now,
    }


def get_plan(session: Session, scope: Scope, plan_id: int) -> DispatchPlanRow:
    row = session.get(DispatchPlanRow, plan_id)
    if row is None or not scope.owns(row.tenant):
        raise NotFoundError(f"dispatch plan {plan_id} does not exist")
    return row


def check_unchanged(session: Session, row: DispatchPlanRow) -> None:
    """`ConflictError` if the plan was committed already, or what it was built from has changed since."""
    if row.committed_at is not None:
        raise ConflictError(f"dispatch plan {row.id} was committed already (by {row.committed_by})")
    built = build_problem(session, row.tenant, PlanRequest.from_json(row.request), float(row.plan["now"]))
    if built.fingerprint() != row.fingerprint:
        raise ConflictError(f"orders or technicians changed since dispatch plan {row.id} was previewed; "
                            "preview again (POST /api/v1/dispatch/plan)")


def commit(session: Session, row: DispatchPlanRow, actor: Principal, client: str, now: float) -> list[WorkOrderRow]:
    """Assign the plan's visits (through the lifecycle, audited), tell technicians and customers, mark it committed.

    The orders it assigned or moved; pinned visits and visits that did not change are left alone.
    """
    check_unchanged(session, row)
    visits = [v for v in row.plan["visits"] if not v["pinned"]]
    orders = {o.id: o for o in session.scalars(
        sa.select(WorkOrderRow).where(WorkOrderRow.id.in_([int(v["order_id"]) for v in visits]))).all()}
    moved = []
    for visit in visits:
        order, technician_id = orders[int(visit["order_id"])], int(visit["technician_id"])
        window = (float(visit["start_at"]), float(visit["end_at"]))
        if order.status == S.APPROVED.value:
            action = Action.ASSIGN
        elif order.technician_id != technician_id or (order.planned_start, order.planned_end) != window:
            action = Action.REASSIGN
        else:
            continue
        move(session, order, action, actor, now, reason=f"dispatch plan {row.id}: {visit['why']['text']}",
             technician_id=technician_id, window=window, client=client)
        tell_assignment(session, order, str(visit['why']['text']), now)
        moved.append(order)
    row.committed_at, row.committed_by = now, actor.label[:200]
    record(session, actor, client, Change("commit", "dispatch_plan", str(row.id), row.tenant, before=None, after={
        "assigned": [o.id for o in moved], "fingerprint": row.fingerprint}), now)
    session.flush()
    return moved
