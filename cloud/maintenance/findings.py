"""Technicians' findings: each completed work order becomes a label of the model that proposed it.

A finding says whether the technician found a real fault (`true_fault`) or nothing
wrong (`false_alarm`). It is linked to the model id and version named in the order's
evidence, so field precision (true faults / completed orders) is known per version:
the number a planner weighs before rolling a model out further.

A technician records the finding (with the parts used and notes) while the order is in
progress, and may correct it until completing; completing needs one (given then, or
before). Only completed orders count towards field precision.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.audit.trail import Change, record
from cloud.auth.principal import Principal
from cloud.errors import InvalidWorkOrderError, TransitionError
from cloud.maintenance.lifecycle import Action, move
from cloud.maintenance.status import WorkOrderStatus
from cloud.store.scope import Scope
from cloud.store.tables import FindingRow, ModelArtifactRow, WorkOrderRow

Finding = Literal["true_fault", "false_alarm"]


@dataclass(frozen=True)
class FieldPrecision:
    """Completed work orders of one model version and what the technicians found."""

    model_id: str
    model_version: str
    completed: int
    true_faults: int
    false_alarms: int

    @property
    def precision(self) -> float | None:
        """True faults per completed order; `None` before any order of this version was completed."""
        return None if self.completed == 0 else self.true_faults / self.completed


@dataclass(frozen=True)
class Report:
    """What the technician found on site."""

    finding: Finding
    notes: str | None = None
    parts_used: tuple[tuple[str, int], ...] = ()  # (part, quantity)


def record_finding(session: Session, order: WorkOrderRow, actor: Principal, report: Report, now: float,
                   client: str = "service") -> FindingRow:
    """Store (or correct) the finding of an order in progress, with an audit entry."""
    if order.status != WorkOrderStatus.IN_PROGRESS:
        raise TransitionError(f"work order {order.id} is {order.status}; findings are recorded while in_progress")
    row = session.scalars(sa.select(FindingRow).where(FindingRow.work_order_id == order.id)).first()
    before = None if row is None else _fields(row)
    model = order.evidence.get("model") or {}
    if row is None:
        row = FindingRow(work_order_id=order.id, device_id=order.device_id, model_id=str(model.get("id", "")),
                         model_version=str(model.get("version", "")), finding=report.finding,
                         technician=actor.label[:128], recorded_at=now)
        session.add(row)
    row.finding, row.notes, row.technician, row.recorded_at = report.finding, report.notes, actor.label[:128], now
    row.parts_used = [{"part": part, "quantity": quantity} for part, quantity in report.parts_used]
    record(session, actor, client, Change("finding", "work_order", str(order.id), order.tenant, before,
                                          _fields(row)), now)
    session.flush()
    return row


def complete_work_order(
    session: Session, order: WorkOrderRow, actor: Principal, now: float, report: Report | None = None,
    client: str = "service",
) -> tuple[WorkOrderRow, FindingRow]:
    """Close an order in progress as done; its finding (given here, or recorded before) labels the model."""
    if order.status == WorkOrderStatus.IN_PROGRESS and report is not None:
        record_finding(session, order, actor, report, now, client)
    row = findings_of(session, [order.id]).get(order.id)
    if row is None and order.status == WorkOrderStatus.IN_PROGRESS:
        raise InvalidWorkOrderError(f"work order {order.id} needs a finding (true_fault or false_alarm) to complete")
    move(session, order, Action.COMPLETE, actor, now, reason=None if report is None else report.notes, client=client)
    if row is None:  # unreachable: only an order in progress moves to done, and that needed a finding above
        raise InvalidWorkOrderError(f"work order {order.id} has no finding")
    return order, row


def _fields(row: FindingRow) -> dict[str, Any]:
    return {"finding": row.finding, "notes": row.notes, "parts_used": row.parts_used}


def findings_of(session: Session, order_ids: Iterable[int]) -> dict[int, FindingRow]:
    """The findings of the given work orders, by work order id."""
    ids = list(order_ids)
    if not ids:
        return {}
    rows = session.scalars(sa.select(FindingRow).where(FindingRow.work_order_id.in_(ids)))
    return {row.work_order_id: row for row in rows}


def field_precision(session: Session, scope: Scope) -> Sequence[FieldPrecision]:
    """Per model version (registered, or named by a finding) in the scope's tenant: completed orders, true faults,
    false alarms."""
    true_fault = sa.func.sum(sa.case((FindingRow.finding == "true_fault", 1), else_=0))
    counted = session.execute(
        sa.select(FindingRow.model_id, FindingRow.model_version, sa.func.count(), true_fault)
        .join(WorkOrderRow, WorkOrderRow.id == FindingRow.work_order_id)
        .where(scope.tenant_clause(WorkOrderRow.tenant), WorkOrderRow.status == WorkOrderStatus.DONE.value)
        .group_by(FindingRow.model_id, FindingRow.model_version)
    ).all()
    stats = {(m, v): FieldPrecision(m, v, int(n), int(tf), int(n) - int(tf)) for m, v, n, tf in counted}
    registered = session.execute(
        sa.select(ModelArtifactRow.model_id, ModelArtifactRow.version)
        .where(scope.tenant_clause(ModelArtifactRow.tenant))
    ).all()
    for model_id, version in registered:
        stats.setdefault((model_id, version), FieldPrecision(model_id, version, 0, 0, 0))
    return [stats[key] for key in sorted(stats)]
