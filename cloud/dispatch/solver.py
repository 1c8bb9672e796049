"""Assign and sequence approved orders with OR-Tools' vehicle routing solver.

The model:

- one vehicle per (technician, shift): it leaves home no earlier than the shift's start and is
  back home by its end (the commute is working time). A technician with three shifts is three
  vehicles sharing a home; an absence has already split or removed shifts. One vehicle per shift
  keeps every window hard without break intervals, and lets a job move between days freely.
- jobs are nodes with their time on site as service time; only the vehicles that pass
  `feasibility.allowed_vehicles` (skill, decline, pin, room in the shift) may visit a job
  (the job's vehicle variable); a job no vehicle can take is unassigned before solving.
- a time dimension (travel + service, waiting allowed) with `earliest_at` as a hard lower bound
  and `due_at` as a soft upper bound on the start (due minus duration), costing
  `costs.late_weight(priority)` per second late.
- one disjunction per job with `costs.drop_penalty(priority)`; the arc cost is travel seconds.

Determinism: the first solution (parallel cheapest insertion) and each step of guided local search
are deterministic; the search stops at `time_limit_s`, after `solution_limit` solutions or after
`BRANCHES_PER_SOLUTION * solution_limit` search branches, whichever comes first. Stopping on a count
gives the same plan for the same problem on any machine (small problems do: a town, a handful of
orders); stopping on the time limit (large problems) may stop at a different step on a slower or
busier machine. The reported schedule is recomputed from the routes (leave home at the shift's
start, start each job as soon as possible), which is cost-optimal for a route because lateness only
grows with time.
"""

from __future__ import annotations

from dataclasses import dataclass

# OR-Tools ships .pyi files but no py.typed marker: its calls are untyped (Any) here, and this module
# is the only place that touches it.
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from cloud.dispatch import feasibility
from cloud.dispatch.costs import drop_penalty, late_weight
from cloud.dispatch.feasibility import Timeline, Vehicle
from cloud.dispatch.plan_builder import Route, build_plan
from cloud.dispatch.problem import JobSpec, Location, Plan, Problem, Unassigned
from cloud.dispatch.travel import GreatCircle, TravelTime
from contract.clock import Clock, SystemClock

# Small problems (a town, a handful of orders) converge well before this, so they stop here, not on
# the clock, and give the same plan on any machine (measured against brute force in the tests).
DEFAULT_SOLUTION_LIMIT = 1_000
# Guided local search counts no new solution when no move is possible at all (one order, one shift):
# a cap on search branches, also a count and not a clock, stops those runs in milliseconds.
BRANCHES_PER_SOLUTION = 20


@dataclass(frozen=True)
class Model:
    """The integer model handed to OR-Tools, kept for reading the answer back."""

    line: Timeline
    fleet: tuple[Vehicle, ...]
    jobs: tuple[JobSpec, ...]  # the jobs given to the solver, node = len(technicians) + position
    allowed: tuple[list[int], ...]
    travel: list[list[int]]  # integer seconds between nodes (homes first, then jobs)
    unassigned: tuple[Unassigned, ...]


def solve(problem: Problem, travel: TravelTime | None = None, time_limit_s: float = 5.0,
          solution_limit: int = DEFAULT_SOLUTION_LIMIT, clock: Clock | None = None) -> Plan:
    """The cheapest plan found for `problem` (see `cloud.dispatch.costs` for what cheap means)."""
    clock = clock or SystemClock()
    started = clock.monotonic()
    model = build_model(problem, travel or GreatCircle())
    routes = _routes(problem, model, time_limit_s, solution_limit) if model.jobs and model.fleet else []
    dropped = {job.order_id for job in model.jobs} - {model.jobs[n].order_id for r in routes for n in r.jobs}
    unassigned = list(model.unassigned) + [
        feasibility.unassigned(job, NOT_WORTH) for job in model.jobs if job.order_id in dropped
    ]
    return build_plan(problem, model.line, model.fleet, model.jobs, model.travel, routes, unassigned,
                      solve_s=clock.monotonic() - started)


NOT_WORTH = "no room left in the shifts for it: higher-priority or closer orders took the time"


