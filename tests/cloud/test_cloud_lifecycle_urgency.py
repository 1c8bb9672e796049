"""Urgency (priority, due date, confidence) of new proposals, and closing a done order's alarms after a quiet spell
(store-level, on SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from cloudtest_support import T0, TENANT, Stores, anomaly, raw, state

from cloud.auth.accounts import create_technician
from cloud.auth.principal import Principal, PrincipalKind
from cloud.field.skills import FailureKind, put_failure_skill
from cloud.maintenance.alarms import DAY_S, close_quiet_alarms
from cloud.maintenance.lifecycle import Action, move
from cloud.maintenance.status import Priority
from cloud.maintenance.urgency import DUE_AFTER_S, anomaly_urgency, rul_urgency
from cloud.store.tables import EventRow, WorkOrderRow

NOW = T0 + 3600
ACTOR = Principal(PrincipalKind.SYSTEM, "test", "test", None)


@pytest.mark.parametrize(("score", "priority", "confidence"), [
    (0.6, Priority.NORMAL, 1 - 0.5 / 0.6), (0.75, Priority.HIGH, 1 / 3), (1.0, Priority.CRITICAL, 0.5),
    (5.0, Priority.CRITICAL, 0.9),
])
def test_an_anomaly_orders_urgency_follows_how_far_the_score_rose(score: float, priority: Priority,
                                                                  confidence: float) -> None:
    urgency = anomaly_urgency(score, 0.5, NOW)
    assert (urgency.priority, urgency.due_at) == (priority, NOW + DUE_AFTER_S[priority])
    assert urgency.confidence == pytest.approx(confidence)


def test_a_rul_orders_urgency_follows_the_band_against_the_horizon() -> None:
    critical = rul_urgency(lower=20, upper=30, horizon_cycles=50, now=NOW, seconds_per_cycle=60)
    assert (critical.priority, critical.due_at, critical.confidence) == (Priority.CRITICAL, NOW + 20 * 60, 1.0)
    straddling = rul_urgency(lower=35, upper=65, horizon_cycles=50, now=NOW)
    assert (straddling.priority, straddling.confidence) == (Priority.HIGH, pytest.approx(0.5))
    assert rul_urgency(lower=45, upper=45, horizon_cycles=50, now=NOW).priority is Priority.NORMAL


def _done_order(stores: Stores, device: str) -> int:
    stores.handler.apply([raw(state(device))] + [raw(anomaly(device, NOW - 60 + i)) for i in range(3)])
    with stores.database.session() as session:
        tech = create_technician(session, TENANT, f"tech {device}", NOW).id
        order = session.scalars(sa.select(WorkOrderRow).where(WorkOrderRow.device_id == device)).one()
        for action in (Action.APPROVE, Action.ASSIGN, Action.START, Action.COMPLETE):
            move(session, order, action, ACTOR, NOW, technician_id=tech)
        session.commit()
        return order.id


def _closed(stores: Stores, order_id: int) -> list[float | None]:
    with stores.database.session() as session:
        return list(session.scalars(sa.select(EventRow.closed_at).where(EventRow.work_order_id == order_id)))


def test_a_done_orders_alarms_close_after_a_quiet_spell_unless_the_fault_recurs(stores: Stores) -> None:
    quiet, recurring = _done_order(stores, "q-1"), _done_order(stores, "r-1")
    stores.handler.apply([raw(anomaly("r-1", NOW + 2 * DAY_S))])  # within 7 days after done: the fix did not hold
    with stores.database.session() as session:
        assert close_quiet_alarms(session, NOW + 6 * DAY_S, 7 * DAY_S) == 0  # not quiet for long enough yet
        assert close_quiet_alarms(session, NOW + 7 * DAY_S, 7 * DAY_S) == 3
        session.commit()
    assert _closed(stores, quiet) == [NOW + 7 * DAY_S] * 3
    assert _closed(stores, recurring) == [None] * 3
    with stores.database.session() as session:
        assert close_quiet_alarms(session, NOW + 30 * DAY_S, 7 * DAY_S) == 0  # each alarm is closed once


def test_a_proposal_needs_the_skill_its_tenants_failure_kinds_name(stores: Stores) -> None:
    with stores.database.session() as session:
        put_failure_skill(session, TENANT, FailureKind("vibration", "mechanical", "persistent_anomaly",
                                                       ("accel1_rms",)), NOW)
        put_failure_skill(session, TENANT, FailureKind("electrical", "electrician", "persistent_anomaly",
                                                       ("current",)), NOW)
    stores.handler.apply([raw(state("v-1"))] + [raw(anomaly("v-1", NOW - 60 + i)) for i in range(3)])
    stores.handler.apply([raw(state("x-1", tenant="other"))]
                         + [raw(anomaly("x-1", NOW - 60 + i, tenant="other")) for i in range(3)])
    with stores.database.session() as session:
        skills = {device: skill for device, skill in session.execute(
            sa.select(WorkOrderRow.device_id, WorkOrderRow.required_skill))}
    assert skills == {"v-1": "mechanical", "x-1": None}  # another tenant's table does not apply
