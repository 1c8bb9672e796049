"""The solver against brute force on small random cases, and the hard rules on every plan it makes.

The issue's evidence: on small random cases (<= 4 technicians, <= 7 orders) the solver's plan is
as good as brute force; skills, hours and absences are never violated.
"""

from __future__ import annotations

import functools
import itertools
import math

import pytest
from dispatchtest_support import Case, brute_force, random_case

from cloud.dispatch import GreatCircle, Location, Plan, Problem, Shift, TechnicianSpec, Visit, solve
from cloud.dispatch.costs import drop_penalty, late_weight

SEEDS = range(30)


def _cost(problem: Problem, plan: Plan) -> int:
    """The plan's objective, re-counted from what the plan says (not from the solver's own number)."""
    jobs = {job.order_id: job for job in problem.jobs}
    late = sum(late_weight(jobs[v.order_id].priority) * v.late_s for v in plan.visits)
    dropped = sum(drop_penalty(jobs[u.order_id].priority) for u in plan.unassigned)
    return int(plan.total_travel_s + late + dropped)


@functools.cache
def _solved(seed: int) -> tuple[Case, Plan]:
    """Each small case solved once with the defaults, shared by the tests below."""
    case = random_case(seed)
    return case, solve(case.problem)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_solver_is_as_good_as_brute_force(seed: int) -> None:
    case, plan = _solved(seed)
    best = brute_force(case.problem)
    assert _cost(case.problem, plan) == plan.objective
    # Brute force is the optimum: the solver cannot beat it (that would be a bug in either) ...
    assert plan.objective >= best
    # ... and must reach it (a second of rounding per leg is the only slack allowed).
    assert plan.objective <= best + len(case.problem.jobs) + len(case.problem.technicians)


def test_the_cases_are_not_trivial() -> None:
    """The random cases exercise what they claim: full sizes, drops, lateness, several technicians."""
    cases = [_solved(seed)[0] for seed in SEEDS]
    plans = [_solved(seed)[1] for seed in SEEDS]
    assert max(len(c.problem.technicians) for c in cases) == 4
    assert max(len(c.problem.jobs) for c in cases) == 7
    assert sum(len(p.visits) for p in plans) >= 100
    assert any(p.total_late_s > 0 for p in plans)
    assert any(u.reason.startswith("no room left") for p in plans for u in p.unassigned)
    assert any(len({v.technician_id for v in p.visits}) >= 3 for p in plans)


def _travel(a: Location, b: Location) -> int:
    return round(GreatCircle().seconds(a, b))


def _check_visit(case: Case, tech: TechnicianSpec, visit: Visit) -> Shift:
    """The rules one visit must keep; returns the shift it lies in."""
    job = next(job for job in case.problem.jobs if job.order_id == visit.order_id)
    assert job.required_skill is None or job.required_skill in tech.skills, "skill"
    assert job.order_id not in tech.excluded_orders, "declined order offered again"
    assert job.pinned_technician in (None, tech.technician_id), "pin"
    assert job.earliest_at is None or visit.start_at >= job.earliest_at, "earliest start"
    assert visit.end_at - visit.start_at == math.ceil(job.duration_s)
    assert visit.late_s == (0.0 if job.due_at is None else max(0.0, visit.end_at - job.due_at))
    for off_start, off_end in case.absences[tech.technician_id]:
        assert visit.end_at <= off_start or visit.start_at >= off_end, "during an absence"
    lo, hi = case.problem.now, case.problem.horizon_end
    shifts = [Shift(max(s.start, lo), min(s.end, hi)) for s in tech.shifts]
    inside = [s for s in shifts if s.start <= visit.start_at - visit.travel_s and visit.end_at <= s.end]
    assert inside, "outside every shift (hours)"
    return inside[0]


def _check_technician(case: Case, tech: TechnicianSpec, visits: list[Visit]) -> None:
    """Each shift's visits: reachable one after the other from home, and home again by the shift's end."""
    where = {job.order_id: job.location for job in case.problem.jobs}
    by_shift: dict[Shift, list[Visit]] = {}
    for visit in visits:
        by_shift.setdefault(_check_visit(case, tech, visit), []).append(visit)
    for shift, route in by_shift.items():
        place, free = tech.home, shift.start
        for visit in route:
            assert visit.travel_s == _travel(place, where[visit.order_id])
            assert visit.start_at >= free + visit.travel_s, "not enough time to get there"
            place, free = where[visit.order_id], visit.end_at
        assert free + _travel(place, tech.home) <= shift.end, "not home by the shift's end"


def _check(case: Case, plan: Plan) -> None:
    visited = [v.order_id for v in plan.visits]
    left = [u.order_id for u in plan.unassigned]
    assert sorted(visited + left) == sorted(job.order_id for job in case.problem.jobs), "each order exactly once"
    for tech in case.problem.technicians:
        mine = sorted((v for v in plan.visits if v.technician_id == tech.technician_id), key=lambda v: v.start_at)
        assert [v.sequence for v in mine] == list(range(1, len(mine) + 1))
        for a, b in itertools.pairwise(mine):
            assert a.end_at <= b.start_at, "overlapping visits"
        _check_technician(case, tech, mine)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_brute_force_cases_keep_the_rules(seed: int) -> None:
    _check(*_solved(seed))


@pytest.mark.parametrize("seed", range(100, 130))
def test_skills_hours_and_absences_are_never_violated(seed: int) -> None:
    """Larger cases than brute force can take: the rules hold whatever the search's quality."""
    case = random_case(seed, max_techs=4, max_jobs=12)
    _check(case, solve(case.problem, solution_limit=100))