def build_model(problem: Problem, travel: TravelTime) -> Model:
    """Integer times and travel, the fleet, and which vehicles may take which job."""
    line = feasibility.timeline(problem)
    fleet = feasibility.vehicles(problem, line)
    places: list[Location] = [tech.home for tech in problem.technicians] + [job.location for job in problem.jobs]
    matrix = [[0 if i == j else round(travel.seconds(a, b)) for j, b in enumerate(places)]
              for i, a in enumerate(places)]
    homes = len(problem.technicians)
    kept: list[int] = []
    allowed: list[list[int]] = []
    unassigned: list[Unassigned] = []
    for position, job in enumerate(problem.jobs):
        node = homes + position
        to_job = [matrix[t][node] for t in range(homes)]
        from_job = [matrix[node][t] for t in range(homes)]
        fits, reason = feasibility.allowed_vehicles(problem, line, fleet, job, to_job, from_job)
        if reason is not None:
            unassigned.append(feasibility.unassigned(job, reason))
        else:
            kept.append(position)
            allowed.append(fits)
    nodes = list(range(homes)) + [homes + p for p in kept]
    return Model(line=line, fleet=fleet, jobs=tuple(problem.jobs[p] for p in kept), allowed=tuple(allowed),
                 travel=[[matrix[i][j] for j in nodes] for i in nodes], unassigned=tuple(unassigned))


def _routes(problem: Problem, model: Model, time_limit_s: float, solution_limit: int) -> list[Route]:
    homes = len(problem.technicians)
    starts = [v.technician for v in model.fleet]
    manager = pywrapcp.RoutingIndexManager(len(model.travel), len(model.fleet), starts, starts)
    routing = pywrapcp.RoutingModel(manager)
    service = [0] * homes + [feasibility.duration(job) for job in model.jobs]
    arc = routing.RegisterTransitMatrix(model.travel)
    routing.SetArcCostEvaluatorOfAllVehicles(arc)
    busy = routing.RegisterTransitMatrix(
        [[model.travel[i][j] + service[i] for j in range(len(service))] for i in range(len(service))])
    horizon = max([v.end for v in model.fleet] + [1])
    routing.AddDimension(busy, horizon, horizon, False, "time")
    time = routing.GetDimensionOrDie("time")
    for v, vehicle in enumerate(model.fleet):
        time.CumulVar(routing.Start(v)).SetRange(vehicle.start, vehicle.end)
        time.CumulVar(routing.End(v)).SetRange(vehicle.start, vehicle.end)
    for position, job in enumerate(model.jobs):
        index = manager.NodeToIndex(homes + position)
        earliest = 0 if job.earliest_at is None else max(0, model.line.rel(job.earliest_at))
        time.CumulVar(index).SetRange(min(earliest, horizon), horizon)
        if job.due_at is not None:
            latest_start = max(0, model.line.rel(job.due_at) - service[homes + position])
            time.SetCumulVarSoftUpperBound(index, latest_start, late_weight(job.priority))
        # SetAllowedVehiclesForIndex's SWIG wrapper rejects Python lists in OR-Tools 9.15 (absl::Span);
        # restricting the vehicle variable is the same constraint (-1: the job may still be dropped).
        routing.VehicleVar(index).SetValues([-1, *model.allowed[position]])
        routing.AddDisjunction([index], drop_penalty(job.priority))
    routing.AddSearchMonitor(routing.solver().BranchesLimit(BRANCHES_PER_SOLUTION * solution_limit))
    solution = routing.SolveWithParameters(_parameters(time_limit_s, solution_limit))
    if solution is None:
        return []
    routes: list[Route] = []
    for v in range(len(model.fleet)):
        index = routing.Start(v)
        stops: list[int] = []
        index = solution.Value(routing.NextVar(index))
        while not routing.IsEnd(index):
            stops.append(manager.IndexToNode(index) - homes)
            index = solution.Value(routing.NextVar(index))
        if stops:
            routes.append(Route(vehicle=v, jobs=tuple(stops)))
    return routes


def _parameters(time_limit_s: float, solution_limit: int) -> object:
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
    params.solution_limit = solution_limit
    return params
