"""Dispatch: which technician visits which approved order, in what order, and why.

`solve(problem)` turns a `Problem` (technicians with skills, homes and shifts; jobs with place,
skill, duration, priority and due date) into a `Plan` with OR-Tools' routing solver. Pure: no
database, no HTTP, no clock reads beyond timing itself. Travel time comes from a `TravelTime`
(`GreatCircle` by default), the seam where a road-network service would plug in.
"""

from cloud.dispatch.problem import (
    JobSpec,
    Location,
    Plan,
    Problem,
    Shift,
    TechnicianSpec,
    Unassigned,
    Visit,
    Why,
)
from cloud.dispatch.solver import solve
from cloud.dispatch.travel import GreatCircle, TravelTime

__all__ = [
    "GreatCircle", "JobSpec", "Location", "Plan", "Problem", "Shift", "TechnicianSpec", "TravelTime", "Unassigned",
    "Visit", "Why", "solve",
]
