"""From the solver's routes to a `Plan`: the schedule of each route, its costs, and every visit's why.

Each route is scheduled forwards: leave home at the shift's start, start each job as soon as the
technician is there and the job may begin, then go home. For a fixed order of stops this is the
cheapest schedule (lateness only grows with time), so the plan's cost is what the solver minimised.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloud.dispatch import explain, feasibility
from cloud.dispatch.costs import drop_penalty, late_weight
from cloud.dispatch.feasibility import Timeline, Vehicle
from cloud.dispatch.problem import JobSpec, Location, Plan, Problem, Unassigned, Visit
from cloud.dispatch.travel import great_circle_km


@dataclass(frozen=True)
class Route:
    """One vehicle's stops in order, as positions in the model's job list."""

    vehicle: int
    jobs: tuple[int, ...]


@dataclass(frozen=True)
class _Stop:
    order_id: int
    technician: int
    start: int
    end: int
    travel: int
    late: int
    why_from: Location
    first: bool


def _schedule(problem: Problem, line: Timeline, vehicle: Vehicle, jobs: tuple[JobSpec, ...],
              travel: list[list[int]], route: Route) -> tuple[list[_Stop], int]:
    """The route's stops with their times, and the route's travel seconds (the way home included)."""
    homes = len(problem.technicians)
    tech = problem.technicians[vehicle.technician]
    clock, previous, where, driven = vehicle.start, vehicle.technician, tech.home, 0
    stops: list[_Stop] = []
    for position in route.jobs:
        job, node = jobs[position], homes + position
        leg = travel[previous][node]
        start = clock + leg
        if job.earliest_at is not None:
            start = max(start, line.rel(job.earliest_at))
        end = start + feasibility.duration(job)
        late = 0 if job.due_at is None else max(0, end - line.rel(job.due_at))
        stops.append(_Stop(job.order_id, vehicle.technician, start, end, leg, late, where, not stops))
        clock, previous, where, driven = end, node, job.location, driven + leg
    return stops, driven + travel[previous][vehicle.technician]


def build_plan(problem: Problem, line: Timeline, fleet: tuple[Vehicle, ...], jobs: tuple[JobSpec, ...],
               travel: list[list[int]], routes: list[Route], unassigned: list[Unassigned],
               solve_s: float) -> Plan:
    """The plan for `routes`, with its objective in the solver's integer units."""
    by_order = {job.order_id: job for job in jobs}
    stops: list[_Stop] = []
    total_travel = 0
    for route in routes:
        route_stops, driven = _schedule(problem, line, fleet[route.vehicle], jobs, travel, route)
        stops.extend(route_stops)
        total_travel += driven
    stops.sort(key=lambda s: (problem.technicians[s.technician].technician_id, s.start, s.order_id))
    visits: list[Visit] = []
    sequence: dict[int, int] = {}
    objective = total_travel
    for stop in stops:
        tech, job = problem.technicians[stop.technician], by_order[stop.order_id]
        sequence[stop.technician] = sequence.get(stop.technician, 0) + 1
        end_at = line.abs(stop.end)
        slack = None if job.due_at is None else job.due_at - end_at
        reason = explain.why(tech.name, job.required_skill, great_circle_km(stop.why_from, job.location),
                             float(stop.travel), slack, stop.first)
        visits.append(Visit(order_id=job.order_id, technician_id=tech.technician_id,
                            sequence=sequence[stop.technician], start_at=line.abs(stop.start), end_at=end_at,
                            travel_s=float(stop.travel), late_s=float(stop.late), why=reason))
        objective += late_weight(job.priority) * stop.late
    all_jobs = {job.order_id: job for job in problem.jobs}
    objective += sum(drop_penalty(all_jobs[u.order_id].priority) for u in unassigned)
    return Plan(visits=tuple(visits), unassigned=tuple(sorted(unassigned, key=lambda u: u.order_id)),
                total_travel_s=float(total_travel), total_late_s=float(sum(s.late for s in stops)),
                solve_s=solve_s, objective=objective)
