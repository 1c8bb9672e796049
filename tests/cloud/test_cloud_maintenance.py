"""The persistent-anomaly rule and the work-order lifecycle, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from cloudtest_support import T0, TENANT, Stores, anomaly, raw, state, telemetry

from cloud.auth.accounts import create_technician
from cloud.auth.principal import Principal, PrincipalKind
from cloud.errors import NotFoundError
from cloud.maintenance.lifecycle import Action as Move
from cloud.maintenance.lifecycle import move
from cloud.maintenance.rules import Action, Anomaly, PersistentAnomalyRule, RuleInputs, decide
from cloud.maintenance.work_orders import TransitionError, get_work_order, list_work_orders
from cloud.store.scope import Scope
from cloud.store.tables import WorkOrderRow

RULE = PersistentAnomalyRule(min_events=3, window_s=120.0)
SCOPE = Scope(TENANT)  # the tenant the test messages come from


def seen(event_id: int, ts: float) -> Anomaly:
    return Anomaly(event_id, ts, 0.9, 0.5, {"a": 0.9}, "m", "1", ts - 10, ts)


def test_rule_decisions_say_why() -> None:
    one = decide(RuleInputs(RULE, seen(1, 0.0), (seen(1, 0.0),), None))
    assert one.action is Action.NONE and "1 anomaly event(s)" in one.reason
    three = decide(RuleInputs(RULE, seen(3, 60.0), (seen(1, 0.0), seen(2, 30.0), seen(3, 60.0)), None))
    assert three.action is Action.PROPOSE and three.reason.startswith("3 anomaly events within 60 s")
    attach = decide(RuleInputs(RULE, seen(4, 70.0), (seen(4, 70.0),), open_order_id=7))
    assert attach.action is Action.ATTACH and "work order 7" in attach.reason


def orders(stores: Stores) -> list[WorkOrderRow]:
    with stores.database.session() as session:
        return list(list_work_orders(session, SCOPE))


def feed(stores: Stores, device: str, anomaly_times: list[float]) -> None:
    for ts in anomaly_times:
        stores.handler.apply([raw(anomaly(device, ts))])


def test_a_persistent_anomaly_opens_exactly_one_work_order_with_its_evidence(stores: Stores) -> None:
    stores.handler.apply([raw(state("p1")), raw(telemetry("p1", 0, 200, value=2.0))])
    feed(stores, "p1", [T0 + 100, T0 + 110, T0 + 120])
    [order] = orders(stores)
    assert (order.status, order.device_id, order.rule) == ("proposed", "p1", "persistent_anomaly")
    evidence = order.evidence
    assert evidence["event_count"] == 3 and len(evidence["event_ids"]) == 3
    assert (evidence["first_anomaly_ts"], evidence["last_anomaly_ts"]) == (T0 + 100, T0 + 120)
    assert (evidence["max_score"], evidence["threshold"]) == (0.9, 0.5)
    assert evidence["model"] == {"id": "pump-ae", "version": "1.2.0"}
    assert evidence["rule"] == {"name": "persistent_anomaly", "min_events": 3, "window_s": 120.0}
    top = evidence["top_channels"][0]
    # accel1_rms is channel 0, sent as value + 0 = 2.0 g throughout the windows.
    assert (top["channel"], top["unit"], top["value"]) == ("accel1_rms", "g", 2.0)
    assert top["contribution"] == pytest.approx(0.54)

    feed(stores, "p1", [T0 + 130, T0 + 135])
    [order] = orders(stores)
    assert order.evidence["event_count"] == 5
    assert order.evidence["attached_after_opening"] == 2
    assert order.evidence["last_anomaly_ts"] == T0 + 135
    assert stores.counters.snapshot().work_orders_opened == 1


PLANNER_1 = Principal(PrincipalKind.USER, "1", "planner-1", TENANT)
CREW = Principal(PrincipalKind.USER, "2", "crew", TENANT)


def test_a_single_blip_or_spread_out_anomalies_open_none(stores: Stores) -> None:
    feed(stores, "blip", [T0 + 100])
    stores.handler.apply([raw(anomaly("blip", T0 + 110 + i, score=0.1, is_anomaly=False)) for i in range(5)])
    feed(stores, "spread", [T0, T0 + 200, T0 + 400, T0 + 600])  # never 3 within 120 s
    assert orders(stores) == []


def test_after_a_rejection_only_new_anomalies_count(stores: Stores) -> None:
    feed(stores, "p1", [T0 + 100, T0 + 110, T0 + 120])
    [order] = orders(stores)
    with stores.database.session() as session:
        row = get_work_order(session, order.id, SCOPE)
        move(session, row, Move.REJECT, PLANNER_1, now=T0 + 200, reason="sensor being replaced")
    feed(stores, "p1", [T0 + 130])  # still within the window of the rejected three
    assert len(orders(stores)) == 1
    feed(stores, "p1", [T0 + 140, T0 + 150])
    newest, rejected = orders(stores)
    assert (newest.status, rejected.status) == ("proposed", "rejected")
    assert (rejected.decided_by, rejected.decided_at, rejected.decision_note) == (
        "user:planner-1",
        T0 + 200,
        "sensor being replaced",
    )
    assert newest.evidence["event_count"] == 3


def test_a_work_order_moves_only_along_its_lifecycle(stores: Stores) -> None:
    feed(stores, "p1", [T0 + 100, T0 + 110, T0 + 120])
    [order] = orders(stores)
    with stores.database.session() as session:
        row = get_work_order(session, order.id, SCOPE)
        assert move(session, row, Move.APPROVE, PLANNER_1, now=T0 + 300).status == "approved"
        session.commit()
    with pytest.raises(TransitionError, match="approved"), stores.database.session() as session:
        move(session, get_work_order(session, order.id, SCOPE), Move.APPROVE, PLANNER_1, now=T0 + 301)
    with stores.database.session() as session:
        crew = create_technician(session, TENANT, "crew", T0).id
        row = get_work_order(session, order.id, SCOPE)
        with pytest.raises(TransitionError, match="approved; start needs it assigned or accepted"):
            move(session, row, Move.START, CREW, now=T0 + 350)
        assert move(session, row, Move.ASSIGN, PLANNER_1, now=T0 + 360, technician_id=crew).status == "assigned"
        assert move(session, row, Move.START, CREW, now=T0 + 400).status == "in_progress"
        assert move(session, row, Move.COMPLETE, CREW, now=T0 + 500).status == "done"
        session.commit()
    with stores.database.session() as session:
        done = get_work_order(session, order.id, SCOPE)
        # The crew's steps keep the planner's decision.
        assert (done.status, done.decided_by) == ("done", "user:planner-1")
    with pytest.raises(NotFoundError), stores.database.session() as session:
        get_work_order(session, 999, SCOPE)
    with pytest.raises(NotFoundError), stores.database.session() as session:
        get_work_order(session, order.id, Scope("globex"))  # another tenant's order is as unknown as none
