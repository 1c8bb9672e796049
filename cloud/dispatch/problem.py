"""What dispatch is asked and what it answers: technicians, jobs, and the plan, as plain values.

The solver reads a `Problem` and returns a `Plan`; neither touches the database or the clock.
The caller (the dispatch API) builds the problem from the store: shifts with absences already
cut out, orders a technician declined in `excluded_orders`, accepted orders pinned to their
technician. All times are epoch seconds (UTC) as floats.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """A point on the earth, in decimal degrees."""

    lat: float
    lon: float


@dataclass(frozen=True)
class Shift:
    """One stretch of working time; absences are already removed (an absence splits a shift)."""

    start: float
    end: float


@dataclass(frozen=True)
class TechnicianSpec:
    """A technician as dispatch sees one: what they can do, where they start, when they work."""

    technician_id: int
    name: str
    skills: frozenset[str]
    home: Location
    shifts: tuple[Shift, ...]
    # Orders this technician declined: never offered to them again.
    excluded_orders: frozenset[int] = frozenset()


@dataclass(frozen=True)
class JobSpec:
    """One approved work order to place: where, how long, who may do it, by when.

    `priority` is 0 (critical) .. 3 (low), `cloud.maintenance.status.Priority.rank`.
    `due_at` is when the visit should be finished; later is allowed but costs lateness.
    """

    order_id: int
    device_id: str
    location: Location
    required_skill: str | None
    duration_s: float
    priority: int
    due_at: float | None
    earliest_at: float | None = None
    pinned_technician: int | None = None


@dataclass(frozen=True)
class Problem:
    """Everything one planning run needs; `now` and `horizon_end` bound the time that may be planned."""

    now: float
    horizon_end: float
    technicians: tuple[TechnicianSpec, ...]
    jobs: tuple[JobSpec, ...]


@dataclass(frozen=True)
class Why:
    """Why a visit went to this technician: the skill matched, the leg there, the slack before the deadline.

    `slack_s` is `due_at - end_at` (negative: late); None when the order has no due date.
    `distance_km` is the great-circle distance from the previous stop (home for a shift's first visit).
    """

    skill: str | None
    distance_km: float
    travel_s: float
    slack_s: float | None
    text: str


@dataclass(frozen=True)
class Visit:
    """One planned visit; `sequence` counts a technician's visits in time order, from 1."""

    order_id: int
    technician_id: int
    sequence: int
    start_at: float
    end_at: float
    travel_s: float
    late_s: float
    why: Why


@dataclass(frozen=True)
class Unassigned:
    """An order the plan leaves out, and why (no skill, no shift, or not worth its place)."""

    order_id: int
    reason: str


@dataclass(frozen=True)
class Plan:
    """The solver's answer.

    `total_travel_s` includes each shift's way back home; `total_late_s` sums the visits' `late_s`;
    `objective` is the solver's cost in its integer units (travel s + weighted lateness s + drop
    penalties, see `cloud.dispatch.costs`), for comparing plans of one problem.
    """

    visits: tuple[Visit, ...]
    unassigned: tuple[Unassigned, ...]
    total_travel_s: float
    total_late_s: float
    solve_s: float
    objective: int = 0
