"""Who could ever do which job: the hard rules checked before the solver sees a job.

A job gets the list of vehicles (one technician's one shift) that have its skill, are not
excluded by a decline, match its pin, and have room in the shift for the way there, the work
and the way home. A job with no such vehicle is reported unassigned with the first rule that
ruled everyone out, and never reaches the solver.

Times here are integer seconds from the model's origin, so the solver and these checks agree to
the second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cloud.dispatch.problem import JobSpec, Problem, TechnicianSpec, Unassigned

NO_SKILL = "no technician has the skill `{skill}`"
PINNED_UNABLE = "pinned to technician {tech}, who cannot take it"
ALL_DECLINED = "every technician able to do it declined it"
NO_ROOM = "no shift of a qualified technician has room for it before the planning horizon"

# Overdue dates further back than this are treated as this old: the lateness cost of such an
# order is a constant the plan cannot change, and it keeps the integer model small.
MAX_OVERDUE_S = 30 * 24 * 3600


@dataclass(frozen=True)
class Vehicle:
    """One technician's one shift, as the solver sees it: a route from home and back within [start, end]."""

    technician: int  # index into Problem.technicians
    start: int
    end: int


@dataclass(frozen=True)
class Timeline:
    """The integer clock of one model: seconds since `origin` (epoch seconds)."""

    origin: float

    def rel(self, at: float) -> int:
        """Epoch seconds to model seconds (rounded to the second)."""
        return round(at - self.origin)

    def abs(self, rel: int) -> float:
        """Model seconds back to epoch seconds."""
        return self.origin + rel


def timeline(problem: Problem) -> Timeline:
    """An origin at or before `now` and every job's latest on-time start, so no bound is negative."""
    origin = math.floor(problem.now)
    for job in problem.jobs:
        if job.due_at is not None:
            origin = min(origin, math.floor(job.due_at - job.duration_s))
    return Timeline(origin=max(origin, math.floor(problem.now) - MAX_OVERDUE_S))


def vehicles(problem: Problem, line: Timeline) -> tuple[Vehicle, ...]:
    """One vehicle per shift, clipped to [now, horizon_end]; empty shifts are skipped."""
    lo, hi = line.rel(problem.now), line.rel(problem.horizon_end)
    found: list[Vehicle] = []
    for index, tech in enumerate(problem.technicians):
        for shift in sorted(tech.shifts, key=lambda s: (s.start, s.end)):
            start, end = max(lo, line.rel(shift.start)), min(hi, line.rel(shift.end))
            if end > start:
                found.append(Vehicle(technician=index, start=start, end=end))
    return tuple(found)


def duration(job: JobSpec) -> int:
    """Time on site in whole seconds (rounded up: a plan never under-books the work)."""
    return max(0, math.ceil(job.duration_s))


def qualified(tech: TechnicianSpec, job: JobSpec) -> bool:
    """The technician has the job's skill (or none is needed)."""
    return job.required_skill is None or job.required_skill in tech.skills


def allowed_vehicles(problem: Problem, line: Timeline, fleet: tuple[Vehicle, ...], job: JobSpec,
                     to_job: list[int], from_job: list[int]) -> tuple[list[int], str | None]:
    """The vehicles that may take `job`, or none and the reason.

    `to_job[t]` / `from_job[t]` are the integer travel seconds from / to technician t's home.
    """
    techs = problem.technicians
    able = {i for i, tech in enumerate(techs) if qualified(tech, job)}
    if not able:
        return [], NO_SKILL.format(skill=job.required_skill)
    if job.pinned_technician is not None:
        able = {i for i in able if techs[i].technician_id == job.pinned_technician}
        if not able:
            return [], PINNED_UNABLE.format(tech=job.pinned_technician)
    able = {i for i in able if job.order_id not in techs[i].excluded_orders}
    if not able:
        return [], ALL_DECLINED
    earliest = line.rel(job.earliest_at) if job.earliest_at is not None else None
    fits: list[int] = []
    for v, vehicle in enumerate(fleet):
        if vehicle.technician not in able:
            continue
        arrive = vehicle.start + to_job[vehicle.technician]
        begin = arrive if earliest is None else max(arrive, earliest)
        if begin + duration(job) + from_job[vehicle.technician] <= vehicle.end:
            fits.append(v)
    return fits, (None if fits else NO_ROOM)


def unassigned(job: JobSpec, reason: str) -> Unassigned:
    """An unassigned entry for `job`."""
    return Unassigned(order_id=job.order_id, reason=reason)
