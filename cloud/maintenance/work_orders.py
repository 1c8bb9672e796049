"""Work orders: opened or extended by the anomaly and RUL rules, decided by a planner.

Lifecycle: proposed -> approved -> in_progress -> done (approved -> done directly for a
quick job), and proposed/approved -> rejected. An asset has at most one open (proposed,
approved or in progress) order; events that arrive while one is open are added to its
evidence instead of opening another.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.audit.trail import Change, record
from cloud.auth.principal import Principal, PrincipalKind
from cloud.errors import CloudError, NotFoundError
from cloud.maintenance.rul_rule import RULE_NAME as RUL_RULE_NAME
from cloud.maintenance.rul_rule import (
    Horizon,
    RulDecision,
    RulEstimateSeen,
    RulInputs,
    attach_rul_to_evidence,
    decide_rul,
    new_rul_evidence,
)
from cloud.maintenance.rules import (
    RULE_NAME,
    Action,
    Anomaly,
    Decision,
    PersistentAnomalyRule,
    RuleInputs,
    attach_to_evidence,
    decide,
    new_evidence,
    with_channel_values,
)
from cloud.store.contracts import find_contract
from cloud.store.events import anomalies_between
from cloud.store.scope import Scope
from cloud.store.tables import OPEN_STATUSES, AssetRow, EventRow, WorkOrderRow


class TransitionError(CloudError):
    """Raised when a work order cannot move from its status to the requested one."""


class Verdict(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    START = "start"
    COMPLETE = "complete"


_TRANSITIONS: dict[Verdict, dict[str, str]] = {
    Verdict.APPROVE: {"proposed": "approved"},
    Verdict.REJECT: {"proposed": "rejected", "approved": "rejected"},
    Verdict.START: {"approved": "in_progress"},
    Verdict.COMPLETE: {"approved": "done", "in_progress": "done"},
}


@dataclass(frozen=True)
class RuleOutcome:
    decision: Decision
    proposed: WorkOrderRow | None = None


def on_anomaly(
    session: Session, rule: PersistentAnomalyRule, event: EventRow, asset: AssetRow, now: float
) -> RuleOutcome:
    """Run the rule for a newly stored anomalous event and apply its decision."""
    open_order = find_open_order(session, asset.device_id)
    judged_until = _last_judged_anomaly_ts(session, asset.device_id)
    start = event.ts - rule.window_s if judged_until is None else max(event.ts - rule.window_s, judged_until)
    recent = [as_anomaly(row) for row in anomalies_between(session, asset.device_id, start, event.ts)]
    decision = decide(RuleInputs(rule, as_anomaly(event), tuple(recent), None if open_order is None else open_order.id))
    if decision.action is Action.ATTACH and open_order is not None:
        open_order.evidence = attach_to_evidence(open_order.evidence, decision.inputs.anomaly)
        open_order.updated_at = now
        event.work_order_id = open_order.id
    elif decision.action is Action.PROPOSE:
        return RuleOutcome(decision, _propose(session, decision, asset, now))
    return RuleOutcome(decision)


@dataclass(frozen=True)
class RulOutcome:
    decision: RulDecision
    proposed: WorkOrderRow | None = None


def on_rul_estimate(
    session: Session, default_horizon_cycles: float, event: EventRow, asset: AssetRow, now: float
) -> RulOutcome | None:
    """Run the RUL rule for a newly stored RUL event (`None` if it carries no estimate) and apply its decision."""
    if event.rul_cycles is None or event.rul_lower is None or event.rul_upper is None:
        return None
    estimate = RulEstimateSeen(
        event.id, event.ts, event.rul_cycles, event.rul_lower, event.rul_upper, event.model_id, event.model_version
    )
    open_order = find_open_order(session, asset.device_id)
    horizon = horizon_for(session, asset.device_id, default_horizon_cycles)
    decision = decide_rul(RulInputs(estimate, horizon, None if open_order is None else open_order.id))
    if decision.action is Action.ATTACH and open_order is not None:
        open_order.evidence = attach_rul_to_evidence(open_order.evidence, estimate)
        open_order.updated_at = now
        event.work_order_id = open_order.id
    elif decision.action is Action.PROPOSE:
        order = _new_order(session, asset, RUL_RULE_NAME, decision.reason, new_rul_evidence(decision), now)
        event.work_order_id = order.id
        return RulOutcome(decision, order)
    return RulOutcome(decision)


def horizon_for(session: Session, device_id: str, default_cycles: float) -> Horizon:
    """The asset's contract horizon, or the platform default when it has no contract."""
    contract = find_contract(session, device_id)
    if contract is None:
        return Horizon(default_cycles, "default")
    return Horizon(contract.maintenance_horizon_cycles, "contract", contract.customer)


