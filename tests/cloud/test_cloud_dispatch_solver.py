"""The dispatch solver on hand-made cases: who gets what, what is left out and why, the reasons it prints."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from cloud.dispatch import GreatCircle, JobSpec, Location, Plan, Problem, Shift, TechnicianSpec, solve
from cloud.dispatch.explain import span, why
from cloud.dispatch.travel import great_circle_km

NOW = 1_800_000_000.0
HOUR = 3600.0
MUNICH = Location(48.137, 11.575)
STUTTGART = Location(48.775, 9.182)
DAY = (Shift(NOW, NOW + 8 * HOUR),)


def _tech(tid: int, name: str, skills: set[str], home: Location = MUNICH, shifts: tuple[Shift, ...] = DAY,
          excluded: frozenset[int] = frozenset()) -> TechnicianSpec:
    return TechnicianSpec(tid, name, frozenset(skills), home, shifts, excluded)


def _job(oid: int, km_east: float = 5.0, skill: str | None = "mechanical", hours: float = 1.0, priority: int = 2,
         due_in_h: float | None = 6.0, **more: Any) -> JobSpec:
    where = Location(MUNICH.lat, MUNICH.lon + km_east / 74.3)
    due = None if due_in_h is None else NOW + due_in_h * HOUR
    job = JobSpec(oid, f"pump-{oid}", where, skill, hours * HOUR, priority, due)
    return dataclasses.replace(job, **more)


def _plan(techs: list[TechnicianSpec], jobs: list[JobSpec], horizon_h: float = 72.0) -> Plan:
    return solve(Problem(NOW, NOW + horizon_h * HOUR, tuple(techs), tuple(jobs)))


def _who(plan: Plan) -> dict[int, int]:
    return {v.order_id: v.technician_id for v in plan.visits}


def test_great_circle_distance_and_time() -> None:
    km = great_circle_km(MUNICH, STUTTGART)
    assert km == pytest.approx(190.6, abs=1.0)  # Munich - Stuttgart, as the crow flies
    assert GreatCircle().seconds(MUNICH, STUTTGART) == pytest.approx(km * 1.3 / 50 * 3600)
    assert GreatCircle(speed_kmh=100, detour=1.0).seconds(MUNICH, STUTTGART) == pytest.approx(km / 100 * 3600)
    assert GreatCircle().seconds(MUNICH, MUNICH) == 0.0
    with pytest.raises(ValueError):
        GreatCircle(speed_kmh=0)


def test_the_reason_reads_as_one_line() -> None:
    line = why("Anna", "mechanical", 12.4, 1100.0, 5 * HOUR + 10 * 60, from_home=False)
    assert line.text == "Anna: has `mechanical`, 12.4 km from the previous stop, 5 h 10 min before the deadline"
    late = why("Ben", None, 3.04, 300.0, -(26 * HOUR), from_home=True)
    assert late.text == "Ben: no special skill needed, 3.0 km from home, 1 d 2 h after the deadline"
    assert why("Ben", None, 0.0, 0.0, None, from_home=True).text.endswith("no deadline")
    assert (span(59), span(45 * 60), span(3 * HOUR)) == ("1 min", "45 min", "3 h 0 min")


def test_the_skill_decides_even_against_distance() -> None:
    near = _tech(1, "Anna", {"mechanical"})
    far = _tech(2, "Ben", {"electrical"}, home=Location(MUNICH.lat, MUNICH.lon + 40 / 74.3))
    plan = _plan([near, far], [_job(10, skill="electrical"), _job(11, skill="mechanical")])
    assert _who(plan) == {10: 2, 11: 1}
    visit = next(v for v in plan.visits if v.order_id == 10)
    assert visit.why.skill == "electrical"
    assert visit.why.distance_km == pytest.approx(35.0, abs=0.5)  # Ben's home is 40 km east, the job 5 km
    assert visit.travel_s == pytest.approx(GreatCircle().seconds(far.home, _job(10).location), abs=1.0)
    assert visit.why.text.startswith("Ben: has `electrical`, 35.0 km from home, ")


def test_the_route_is_sequenced_by_deadline_and_reasons_follow_the_stops() -> None:
    anna = _tech(1, "Anna", {"mechanical"})
    plan = _plan([anna], [_job(1, km_east=10, due_in_h=7), _job(2, km_east=10.5, due_in_h=2)])
    first, second = sorted(plan.visits, key=lambda v: v.sequence)
    assert (first.order_id, second.order_id) == (2, 1)
    assert second.why.text.startswith("Anna: has `mechanical`, 0.5 km from the previous stop, ")
    assert first.why.slack_s == pytest.approx(NOW + 2 * HOUR - first.end_at)
    assert plan.total_late_s == 0.0


def test_lateness_is_allowed_and_reported_when_unavoidable() -> None:
    plan = _plan([_tech(1, "Anna", {"mechanical"})], [_job(1, hours=3, due_in_h=1, priority=0)])
    (visit,) = plan.visits
    assert visit.late_s == pytest.approx(visit.end_at - (NOW + HOUR))
    assert visit.late_s > 2 * HOUR
    assert visit.why.slack_s == -visit.late_s and "after the deadline" in visit.why.text


def test_when_time_runs_short_the_lowest_priority_is_left_out() -> None:
    short = (Shift(NOW, NOW + 3 * HOUR),)
    jobs = [_job(1, hours=2, priority=3), _job(2, hours=2, priority=0), _job(3, hours=2, priority=1, km_east=6)]
    plan = _plan([_tech(1, "Anna", {"mechanical"}, shifts=short)], jobs)
    assert list(_who(plan)) == [2]
    assert {u.order_id: u.reason.startswith("no room left") for u in plan.unassigned} == {1: True, 3: True}


def test_impossible_orders_are_left_out_with_the_rule_that_excludes_them() -> None:
    anna = _tech(1, "Anna", {"mechanical"}, excluded=frozenset({4}))
    off = _tech(2, "Ben", {"mechanical", "hydraulic"}, shifts=())
    jobs = [
        _job(1, skill="hydraulic"),  # only Ben has it, and Ben has no shift
        _job(2, skill="pneumatic"),
        _job(3, pinned_technician=2),
        _job(4),  # Anna declined it; Ben has no time
        _job(5, hours=9),  # longer than any shift
        _job(6, pinned_technician=99),
    ]
    reasons = {u.order_id: u.reason for u in _plan([anna, off], jobs).unassigned}
    assert reasons == {
        1: "no shift of a qualified technician has room for it before the planning horizon",
        2: "no technician has the skill `pneumatic`",
        3: "no shift of a qualified technician has room for it before the planning horizon",
        4: "no shift of a qualified technician has room for it before the planning horizon",
        5: "no shift of a qualified technician has room for it before the planning horizon",
        6: "pinned to technician 99, who cannot take it",
    }
    only_anna = {u.order_id: u.reason for u in _plan([anna], [_job(4)]).unassigned}
    assert only_anna == {4: "every technician able to do it declined it"}


def test_pins_declines_and_earliest_starts_are_kept() -> None:
    anna, ben = _tech(1, "Anna", {"mechanical"}, excluded=frozenset({2})), _tech(2, "Ben", {"mechanical"})
    jobs = [_job(1, pinned_technician=2, km_east=0.1), _job(2, km_east=0.2),
            _job(3, earliest_at=NOW + 5 * HOUR, due_in_h=None)]
    plan = _plan([anna, ben], jobs)
    assert _who(plan)[1] == 2 and _who(plan)[2] == 2
    assert next(v for v in plan.visits if v.order_id == 3).start_at >= NOW + 5 * HOUR


def test_shifts_on_later_days_take_the_overflow_and_the_past_is_not_planned() -> None:
    days = (Shift(NOW - 4 * HOUR, NOW + 2 * HOUR), Shift(NOW + 24 * HOUR, NOW + 32 * HOUR))
    jobs = [_job(i, hours=1.5, km_east=1 + i * 0.1, due_in_h=30) for i in range(1, 5)]
    plan = _plan([_tech(1, "Anna", {"mechanical"}, shifts=days)], jobs)
    assert len(plan.visits) == 4 and not plan.unassigned
    assert all(v.start_at >= NOW for v in plan.visits)
    assert sum(1 for v in plan.visits if v.start_at >= NOW + 24 * HOUR) >= 3  # only 2 h left today
    assert [v.sequence for v in sorted(plan.visits, key=lambda v: v.start_at)] == [1, 2, 3, 4]


def test_a_replaced_travel_time_is_what_the_plan_uses() -> None:
    class Flat:
        def seconds(self, a: Location, b: Location) -> float:
            return 0.0 if a == b else 900.0

    problem = Problem(NOW, NOW + 24 * HOUR, (_tech(1, "Anna", {"mechanical"}),), (_job(1), _job(2, km_east=80)))
    plan = solve(problem, travel=Flat())
    assert [v.travel_s for v in plan.visits] == [900.0, 900.0]
    assert plan.total_travel_s == 2700.0


def test_long_overdue_dates_and_long_horizons_do_not_overflow() -> None:
    year = 365 * 24 * HOUR
    jobs = [_job(1, due_in_h=-year / HOUR, priority=0), _job(2, due_in_h=year / HOUR, priority=3)]
    shifts = (Shift(NOW, NOW + 8 * HOUR), Shift(NOW + year - 8 * HOUR, NOW + year))
    plan = solve(Problem(NOW, NOW + year, (_tech(1, "Anna", {"mechanical"}, shifts=shifts),), tuple(jobs)))
    visit = {v.order_id: v for v in plan.visits}
    assert set(visit) == {1, 2}
    assert visit[1].late_s == pytest.approx(visit[1].end_at - (NOW - year))
    assert visit[2].late_s == 0.0


def test_nothing_to_plan_gives_an_empty_plan() -> None:
    assert _plan([], [_job(1)]).unassigned[0].order_id == 1
    empty = _plan([_tech(1, "Anna", {"mechanical"})], [])
    assert (empty.visits, empty.unassigned, empty.total_travel_s, empty.objective) == ((), (), 0.0, 0)


def test_the_same_problem_gives_the_same_plan() -> None:
    techs = [_tech(t, f"T{t}", {"mechanical", "electrical"} if t % 2 else {"mechanical"},
                   home=Location(MUNICH.lat + t * 0.05, MUNICH.lon)) for t in range(1, 5)]
    jobs = [_job(i, km_east=(i * 7) % 30, skill=("electrical", "mechanical", None)[i % 3], priority=i % 4,
                 due_in_h=2 + i % 9, hours=0.5 + (i % 3) * 0.5) for i in range(1, 15)]
    first, second = _plan(techs, jobs), _plan(techs, jobs)
    assert first.visits == second.visits and first.unassigned == second.unassigned
    assert first.objective == second.objective


def test_a_decline_or_an_absence_moves_the_order_to_someone_else() -> None:
    anna = _tech(1, "Anna", {"mechanical"})
    ben = _tech(2, "Ben", {"mechanical"}, home=Location(MUNICH.lat, MUNICH.lon + 30 / 74.3))
    jobs = [_job(1, km_east=1), _job(2, km_east=2)]
    assert set(_who(_plan([anna, ben], jobs)).values()) == {1}  # both near Anna's home
    declined = _plan([dataclasses.replace(anna, excluded_orders=frozenset({2})), ben], jobs)
    assert _who(declined) == {1: 1, 2: 2}
    absent = _plan([dataclasses.replace(anna, shifts=()), ben], jobs)
    assert _who(absent) == {1: 2, 2: 2}
    first = next(v for v in absent.visits if v.sequence == 1)
    assert first.why.text.startswith("Ben: has `mechanical`, ") and 27.5 < first.why.distance_km < 29.5
