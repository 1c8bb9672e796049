"""Work orders: opened or extended by the anomaly and RUL rules, decided by a planner or a contract's policy, worked
by the technician they are assigned to.

The moves between statuses are cloud.maintenance.lifecycle's. An asset has at most one open
order (proposed, approved, assigned, accepted or in progress); signals that arrive while one
is open are added to its evidence (and its event ids) instead of opening another. A new
order gets its priority, due date and confidence from cloud.maintenance.urgency, and is
approved at once when its contract's policy (cloud.maintenance.policy) admits it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.audit.trail import Change, record
from cloud.auth.principal import Principal, PrincipalKind
from cloud.auth.roles import Role
from cloud.billing.plans import service_horizon
from cloud.errors import InvalidWorkOrderError, NotFoundError, TransitionError
from cloud.field.skills import skill_for
from cloud.maintenance.lifecycle import Action, move, record_proposal
from cloud.maintenance.policy import policy_from
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
    Anomaly,
    Decision,
    PersistentAnomalyRule,
    RuleInputs,
    attach_to_evidence,
    decide,
    new_evidence,
    with_channel_values,
)
from cloud.maintenance.rules import Action as RuleAction
from cloud.maintenance.urgency import DEFAULT_SECONDS_PER_CYCLE, Urgency, anomaly_urgency, rul_urgency
from cloud.store.contracts import find_contract
from cloud.store.events import anomalies_between
from cloud.store.scope import Scope
from cloud.store.tables import OPEN_STATUSES, AssetRow, EventRow, WorkOrderRow

__all__ = ["TransitionError"]  # raised by the lifecycle; imported from here by the API's error table
# A technician account bound to no technician record sees no order: no row has this id.
_NO_TECHNICIAN = 0


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
    if decision.action is RuleAction.ATTACH and open_order is not None:
        open_order.evidence = attach_to_evidence(open_order.evidence, decision.inputs.anomaly)
        open_order.updated_at = now
        event.work_order_id = open_order.id
    elif decision.action is RuleAction.PROPOSE:
        return RuleOutcome(decision, _propose(session, decision, asset, now))
    return RuleOutcome(decision)


@dataclass(frozen=True)
class RulOutcome:
    decision: RulDecision
    proposed: WorkOrderRow | None = None


def on_rul_estimate(
    session: Session, default_horizon_cycles: float, event: EventRow, asset: AssetRow, now: float,
    seconds_per_cycle: float = DEFAULT_SECONDS_PER_CYCLE,
) -> RulOutcome | None:
    """Run the RUL rule for a newly stored RUL event (`None` if it carries no estimate) and apply its decision."""
    if event.rul_cycles is None or event.rul_lower is None or event.rul_upper is None:
        return None
    estimate = RulEstimateSeen(
        event.id, event.ts, event.rul_cycles, event.rul_lower, event.rul_upper, event.model_id, event.model_version
    )
    open_order = find_open_order(session, asset.device_id)
    horizon = horizon_for(session, asset.device_id, default_horizon_cycles, now)
    decision = decide_rul(RulInputs(estimate, horizon, None if open_order is None else open_order.id))
    if decision.action is RuleAction.ATTACH and open_order is not None:
        open_order.evidence = attach_rul_to_evidence(open_order.evidence, estimate)
        open_order.updated_at = now
        event.work_order_id = open_order.id
    elif decision.action is RuleAction.PROPOSE:
        urgency = rul_urgency(estimate.lower, estimate.upper, horizon.cycles, now, seconds_per_cycle)
        order = _new_order(session, asset, RUL_RULE_NAME, decision.reason, new_rul_evidence(decision), now, urgency)
        event.work_order_id = order.id
        return RulOutcome(decision, order)
    return RulOutcome(decision)


def horizon_for(session: Session, device_id: str, default_cycles: float, now: float | None = None) -> Horizon:
    """The horizon of the service contract version in force for the asset at `now` when it sets one, else the
    asset's own contract's, else the platform default."""
    if now is not None:
        service = service_horizon(session, device_id, now)
        if service is not None:
            return Horizon(service.cycles, "contract", service.customer_name)
    contract = find_contract(session, device_id)
    if contract is None:
        return Horizon(default_cycles, "default")
    return Horizon(contract.maintenance_horizon_cycles, "contract", contract.customer)


def _new_order(
    session: Session, asset: AssetRow, rule: str, reason: str, evidence: dict[str, Any], now: float, urgency: Urgency
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
        priority=urgency.priority.value,
        due_at=urgency.due_at,
        confidence=urgency.confidence,
    )
    session.add(order)
    session.flush()
    order.required_skill = skill_for(session, order)  # the tenant's failure kinds say who can fix it
    # The trail shows that an algorithm proposed it (a planner or a policy decides), with the rule's reason.
    rule_actor = Principal(PrincipalKind.SYSTEM, rule, rule, None)
    record(session, rule_actor, "service", Change("propose", "work_order", str(order.id), asset.tenant, after={
        "status": order.status, "device_id": asset.device_id, "rule": rule, "reason": reason,
        "priority": order.priority, "confidence": urgency.confidence, "required_skill": order.required_skill}), now)
    record_proposal(session, order, rule_actor, now, reason)
    _approve_by_policy(session, order, urgency, now)
    return order


def _approve_by_policy(session: Session, order: WorkOrderRow, urgency: Urgency, now: float) -> None:
    """Approve a new proposal at once when its asset's contract names a policy that admits it."""
    contract = find_contract(session, order.device_id)
    policy = None if contract is None else policy_from(contract.approval_policy)
    if policy is None or not policy.admits(urgency):
        return
    why = (f"approved by policy {policy.name}: priority {urgency.priority.value} >= {policy.min_priority.value}, "
           f"confidence {urgency.confidence:.2f} >= {policy.min_confidence:.2f}")
    order.approved_by_policy = policy.name
    move(session, order, Action.APPROVE, policy.actor, now, reason=why)