def _new_order(
    session: Session, asset: AssetRow, rule: str, reason: str, evidence: dict[str, Any], now: float
) -> WorkOrderRow:
    order = WorkOrderRow(
        device_id=asset.device_id,
        tenant=asset.tenant,
        status="proposed",
        rule=rule,
        reason=reason,
        evidence=evidence,
        created_at=now,
        updated_at=now,
    )
    session.add(order)
    session.flush()
    # The trail shows that an algorithm proposed it (a planner decides), with the rule's reason.
    rule_actor = Principal(PrincipalKind.SYSTEM, rule, rule, None)
    record(session, rule_actor, "service", Change("propose", "work_order", str(order.id), asset.tenant, after={
        "status": order.status, "device_id": asset.device_id, "rule": rule, "reason": reason}), now)
    return order


def record_channel_values(order: WorkOrderRow, asset: AssetRow, means: Mapping[str, float]) -> None:
    """Fill in the measured mean of each top channel over the evidence windows (once stored)."""
    units = {c["name"]: c["unit"] for c in asset.channels}
    values = {name: (_finite(means.get(name)), units.get(name, "")) for name in means}
    order.evidence = with_channel_values(order.evidence, values)


def _propose(session: Session, decision: Decision, asset: AssetRow, now: float) -> WorkOrderRow:
    recent = decision.inputs.recent
    units = {c["name"]: c["unit"] for c in asset.channels}
    values: dict[str, tuple[float | None, str]] = {name: (None, unit) for name, unit in units.items()}
    order = _new_order(session, asset, RULE_NAME, decision.reason, new_evidence(decision, values), now)
    ids = [a.event_id for a in recent]
    session.execute(sa.update(EventRow).where(EventRow.id.in_(ids)).values(work_order_id=order.id))
    return order


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _last_judged_anomaly_ts(session: Session, device_id: str) -> float | None:
    """The newest anomaly already covered by a closed (done or rejected) work order of the device."""
    return session.execute(
        sa.select(sa.func.max(EventRow.ts))
        .join(WorkOrderRow, EventRow.work_order_id == WorkOrderRow.id)
        .where(WorkOrderRow.device_id == device_id, WorkOrderRow.status.not_in(OPEN_STATUSES))
    ).scalar()


def as_anomaly(row: EventRow) -> Anomaly:
    return Anomaly(
        event_id=row.id,
        ts=row.ts,
        score=row.score,
        threshold=row.threshold,
        contributions={str(k): float(v) for k, v in row.contributions.items()},
        model_id=row.model_id,
        model_version=row.model_version,
        window_start=row.window_start,
        window_end=row.window_end,
    )


def find_open_order(session: Session, device_id: str) -> WorkOrderRow | None:
    return session.scalars(
        sa.select(WorkOrderRow).where(WorkOrderRow.device_id == device_id, WorkOrderRow.status.in_(OPEN_STATUSES))
    ).first()


def get_work_order(session: Session, order_id: int, scope: Scope) -> WorkOrderRow:
    query = sa.select(WorkOrderRow).where(WorkOrderRow.id == order_id,
                                          scope.rows_clause(WorkOrderRow.tenant, WorkOrderRow.device_id))
    order = session.scalars(query).first()
    if order is None:
        raise NotFoundError(f"work order {order_id} does not exist")
    return order


def list_work_orders(
    session: Session, scope: Scope, status: str | None = None, device_id: str | None = None, limit: int = 100
) -> Sequence[WorkOrderRow]:
    """Work orders within `scope` matching the filters, newest first."""
    query = sa.select(WorkOrderRow).where(scope.rows_clause(WorkOrderRow.tenant, WorkOrderRow.device_id))
    if status is not None:
        query = query.where(WorkOrderRow.status == status)
    if device_id is not None:
        query = query.where(WorkOrderRow.device_id == device_id)
    return session.scalars(query.order_by(WorkOrderRow.id.desc()).limit(limit)).all()


def apply_verdict(
    session: Session, order: WorkOrderRow, verdict: Verdict, decided_by: str, now: float, note: str | None = None
) -> WorkOrderRow:
    """Move a work order on (approve, reject, start, complete), recording who decided and when."""
    order_id = order.id
    target = _TRANSITIONS[verdict].get(order.status)
    if target is None:
        allowed = " or ".join(_TRANSITIONS[verdict])
        raise TransitionError(f"work order {order_id} is {order.status}; {verdict.value} applies to {allowed} only")
    order.status = target
    order.updated_at = now
    if verdict in (Verdict.APPROVE, Verdict.REJECT):
        order.decided_by, order.decided_at, order.decision_note = decided_by, now, note
    return order


def count_by_status(session: Session, scope: Scope) -> dict[str, int]:
    rows = session.execute(
        sa.select(WorkOrderRow.status, sa.func.count())
        .where(scope.rows_clause(WorkOrderRow.tenant, WorkOrderRow.device_id))
        .group_by(WorkOrderRow.status)
    ).all()
    return {status: int(count) for status, count in rows}
