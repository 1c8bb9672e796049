"""Work orders: proposed by a rule, decided by a planner (or a contract's policy), worked by their technician.

Planner (work_orders:decide): approve, reject with a reason, cancel, merge, edit, assign or reassign,
unassign. Technician (work_orders:work), on its own orders only (another's is a 404): accept, decline
with a reason, start, record findings, attach photos, complete. Every move goes through
cloud.maintenance.lifecycle (a forbidden one is a 409) and is in the order's history.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from sqlalchemy.orm import Session

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.deps import NowDep, SessionDep, SettingsDep, read_limited
from cloud.api.params import DeviceQuery, RowIdPath
from cloud.api.schemas import CompletionIn, DecisionIn, WorkOrderOut
from cloud.api.timestamps import epoch, utc
from cloud.api.work_order_schemas import (
    AssignIn,
    AttachmentOut,
    FindingIn,
    MergeIn,
    OptionalReasonIn,
    ReasonIn,
    TransitionOut,
    WorkOrderEdit,
)
from cloud.api.work_order_views import attachment_out, work_order_out
from cloud.audit.trail import Change
from cloud.auth.roles import Permission
from cloud.errors import TransitionError
from cloud.field.visit_notices import tell_assignment
from cloud.maintenance.attachments import PHOTO_TYPES, attach_photo, get_attachment
from cloud.maintenance.findings import Report, complete_work_order, findings_of, record_finding
from cloud.maintenance.lifecycle import Action, audited, history, move
from cloud.maintenance.status import WorkOrderStatus
from cloud.maintenance.work_orders import list_work_orders, merge, technician_of, visible_order
from cloud.store.tables import WorkOrderRow

router = APIRouter(prefix="/work-orders", tags=["work orders"])


_READ = allow(Permission.WORK_ORDERS_READ)
_DECIDE = allow(Permission.WORK_ORDERS_DECIDE)
_WORK = allow(Permission.WORK_ORDERS_WORK)
_MOVE_ERRORS: dict[int | str, dict[str, str]] = {
    404: {"description": "no such order the caller may see"},
    409: {"description": "the order's status does not allow this action (the message says which it needs)"},
    422: {"description": "the request lacks what the action needs"},
}


@router.get("", dependencies=[_READ])
def read_work_orders(
    session: SessionDep,
    principal: PrincipalDep,
    status: WorkOrderStatus | None = None,
    asset: DeviceQuery = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[WorkOrderOut]:
    """Work orders, newest first (a technician's: only those assigned to it; a customer's: its assets')."""
    rows = list_work_orders(session, principal.scope, status=status, device_id=asset, limit=limit,
                            technician_id=technician_of(principal))
    findings = findings_of(session, (row.id for row in rows))
    return [work_order_out(session, row, findings.get(row.id)) for row in rows]


@router.get("/{order_id}", dependencies=[_READ], responses={404: {}})
def read_work_order(order_id: RowIdPath, session: SessionDep, principal: PrincipalDep) -> WorkOrderOut:
    """One work order with the evidence that opened it, its signals, and the technician's finding once recorded."""
    order = visible_order(session, order_id, principal)
    return work_order_out(session, order, findings_of(session, [order.id]).get(order.id))


@router.get("/{order_id}/history", dependencies=[_READ], responses={404: {}})
def read_history(order_id: RowIdPath, session: SessionDep, principal: PrincipalDep) -> list[TransitionOut]:
    """Every move of the order, oldest first: the action, from and to which status, who, when and why."""
    order = visible_order(session, order_id, principal)
    return [TransitionOut(at=utc(row.at), action=row.action,
                          from_status=None if row.from_status is None else WorkOrderStatus(row.from_status),
                          to_status=WorkOrderStatus(row.to_status), actor=row.actor, reason=row.reason,
                          technician_id=row.technician_id) for row in history(session, order.id)]


@router.patch("/{order_id}", dependencies=[_DECIDE], responses={**_MOVE_ERRORS})
def edit_work_order(order_id: RowIdPath, edit: WorkOrderEdit, session: SessionDep, auditor: AuditDep,
                    now: NowDep) -> WorkOrderOut:
    """A planner edits an open order's priority, due date, required skill or notes (audited before and after)."""
    order = visible_order(session, order_id, auditor.principal)
    if order.status in (WorkOrderStatus.DONE, WorkOrderStatus.REJECTED, WorkOrderStatus.CANCELLED):
        raise TransitionError(f"work order {order.id} is {order.status}; edit needs it open")
    before = {**audited(order), "notes": order.notes}
    sent = edit.model_fields_set
    if "priority" in sent and edit.priority is not None:
        order.priority = edit.priority.value
    if "due_at" in sent:
        order.due_at = None if edit.due_at is None else epoch(edit.due_at)
    if "required_skill" in sent:
        order.required_skill = edit.required_skill
    if "notes" in sent:
        order.notes = edit.notes
    order.updated_at = now
    auditor.record(_change("edit", order, before, {**audited(order), "notes": order.notes}))
    return _committed(session, order)


@router.post("/{order_id}/approve", dependencies=[_DECIDE], responses={**_MOVE_ERRORS})
def approve_work_order(order_id: RowIdPath, decision: DecisionIn, session: SessionDep, auditor: AuditDep,
                       now: NowDep) -> WorkOrderOut:
    """A planner approves a proposed order (recorded as decided by the caller's identity)."""
    return _move(session, auditor, order_id, Action.APPROVE, now, decision.note)


@router.post("/{order_id}/reject", dependencies=[_DECIDE], responses={**_MOVE_ERRORS})
def reject_work_order(order_id: RowIdPath, body: ReasonIn, session: SessionDep, auditor: AuditDep,
                      now: NowDep) -> WorkOrderOut:
    """A planner rejects an order not yet started, with a reason (kept as a label for the models)."""
    return _move(session, auditor, order_id, Action.REJECT, now, body.reason)


@router.post("/{order_id}/cancel", dependencies=[_DECIDE], responses={**_MOVE_ERRORS})
def cancel_work_order(order_id: RowIdPath, body: OptionalReasonIn, session: SessionDep, auditor: AuditDep,
                      now: NowDep) -> WorkOrderOut:
    """A planner withdraws an order not yet started (no longer needed)."""
    return _move(session, auditor, order_id, Action.CANCEL, now, body.reason)


@router.post("/{order_id}/merge", dependencies=[_DECIDE], responses={**_MOVE_ERRORS})
def merge_work_order(order_id: RowIdPath, body: MergeIn, session: SessionDep, auditor: AuditDep,
                     now: NowDep) -> WorkOrderOut:
    """Cancel this order as merged into another open one of the same asset or site; its signals move there."""
    order = visible_order(session, order_id, auditor.principal)
    into = visible_order(session, body.into, auditor.principal)
    merge(session, order, into, auditor.principal, now, auditor.client)
    return _committed(session, into)


@router.post("/{order_id}/assign", dependencies=[_DECIDE], responses={**_MOVE_ERRORS})
def assign_work_order(order_id: RowIdPath, body: AssignIn, session: SessionDep, auditor: AuditDep,
                      now: NowDep) -> WorkOrderOut:
    """A planner assigns an approved order to a technician (or reassigns an assigned or accepted one), with the
    planned visit window; without dispatch."""
    order = visible_order(session, order_id, auditor.principal)
    action = Action.ASSIGN if order.status == WorkOrderStatus.APPROVED else Action.REASSIGN
    window = None if body.start is None or body.end is None else (epoch(body.start), epoch(body.end))
    move(session, order, action, auditor.principal, now, body.reason, body.technician_id, window, auditor.client)
    # The technician (and the asset's customer, of the visit window) are told, from the outbox, in this transaction.
    tell_assignment(session, order, body.reason or f"assigned by {auditor.principal.label}", now)
    return _committed(session, order)


@router.post("/{order_id}/unassign", dependencies=[_DECIDE], responses={**_MOVE_ERRORS})
def unassign_work_order(order_id: RowIdPath, body: OptionalReasonIn, session: SessionDep, auditor: AuditDep,
                        now: NowDep) -> WorkOrderOut:
    """Take an assigned or accepted order back (e.g. the technician is absent): approved, to be planned again."""
    return _move(session, auditor, order_id, Action.UNASSIGN, now, body.reason)


@router.post("/{order_id}/accept", dependencies=[_WORK], responses={**_MOVE_ERRORS})
def accept_work_order(order_id: RowIdPath, body: OptionalReasonIn, session: SessionDep, auditor: AuditDep,
                      now: NowDep) -> WorkOrderOut:
    """The technician accepts an order assigned to it."""
    return _move(session, auditor, order_id, Action.ACCEPT, now, body.reason)


@router.post("/{order_id}/decline", dependencies=[_WORK], responses={**_MOVE_ERRORS})
def decline_work_order(order_id: RowIdPath, body: ReasonIn, session: SessionDep, auditor: AuditDep,
                       now: NowDep) -> WorkOrderOut:
    """The technician declines an order assigned to it, with a reason; it goes back to be planned, not to them."""
    return _move(session, auditor, order_id, Action.DECLINE, now, body.reason)


@router.post("/{order_id}/start", dependencies=[_WORK], responses={**_MOVE_ERRORS})
def start_work_order(order_id: RowIdPath, decision: DecisionIn, session: SessionDep, auditor: AuditDep,
                     now: NowDep) -> WorkOrderOut:
    """The technician starts an order assigned to it (starting also accepts it)."""
    return _move(session, auditor, order_id, Action.START, now, decision.note)


@router.post("/{order_id}/findings", dependencies=[_WORK], responses={**_MOVE_ERRORS})
def add_findings(order_id: RowIdPath, body: FindingIn, session: SessionDep, auditor: AuditDep,
                 now: NowDep) -> WorkOrderOut:
    """The technician records (or corrects) what it found on an order in progress: the label, parts, notes."""
    order = visible_order(session, order_id, auditor.principal)
    row = record_finding(session, order, auditor.principal, _report(body), now, auditor.client)
    session.commit()
    return work_order_out(session, order, row)


@router.post("/{order_id}/complete", dependencies=[_WORK], responses={**_MOVE_ERRORS})
def complete(order_id: RowIdPath, completion: CompletionIn, session: SessionDep, auditor: AuditDep,
             now: NowDep) -> WorkOrderOut:
    """The technician completes an order in progress; its finding (here or recorded before) labels the model."""
    order = visible_order(session, order_id, auditor.principal)
    report = None if completion.finding is None else _report(completion)
    order, finding = complete_work_order(session, order, auditor.principal, now, report, auditor.client)
    session.commit()
    return work_order_out(session, order, finding)


@router.post("/{order_id}/attachments", dependencies=[_WORK], status_code=201,
             responses={**_MOVE_ERRORS, 413: {"description": "larger than PAAS_MAX_ATTACHMENT_BYTES"},
                        415: {"description": "not a JPEG, PNG or WebP body"}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 kind: {"schema": {"type": "string", "format": "binary"}} for kind in PHOTO_TYPES}}})
