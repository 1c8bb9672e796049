"""Technicians' findings: each completed work order becomes a label of the model that proposed it.

A finding says whether the technician found a real fault (`true_fault`) or nothing
wrong (`false_alarm`). It is linked to the model id and version named in the order's
evidence, so field precision (true faults / completed orders) is known per version:
the number a planner weighs before rolling a model out further.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.maintenance.work_orders import Verdict, apply_verdict
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


def complete_work_order(
    session: Session, order: WorkOrderRow, technician: str, finding: Finding, notes: str | None, now: float
) -> tuple[WorkOrderRow, FindingRow]:
    """Close an approved or in-progress order as done and store the technician's finding as a label."""
    apply_verdict(session, order, Verdict.COMPLETE, technician, now, notes)
    model = order.evidence.get("model") or {}
    row = FindingRow(
        work_order_id=order.id,
        device_id=order.device_id,
        model_id=str(model.get("id", "")),
        model_version=str(model.get("version", "")),
        finding=finding,
        technician=technician,
        notes=notes,
        recorded_at=now,
    )
    session.add(row)
    session.flush()
    return order, row


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
        .where(scope.tenant_clause(WorkOrderRow.tenant))
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