def record_channel_values(order: WorkOrderRow, asset: AssetRow, means: Mapping[str, float]) -> None:
    """Fill in the measured mean of each top channel over the evidence windows (once stored)."""
    units = {c["name"]: c["unit"] for c in asset.channels}
    values = {name: (_finite(means.get(name)), units.get(name, "")) for name in means}
    order.evidence = with_channel_values(order.evidence, values)


def _propose(session: Session, decision: Decision, asset: AssetRow, now: float) -> WorkOrderRow:
    recent = decision.inputs.recent
    units = {c["name"]: c["unit"] for c in asset.channels}
    values: dict[str, tuple[float | None, str]] = {name: (None, unit) for name, unit in units.items()}
    max_score = max((a.score for a in recent), default=decision.inputs.anomaly.score)
    urgency = anomaly_urgency(max_score, decision.inputs.anomaly.threshold, now)
    order = _new_order(session, asset, RULE_NAME, decision.reason, new_evidence(decision, values), now, urgency)
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


def technician_of(principal: Principal) -> int | None:
    """The technician whose orders alone `principal` may see and touch (None: not restricted to one).

    A technician sees only the orders assigned to its own technician record; another's order is
    as unknown to it as a missing one (404).
    """
    if principal.role is Role.TECHNICIAN:
        return principal.technician_id if principal.technician_id is not None else _NO_TECHNICIAN
    return None


def _visible(scope: Scope, technician_id: int | None) -> sa.ColumnElement[bool]:
    clause = scope.rows_clause(WorkOrderRow.tenant, WorkOrderRow.device_id)
    return clause if technician_id is None else sa.and_(clause, WorkOrderRow.technician_id == technician_id)


def get_work_order(session: Session, order_id: int, scope: Scope, technician_id: int | None = None) -> WorkOrderRow:
    """The order if `scope` (and, for a technician, `technician_id`) may see it; `NotFoundError` otherwise."""
    order = session.scalars(sa.select(WorkOrderRow).where(WorkOrderRow.id == order_id,
                                                          _visible(scope, technician_id))).first()
    if order is None:
        raise NotFoundError(f"work order {order_id} does not exist")
    return order


def visible_order(session: Session, order_id: int, principal: Principal) -> WorkOrderRow:
    """The order as `principal` may see it: its tenant's, its customer's assets', or its own tasks."""
    return get_work_order(session, order_id, principal.scope, technician_of(principal))


def list_work_orders(
    session: Session, scope: Scope, status: str | None = None, device_id: str | None = None, limit: int = 100,
    technician_id: int | None = None,
) -> Sequence[WorkOrderRow]:
    """Work orders within `scope` (of one technician, if given) matching the filters, newest first."""
    query = sa.select(WorkOrderRow).where(_visible(scope, technician_id))
    if status is not None:
        query = query.where(WorkOrderRow.status == status)
    if device_id is not None:
        query = query.where(WorkOrderRow.device_id == device_id)
    return session.scalars(query.order_by(WorkOrderRow.id.desc()).limit(limit)).all()


def merge(session: Session, order: WorkOrderRow, into: WorkOrderRow, actor: Principal, now: float,
          client: str = "service") -> WorkOrderRow:
    """Cancel `order` as merged into `into` (an open order of the same asset or site); its signals move there."""
    if into.id == order.id:
        raise InvalidWorkOrderError("an order cannot be merged into itself")
    if into.status not in OPEN_STATUSES:
        raise TransitionError(f"work order {into.id} is {into.status}; merge needs an open order to merge into")
    if not _same_place(session, order, into):
        raise InvalidWorkOrderError(f"work orders {order.id} and {into.id} are neither of one asset nor of one site")
    move(session, order, Action.MERGE, actor, now, reason=f"merged into work order {into.id}", client=client)
    order.merged_into = into.id
    into.evidence = {**into.evidence, "merged": [*into.evidence.get("merged", []), {
        "work_order_id": order.id, "device_id": order.device_id, "rule": order.rule, "reason": order.reason,
        "event_ids": list(order.evidence.get("event_ids", []))}]}
    into.updated_at = now
    session.execute(sa.update(EventRow).where(EventRow.work_order_id == order.id).values(work_order_id=into.id))
    return order


def _same_place(session: Session, one: WorkOrderRow, other: WorkOrderRow) -> bool:
    if one.tenant != other.tenant:
        return False
    if one.device_id == other.device_id:
        return True
    first, second = session.get(AssetRow, one.device_id), session.get(AssetRow, other.device_id)
    if first is None or second is None:
        return False
    if first.site_name and first.site_name == second.site_name:
        return True
    return first.site_lat is not None and (first.site_lat, first.site_lon) == (second.site_lat, second.site_lon)


def signal_ids(session: Session, order_id: int) -> list[int]:
    """The ids of every event (signal) behind an order, oldest first, including those merged into it."""
    return list(session.scalars(sa.select(EventRow.id).where(EventRow.work_order_id == order_id)
                                .order_by(EventRow.ts, EventRow.id)))


def count_by_status(session: Session, scope: Scope) -> dict[str, int]:
    rows = session.execute(
        sa.select(WorkOrderRow.status, sa.func.count())
        .where(scope.rows_clause(WorkOrderRow.tenant, WorkOrderRow.device_id))
        .group_by(WorkOrderRow.status)
    ).all()
    return {status: int(count) for status, count in rows}
