"""A work order's moves, written once: which action takes it from which status to which, and the trail each leaves.

    proposed --approve--> approved --assign--> assigned --accept--> accepted --start--> in_progress --complete--> done
    assigned|accepted --reassign--> assigned (another technician, or another window)
    assigned|accepted --decline--> approved (the technician is remembered: dispatch does not offer it to them again)
    assigned|accepted --unassign--> approved (the technician is absent: dispatch plans it anew)
    assigned --start--> in_progress (on site without tapping accept first: starting is accepting)
    proposed|approved|assigned|accepted --reject--> rejected (a reason is required: a label for the models)
    proposed|approved|assigned|accepted --cancel|merge--> cancelled

Any other move is a `TransitionError` (HTTP 409) naming the status the order is in and the
statuses the action needs. `move` is the only way a status changes: it writes a
`WorkOrderTransitionRow` (the order's history) and an audit entry in the caller's
transaction, so a move, its history and its audit entry are committed together or not at all.
Who may ask for which action is the API's business (permissions in cloud.auth.roles, the
technician's own orders in cloud.maintenance.work_orders.visible_to); docs/field.md has the table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.audit.trail import Change, record
from cloud.auth.principal import Principal
from cloud.errors import InvalidWorkOrderError, NotFoundError, TransitionError
from cloud.maintenance.status import WorkOrderStatus
from cloud.store.account_tables import TechnicianRow
from cloud.store.tables import WorkOrderRow, WorkOrderTransitionRow

S = WorkOrderStatus


class Action(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    CANCEL = "cancel"
    MERGE = "merge"  # cancelled because another order of the asset or site takes over its signals
    ASSIGN = "assign"
    REASSIGN = "reassign"
    UNASSIGN = "unassign"
    ACCEPT = "accept"
    DECLINE = "decline"
    START = "start"
    COMPLETE = "complete"


_WITHDRAWABLE = {S.PROPOSED: S.CANCELLED, S.APPROVED: S.CANCELLED, S.ASSIGNED: S.CANCELLED, S.ACCEPTED: S.CANCELLED}

TRANSITIONS: Mapping[Action, Mapping[WorkOrderStatus, WorkOrderStatus]] = {
    Action.APPROVE: {S.PROPOSED: S.APPROVED},
    Action.REJECT: {S.PROPOSED: S.REJECTED, S.APPROVED: S.REJECTED, S.ASSIGNED: S.REJECTED, S.ACCEPTED: S.REJECTED},
    Action.CANCEL: _WITHDRAWABLE,
    Action.MERGE: _WITHDRAWABLE,
    Action.ASSIGN: {S.APPROVED: S.ASSIGNED},
    Action.REASSIGN: {S.ASSIGNED: S.ASSIGNED, S.ACCEPTED: S.ASSIGNED},
    Action.UNASSIGN: {S.ASSIGNED: S.APPROVED, S.ACCEPTED: S.APPROVED},
    Action.ACCEPT: {S.ASSIGNED: S.ACCEPTED},
    Action.DECLINE: {S.ASSIGNED: S.APPROVED, S.ACCEPTED: S.APPROVED},
    Action.START: {S.ASSIGNED: S.IN_PROGRESS, S.ACCEPTED: S.IN_PROGRESS},
    Action.COMPLETE: {S.IN_PROGRESS: S.DONE},
}

# Actions whose reason is required: a rejection is a label for the models, a decline tells the planner why.
REASON_REQUIRED = frozenset({Action.REJECT, Action.DECLINE})
_TO_TECHNICIAN = frozenset({Action.ASSIGN, Action.REASSIGN})


def move(
    session: Session,
    order: WorkOrderRow,
    action: Action,
    actor: Principal,
    now: float,
    reason: str | None = None,
    technician_id: int | None = None,
    window: tuple[float, float] | None = None,
    client: str = "service",
) -> WorkOrderRow:
    """Apply `action` to `order` as `actor`, with its history row and audit entry (not committed).

    `technician_id` and `window` (start, end; epoch seconds) are for assign and reassign; `reason`
    is required for reject and decline. `client` is the caller's address for the audit trail.
    """
    before_status = WorkOrderStatus(order.status)
    target = TRANSITIONS[action].get(before_status)
    if target is None:
        raise TransitionError(f"work order {order.id} is {before_status.value}; {action.value} needs it "
                              f"{' or '.join(status.value for status in TRANSITIONS[action])}")
    if action in REASON_REQUIRED and not (reason and reason.strip()):
        raise InvalidWorkOrderError(f"{action.value} needs a reason")
    before = audited(order)
    if action in _TO_TECHNICIAN:
        _assign(session, order, technician_id, window)
    elif action is Action.DECLINE:
        declined = order.technician_id
        order.declined_by = sorted({*(order.declined_by or []), *([] if declined is None else [declined])})
        technician_id = declined
        order.technician_id = order.planned_start = order.planned_end = None
    elif action is Action.UNASSIGN:
        technician_id = order.technician_id
        order.technician_id = order.planned_start = order.planned_end = None
    if action in (Action.APPROVE, Action.REJECT):
        order.decided_by, order.decided_at, order.decision_note = actor.label, now, reason
    order.status = target.value
    order.updated_at = now
    session.add(WorkOrderTransitionRow(
        work_order_id=order.id, tenant=order.tenant, from_status=before_status.value, to_status=target.value,
        action=action.value, actor=actor.label[:200], at=now, reason=reason,
        technician_id=technician_id if technician_id is not None else order.technician_id,
    ))
    record(session, actor, client, Change(action.value, "work_order", str(order.id), order.tenant, before,
                                          {**audited(order), "reason": reason}), now)
    session.flush()
    return order


def record_proposal(session: Session, order: WorkOrderRow, actor: Principal, now: float, reason: str) -> None:
    """The first line of an order's history: proposed by a rule (or a person)."""
    session.add(WorkOrderTransitionRow(
        work_order_id=order.id, tenant=order.tenant, from_status=None, to_status=order.status, action="propose",
        actor=actor.label[:200], at=now, reason=reason,
    ))


def history(session: Session, order_id: int) -> Sequence[WorkOrderTransitionRow]:
    """The order's moves, oldest first."""
    return session.scalars(sa.select(WorkOrderTransitionRow).where(WorkOrderTransitionRow.work_order_id == order_id)
                           .order_by(WorkOrderTransitionRow.id)).all()


def audited(order: WorkOrderRow) -> dict[str, object]:
    """The fields of an order the audit trail shows before and after a change."""
    return {"status": order.status, "device_id": order.device_id, "decided_by": order.decided_by,
            "technician_id": order.technician_id, "planned_start": order.planned_start,
            "planned_end": order.planned_end, "priority": order.priority, "due_at": order.due_at,
            "required_skill": order.required_skill}


def _assign(session: Session, order: WorkOrderRow, technician_id: int | None, window: tuple[float, float] | None
            ) -> None:
    if technician_id is None:
        raise InvalidWorkOrderError("assign needs a technician (technician_id)")
    technician = session.get(TechnicianRow, technician_id)
    if technician is None or technician.tenant != order.tenant:
        raise NotFoundError(f"technician {technician_id} does not exist")
    if technician_id in (order.declined_by or []):
        raise TransitionError(f"technician {technician_id} declined work order {order.id}; assign someone else")
    if window is not None and not window[0] < window[1]:
        raise InvalidWorkOrderError("the visit window must end after it starts")
    order.technician_id = technician_id
    order.planned_start, order.planned_end = (None, None) if window is None else window