async def add_attachment(order_id: RowIdPath, request: Request, session: SessionDep, auditor: AuditDep,
                         settings: SettingsDep, now: NowDep) -> AttachmentOut:
    """The technician attaches a photo (the body: the image's bytes, Content-Type image/jpeg, png or webp)."""
    declared = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if declared not in PHOTO_TYPES:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            detail=f"send the photo's bytes as one of {', '.join(PHOTO_TYPES)}")
    content = await read_limited(request, settings.max_attachment_bytes, "photos")
    return _attach(session, auditor, order_id, declared, content, now)


def _attach(session: Session, auditor: AuditDep, order_id: int, declared: str, content: bytes,
            now: float) -> AttachmentOut:
    order = visible_order(session, order_id, auditor.principal)
    row = attach_photo(session, order, auditor.principal, declared, content, now, auditor.client)
    session.commit()
    return attachment_out(row)


@router.get("/{order_id}/attachments/{attachment_id}", dependencies=[_READ], responses={
    404: {}, 200: {"content": {kind: {"schema": {"type": "string", "format": "binary"}} for kind in PHOTO_TYPES}}})
def read_attachment(order_id: RowIdPath, attachment_id: RowIdPath, session: SessionDep,
                    principal: PrincipalDep) -> Response:
    """A photo of an order the caller may see, with the content type its bytes were checked to be."""
    order = visible_order(session, order_id, principal)
    row = get_attachment(session, order.id, attachment_id)
    return Response(row.content, media_type=row.content_type,
                    headers={"X-Content-Type-Options": "nosniff", "Content-Disposition": "inline"})


def _report(body: FindingIn | CompletionIn) -> Report:
    finding = body.finding or "true_fault"  # the callers pass a body with a finding
    return Report(finding, body.notes, tuple((part.part, part.quantity) for part in body.parts_used))


def _change(action: str, order: WorkOrderRow, before: dict[str, object], after: dict[str, object]) -> Change:
    return Change(action, "work_order", str(order.id), order.tenant, before, after)


def _move(session: Session, auditor: AuditDep, order_id: int, action: Action, now: float,
          reason: str | None) -> WorkOrderOut:
    order = visible_order(session, order_id, auditor.principal)
    move(session, order, action, auditor.principal, now, reason, client=auditor.client)
    return _committed(session, order)


def _committed(session: Session, order: WorkOrderRow) -> WorkOrderOut:
    # Committed before answering, so a failed write is a 503, not a 200 that did not happen.
    session.commit()
    return work_order_out(session, order, findings_of(session, [order.id]).get(order.id))
