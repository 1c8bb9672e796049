"""Technicians, failure skills and the dispatch problem in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fieldtest_support import BERLIN, HAMBURG, MONDAY_8_BERLIN, POTSDAM, add_asset, add_order

from cloud.auth.accounts import create_customer, create_technician
from cloud.auth.principal import cli_principal
from cloud.errors import ConflictError, InvalidFieldDataError
from cloud.field.calendar import Interval, WeeklyHours
from cloud.field.planning import PlanRequest, build_problem, check_unchanged, commit, preview
from cloud.field.replanning import release_for_absence
from cloud.field.sites import Place
from cloud.field.skills import FailureKind, failure_kind_of, put_failure_skill, skill_for
from cloud.field.technicians import TechnicianUpdate, add_absence, shifts_of, update_technician
from cloud.maintenance.status import Priority, WorkOrderStatus
from cloud.store.database import Database
from cloud.store.notify_tables import NotificationRow
from cloud.store.schema import ensure_schema
from cloud.store.scope import Scope
from cloud.store.tables import ContractRow, WorkOrderRow

T = "acme"
NOW = MONDAY_8_BERLIN
WEEK = tuple(WeeklyHours(day, 8 * 60, 17 * 60) for day in range(5))


@pytest.fixture
def database(sql_url: str) -> Iterator[Database]:
    db = Database(sql_url)
    ensure_schema(db)
    try:
        yield db
    finally:
        db.close()


def _technician(database: Database, name: str, skills: set[str], home: tuple[float, float] | None) -> int:
    with database.session() as session:
        row = create_technician(session, T, name, NOW)
        update_technician(session, Scope(T), row.id, TechnicianUpdate(
            skills=frozenset(skills), home=None if home is None else Place(*home), time_zone="Europe/Berlin",
            hours=WEEK), NOW)
        session.commit()
        return row.id


def test_a_technicians_week_and_absences_are_kept_and_give_its_shifts(database: Database) -> None:
    anna = _technician(database, "Anna", {"mechanical", "electrical"}, BERLIN)
    with database.session() as session:
        add_absence(session, Scope(T), anna, Interval(NOW + 2 * 3600, NOW + 26 * 3600), "dentist", "test", NOW)
        session.commit()
    with database.session() as session:
        row = update_technician(session, Scope(T), anna, TechnicianUpdate(), NOW)[0]
        assert (row.skills, row.time_zone, row.home_lat) == (["electrical", "mechanical"], "Europe/Berlin", BERLIN[0])
        shifts = shifts_of(session, row, NOW, NOW + 2 * 24 * 3600)
    # Monday 08:00-10:00 (then away until Tuesday 10:00), Tuesday 10:00-17:00 local.
    assert [(s.start - NOW, s.end - NOW) for s in shifts] == [(0, 2 * 3600), (26 * 3600, 33 * 3600)]
    with database.session() as session, pytest.raises(InvalidFieldDataError, match="IANA"):
        update_technician(session, Scope(T), anna, TechnicianUpdate(time_zone="Europe/Atlantis"), NOW)
    with database.session() as session, pytest.raises(InvalidFieldDataError, match="skill"):
        update_technician(session, Scope(T), anna, TechnicianUpdate(skills=frozenset({"Has Space"})), NOW)
    _technician(database, "Bert", set(), None)
    with database.session() as session, pytest.raises(ConflictError):
        update_technician(session, Scope(T), anna, TechnicianUpdate(name="Bert"), NOW)


def test_the_failure_kind_comes_from_the_rule_and_the_top_channels() -> None:
    kinds = [
        FailureKind("bearing_wear", "mechanical", "persistent_anomaly", ("accel1_rms", "accel2_rms")),
        FailureKind("sensor_drift", "instrumentation", None, ("pressure",)),
        FailureKind("wear_out", "mechanical", "rul_below_horizon"),
        FailureKind("anything", "general"),
    ]
    assert failure_kind_of(kinds, "persistent_anomaly", ["accel2_rms", "pressure"]).kind == "bearing_wear"  # type: ignore[union-attr]
    assert failure_kind_of(kinds, "persistent_anomaly", ["pressure", "accel1_rms"]).kind == "sensor_drift"  # type: ignore[union-attr]
    assert failure_kind_of(kinds, "rul_below_horizon", []).kind == "wear_out"  # type: ignore[union-attr]
    assert failure_kind_of(kinds, "persistent_anomaly", ["current"]).kind == "anything"  # type: ignore[union-attr]
    assert failure_kind_of(kinds[:2], "persistent_anomaly", ["current"]) is None


def test_skill_for_reads_the_tenants_table(database: Database) -> None:
    evidence = {"top_channels": [{"channel": "accel1_rms", "contribution": 0.7}]}
    with database.session() as session:
        add_asset(session, T, "pump-1", BERLIN, NOW)
        add_asset(session, "other", "pump-2", BERLIN, NOW)
        mine = add_order(session, T, "pump-1", NOW, evidence=evidence)
        theirs = add_order(session, "other", "pump-2", NOW, evidence=evidence)
        put_failure_skill(session, T, FailureKind("bearing_wear", "mechanical", None, ("accel1_rms",)), NOW)
        session.commit()
        assert skill_for(session, session.get_one(WorkOrderRow, mine)) == "mechanical"
        assert skill_for(session, session.get_one(WorkOrderRow, theirs)) is None  # another tenant's table
        put_failure_skill(session, T, FailureKind("bearing_wear", "vibration", None, ("accel1_rms",)), NOW)
        assert skill_for(session, session.get_one(WorkOrderRow, mine)) == "vibration"  # replaced, not added


def test_the_problem_holds_what_dispatch_may_do_and_leaves_out_what_it_cannot(database: Database) -> None:
    anna = _technician(database, "Anna", {"mechanical"}, BERLIN)
    bert = _technician(database, "Bert", {"electrical"}, POTSDAM)
    homeless = _technician(database, "Carl", {"mechanical"}, None)
    with database.session() as session:
        for device, site in (("p-berlin", BERLIN), ("p-hamburg", HAMBURG), ("p-nowhere", None), ("p-held", POTSDAM)):
            add_asset(session, T, device, site, NOW)
        declined = add_order(session, T, "p-berlin", NOW, skill="mechanical", priority=Priority.CRITICAL)
        session.get_one(WorkOrderRow, declined).declined_by = [bert]
        far = add_order(session, T, "p-hamburg", NOW, skill="electrical")
        nowhere = add_order(session, T, "p-nowhere", NOW)
        held = add_order(session, T, "p-held", NOW, status=WorkOrderStatus.ACCEPTED, technician_id=anna,
                         window=(NOW + 3600, NOW + 7200))
        session.commit()
        built = build_problem(session, T, PlanRequest(horizon_hours=24), NOW)
    assert {t.technician_id for t in built.problem.technicians} == {anna, bert}
    assert built.left_out_technicians == ((homeless, "no home base (PUT /technicians/{id} with home)"),)
    assert [o for o, _ in built.left_out_orders] == [nowhere]
    jobs = {job.order_id: job for job in built.problem.jobs}
    assert set(jobs) == {declined, far, held}
    assert jobs[held].pinned_technician == anna and jobs[declined].pinned_technician is None
    assert (jobs[declined].priority, jobs[declined].required_skill) == (0, "mechanical")
    excluded = {t.technician_id: t.excluded_orders for t in built.problem.technicians}
    assert excluded == {anna: frozenset(), bert: frozenset({declined})}
    assert all(s.start >= NOW and s.end <= NOW + 24 * 3600 for t in built.problem.technicians for s in t.shifts)


def test_a_preview_goes_stale_when_what_it_was_built_from_changes(database: Database) -> None:
    anna = _technician(database, "Anna", {"mechanical"}, BERLIN)
    with database.session() as session:
        add_asset(session, T, "p-1", POTSDAM, NOW)
        order = add_order(session, T, "p-1", NOW, skill="mechanical")
        row = preview(session, T, PlanRequest(horizon_hours=24), "test", NOW)
        session.commit()
        assert [v["order_id"] for v in row.plan["visits"]] == [order]
        check_unchanged(session, row)  # nothing changed: fine
        add_absence(session, Scope(T), anna, Interval(NOW, NOW + 3600), "late start", "test", NOW + 60)
        with pytest.raises(ConflictError, match="changed since"):
            check_unchanged(session, row)


def test_a_commit_assigns_tells_and_an_absence_takes_the_orders_back(database: Database) -> None:
    anna = _technician(database, "Anna", {"mechanical"}, BERLIN)
    planner = cli_principal("planner")
    with database.session() as session:
        customer = create_customer(session, T, "Initech", NOW)
        add_asset(session, T, "p-1", POTSDAM, NOW)
        session.add(ContractRow(device_id="p-1", tenant=T, maintenance_horizon_cycles=10.0, customer_id=customer.id,
                                updated_at=NOW))
        order = add_order(session, T, "p-1", NOW, skill="mechanical")
        row = preview(session, T, PlanRequest(horizon_hours=24), "test", NOW)
        moved = commit(session, row, planner, "test", NOW + 1)
        session.commit()
        assigned = session.get_one(WorkOrderRow, order)
        assert [o.id for o in moved] == [order]
        assert (assigned.status, assigned.technician_id) == ("assigned", anna)
        assert assigned.planned_start is not None and assigned.planned_start >= NOW
        told = session.execute(sa.select(NotificationRow.kind, NotificationRow.recipient_id)).all()
        assert sorted(told) == sorted([("assignment", anna), ("visit_window", customer.id)])
        with pytest.raises(ConflictError, match="committed already"):
            commit(session, row, planner, "test", NOW + 2)
        absence = Interval(assigned.planned_start, assigned.planned_start + 3600)
        add_absence(session, Scope(T), anna, absence, "ill", "test", NOW + 3)
        released = release_for_absence(session, anna, absence, planner, "test", NOW + 3)
        session.commit()
        assert [o.id for o in released] == [order]
        assert (session.get_one(WorkOrderRow, order).status, session.get_one(WorkOrderRow, order).technician_id) == (
            "approved", None)
