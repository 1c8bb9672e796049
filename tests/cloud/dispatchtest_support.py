"""Seeded random dispatch problems, and a brute force that finds their optimum by enumeration.

The brute force shares nothing with the solver but the cost tables (`cloud.dispatch.costs`) and
the great-circle formula: it rounds travel to whole seconds and books whole seconds on site, as
the model does, enumerates every order of stops for every shift, and combines shifts by dynamic
programming over subsets of jobs.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from cloud.dispatch import GreatCircle, JobSpec, Location, Problem, Shift, TechnicianSpec
from cloud.dispatch.costs import drop_penalty, late_weight

NOW = 1_800_000_000  # a whole second, so rounding in the model cannot shift times
HOUR = 3600
SKILLS = ("mechanical", "electrical", "hydraulic")
NAMES = ("Anna", "Ben", "Chiara", "Dmitri")


@dataclass(frozen=True)
class Case:
    """A random problem, with the absences that were cut out of its shifts (to check them afterwards)."""

    problem: Problem
    absences: dict[int, tuple[tuple[float, float], ...]]


def _cut(shift: tuple[int, int], absence: tuple[int, int] | None) -> tuple[Shift, ...]:
    start, end = shift
    if absence is None:
        return (Shift(start, end),)
    parts = [(start, min(end, absence[0])), (max(start, absence[1]), end)]
    return tuple(Shift(a, b) for a, b in parts if b > a)


def random_case(seed: int, max_techs: int = 4, max_jobs: int = 7) -> Case:
    """Up to `max_techs` technicians (one or two shifts, maybe an absence) and `max_jobs` jobs around a town."""
    rnd = random.Random(seed)
    centre = Location(48.0 + rnd.uniform(-1, 1), 11.0 + rnd.uniform(-1, 1))

    def near() -> Location:
        return Location(centre.lat + rnd.uniform(-0.15, 0.15), centre.lon + rnd.uniform(-0.2, 0.2))

    techs: list[TechnicianSpec] = []
    absences: dict[int, tuple[tuple[float, float], ...]] = {}
    n_jobs = rnd.randint(min(3, max_jobs), max_jobs)
    for t in range(rnd.randint(1, max_techs)):
        skills = frozenset(rnd.sample(SKILLS[:2], rnd.randint(1, 2)))
        shifts: list[Shift] = []
        cut: list[tuple[float, float]] = []
        for day in range(rnd.randint(1, 2)):
            begin = NOW + day * 24 * HOUR + rnd.choice((0, HOUR))
            absence = None
            if rnd.random() < 0.3:
                off = begin + rnd.randint(1, 5) * HOUR
                absence = (off, off + rnd.randint(1, 3) * HOUR)
                cut.append(absence)
            shifts.extend(_cut((begin, begin + rnd.choice((6, 8)) * HOUR), absence))
        declined = frozenset(j for j in range(n_jobs) if rnd.random() < 0.1)
        techs.append(TechnicianSpec(100 + t, NAMES[t], skills, near(), tuple(shifts), declined))
        absences[100 + t] = tuple(cut)
    jobs: list[JobSpec] = []
    for j in range(n_jobs):
        skill = rnd.choice((None, *SKILLS[:2], *SKILLS[:2])) if rnd.random() > 0.05 else SKILLS[2]
        due = NOW + rnd.randint(1, 40) * HOUR if rnd.random() < 0.8 else None
        earliest = NOW + rnd.randint(0, 6) * HOUR if rnd.random() < 0.2 else None
        pinned = 100 + rnd.randrange(len(techs)) if rnd.random() < 0.1 else None
        jobs.append(JobSpec(j, f"pump-{j}", near(), skill, rnd.choice((30, 60, 90, 120)) * 60, rnd.randint(0, 3),
                            due, earliest, pinned))
    problem = Problem(now=NOW, horizon_end=NOW + 48 * HOUR, technicians=tuple(techs), jobs=tuple(jobs))
    return Case(problem=problem, absences=absences)


def _allowed(tech: TechnicianSpec, job: JobSpec) -> bool:
    return ((job.required_skill is None or job.required_skill in tech.skills)
            and job.order_id not in tech.excluded_orders
            and (job.pinned_technician is None or job.pinned_technician == tech.technician_id))


def _best_routes(problem: Problem, tech: TechnicianSpec, shift: Shift,
                 seconds: dict[tuple[int, int], int]) -> dict[int, int]:
    """For every set of jobs (a bit mask) this shift can do, the cheapest travel + weighted lateness."""
    start = max(shift.start, problem.now)
    end = min(shift.end, problem.horizon_end)
    jobs = problem.jobs
    allowed = [i for i, job in enumerate(jobs) if _allowed(tech, job)]
    best: dict[int, int] = {0: 0}

    def walk(mask: int, at: int, clock: float, cost: int) -> None:
        home = seconds[(at, -1)] if at >= 0 else 0
        if clock + home <= end:
            total = cost + home
            if total < best.get(mask, math.inf):
                best[mask] = total
        for i in allowed:
            if mask & (1 << i):
                continue
            job = jobs[i]
            leg = seconds[(at, i)]
            begin = clock + leg if job.earliest_at is None else max(clock + leg, job.earliest_at)
            finish = begin + math.ceil(job.duration_s)
            if finish > end:
                continue
            late = 0 if job.due_at is None else max(0, int(finish - job.due_at))
            walk(mask | (1 << i), i, finish, cost + leg + late_weight(job.priority) * late)

    if end > start:
        walk(0, -1, start, 0)
    return best


def brute_force(problem: Problem) -> int:
    """The optimal objective: travel s + weighted lateness s + drop penalties, over every plan."""
    travel = GreatCircle()
    jobs = problem.jobs
    seconds: dict[tuple[int, int], int] = {}
    best_total: dict[int, int] = {0: 0}
    for tech in problem.technicians:
        for i, job in enumerate(jobs):
            seconds[(-1, i)] = round(travel.seconds(tech.home, job.location))
            seconds[(i, -1)] = round(travel.seconds(job.location, tech.home))
            for k, other in enumerate(jobs):
                seconds[(i, k)] = 0 if i == k else round(travel.seconds(job.location, other.location))
        for shift in tech.shifts:
            routes = _best_routes(problem, tech, shift, seconds)
            combined = dict(best_total)
            for done, cost in best_total.items():
                for mask, route_cost in routes.items():
                    if mask and not done & mask:
                        key = done | mask
                        if cost + route_cost < combined.get(key, math.inf):
                            combined[key] = cost + route_cost
            best_total = combined
    return min(cost + sum(drop_penalty(job.priority) for i, job in enumerate(jobs) if not done & (1 << i))
               for done, cost in best_total.items())
