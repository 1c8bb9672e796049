"""Work orders: proposed by a rule, approved or rejected by a planner, completed with a technician's finding."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.deps import NowDep, SessionDep
from cloud.api.params import DeviceQuery, RowIdPath
from cloud.api.schemas import (
    CompletionIn,
    DecisionIn,
    Evidence,
    FindingOut,
    ModelOut,
    RulEvidence,
    WorkOrderOut,
    WorkOrderStatus,
)
from cloud.api.timestamps import optional_utc, utc
from cloud.audit.trail import Change
from cloud.auth.roles import Permission
from cloud.maintenance.findings import complete_work_order, findings_of
from cloud.maintenance.rul_rule import RULE_NAME as RUL_RULE_NAME
from cloud.maintenance.work_orders import Verdict, apply_verdict, get_work_order, list_work_orders
from cloud.store.tables import FindingRow, WorkOrderRow

router = APIRouter(prefix="/work-orders", tags=["work orders"])


_READ = allow(Permission.WORK_ORDERS_READ)
_DECIDE = allow(Permission.WORK_ORDERS_DECIDE)
_WORK = allow(Permission.WORK_ORDERS_WORK)


@router.get("", dependencies=[_READ])
def read_work_orders(
    session: SessionDep,
    principal: PrincipalDep,
    status: WorkOrderStatus | None = None,
    asset: DeviceQuery = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[WorkOrderOut]:
    """Work orders, newest first."""
    rows = list_work_orders(session, principal.scope, status=status, device_id=asset, limit=limit)
    findings = findings_of(session, (row.id for row in rows if row.status == "done"))
    return [work_order_out(row, findings.get(row.id)) for row in rows]


@router.get("/{order_id}", dependencies=[_READ], responses={404: {}})
def read_work_order(order_id: RowIdPath, session: SessionDep, principal: PrincipalDep) -> WorkOrderOut:
    """One work order with the evidence that opened it (and the technician's finding once completed)."""
    order = get_work_order(session, order_id, principal.scope)
    return work_order_out(order, findings_of(session, [order.id]).get(order.id))


@router.post("/{order_id}/approve", dependencies=[_DECIDE],
             responses={404: {}, 409: {"description": "not a proposed order"}})
def approve_work_order(order_id: RowIdPath, decision: DecisionIn, session: SessionDep, auditor: AuditDep,
                       now: NowDep) -> WorkOrderOut:
    """A planner approves a proposed order (recorded as decided by the caller's identity)."""
    return _decide(session, auditor, order_id, Verdict.APPROVE, decision, now)


@router.post("/{order_id}/reject", dependencies=[_DECIDE], responses={404: {}, 409: {"description": "already closed"}})
def reject_work_order(order_id: RowIdPath, decision: DecisionIn, session: SessionDep, auditor: AuditDep,
                      now: NowDep) -> WorkOrderOut:
    """A planner rejects a proposed (or approved) order; later anomalies may propose a new one."""
    return _decide(session, auditor, order_id, Verdict.REJECT, decision, now)


@router.post("/{order_id}/start", dependencies=[_WORK],
             responses={404: {}, 409: {"description": "not an approved order"}})
def start_work_order(order_id: RowIdPath, decision: DecisionIn, session: SessionDep, auditor: AuditDep,
                     now: NowDep) -> WorkOrderOut:
    """The technician starts an approved order."""
    return _decide(session, auditor, order_id, Verdict.START, decision, now)


@router.post("/{order_id}/complete", dependencies=[_WORK],
             responses={404: {}, 409: {"description": "not approved or in progress"}})
def complete(order_id: RowIdPath, completion: CompletionIn, session: SessionDep, auditor: AuditDep,
             now: NowDep) -> WorkOrderOut:
    """The technician completes an approved or in-progress order; the finding labels the model that proposed it."""
    order = get_work_order(session, order_id, auditor.principal.scope)
    before = _audited(order)
    order, finding = complete_work_order(
        session, order, auditor.principal.label, completion.finding, completion.notes, now
    )
    auditor.record(Change("complete", "work_order", str(order.id), order.tenant, before,
                          {**_audited(order), "finding": finding.finding, "notes": completion.notes}))
    session.commit()
    return work_order_out(order, finding)


def _decide(session: SessionDep, auditor: AuditDep, order_id: RowIdPath, verdict: Verdict, decision: DecisionIn,
            now: float) -> WorkOrderOut:
    order = get_work_order(session, order_id, auditor.principal.scope)
    before = _audited(order)
    apply_verdict(session, order, verdict, auditor.principal.label, now, decision.note)
    auditor.record(Change(verdict.value, "work_order", str(order.id), order.tenant, before,
                          {**_audited(order), "note": decision.note}))
    # Committed before answering, so a failed write is a 503, not a 200 that did not happen.
    session.commit()
    return work_order_out(order)


def _audited(order: WorkOrderRow) -> dict[str, object]:
    return {"status": order.status, "device_id": order.device_id, "decided_by": order.decided_by}


def work_order_out(row: WorkOrderRow, finding: FindingRow | None = None) -> WorkOrderOut:
    return WorkOrderOut(
        id=row.id,
        device_id=row.device_id,
        tenant=row.tenant,
        status=row.status,  # type: ignore[arg-type]  # the table's check constraint allows only these
        rule=row.rule,
        reason=row.reason,
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
        decided_by=row.decided_by,
        decided_at=optional_utc(row.decided_at),
        decision_note=row.decision_note,
        evidence=(RulEvidence if row.rule == RUL_RULE_NAME else Evidence).model_validate(row.evidence),
        finding=None if finding is None else _finding_out(finding),
    )


def _finding_out(row: FindingRow) -> FindingOut:
    return FindingOut(
        finding=row.finding,  # type: ignore[arg-type]  # the table's check constraint allows only these
        technician=row.technician,
        notes=row.notes,
        recorded_at=utc(row.recorded_at),
        model=ModelOut(id=row.model_id, version=row.model_version),
    )
