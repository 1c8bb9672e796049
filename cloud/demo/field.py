"""The demo's field service: technicians, sites and failure skills, then approval, dispatch and a technician at work.

All through the public API, each step as the role that takes it: the admin sets up the
directory, the planner approves what no contract policy approved, previews a dispatch plan and
commits it; the demo technician (its own API key) accepts its tasks and completes some with a
finding. Sites are spread around Berlin from the demo's seed, so a run is reproducible.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from cloud.demo.report import get_json, post_json, put_json

CITY = (52.52, 13.405)  # Berlin
SPREAD_DEG = 0.25  # sites within about 25 km
ALL_DAY = [{"weekday": day, "start": "00:00", "end": "24:00"} for day in range(7)]  # the demo runs at any hour
SKILLS = ("mechanical", "electrical", "hydraulic", "instrumentation")
# Failure kinds of a pump, by the channels that point to them (docs/field.md: the matching rule).
FAILURE_KINDS: dict[str, dict[str, Any]] = {
    "bearing_wear": {"skill": "mechanical", "channels": ["accel1_rms", "accel2_rms"]},
    "motor_fault": {"skill": "electrical", "channels": ["current", "voltage", "motor_temp"]},
    "cavitation": {"skill": "hydraulic", "channels": ["pressure", "flow_rate", "fluid_temp"]},
    "wear_out": {"skill": "mechanical", "rule": "rul_below_horizon"},
}
# An electrician based in Hamburg, for when the demo technician (in Berlin, every skill) has no room: the closer
# technician wins, so the demo technician, whose tasks the demo works through, gets the Berlin jobs.
SECOND_TECHNICIAN = ("Field Technician 2", ["electrical"], (53.551, 9.993))
# The contracts' auto-approve policy (cloud.maintenance.policy): high or critical, and fairly sure.
AUTO_APPROVE: dict[str, object] = {"name": "urgent-and-sure", "min_priority": "high", "min_confidence": 0.5}
FINISH_SHARE = 0.5  # the simulated technician completes this share of its accepted tasks (at least one)


@dataclass(frozen=True)
class FieldOutcome:
    work_orders_by_status: dict[str, int]
    assigned_work_orders: int
    approved_by_planner: int
    completed: int


def set_up_directory(api_url: str, admin_key: str, technician_id: int) -> None:
    """Failure kinds and technicians (before the fleet runs, so proposals already name the skill they need)."""
    base = f"{api_url}/api/v1"
    for kind, rule in FAILURE_KINDS.items():
        put_json(f"{base}/failure-skills/{kind}", admin_key, rule)
    put_json(f"{base}/technicians/{technician_id}", admin_key, {
        "skills": list(SKILLS), "home": {"lat": CITY[0], "lon": CITY[1]}, "time_zone": "UTC",
        "working_hours": ALL_DAY})
    name, skills, home = SECOND_TECHNICIAN
    post_json(f"{base}/technicians", admin_key, {
        "name": name, "skills": skills, "home": {"lat": home[0], "lon": home[1]}, "time_zone": "UTC",
        "working_hours": ALL_DAY})


def place_assets(api_url: str, admin_key: str, device_ids: list[str], seed: int) -> None:
    """Give each asset a site near the city (once the devices have reported: a site belongs to a known asset)."""
    rng = random.Random(seed)
    for device_id in device_ids:
        lat = CITY[0] + rng.uniform(-SPREAD_DEG, SPREAD_DEG)
        lon = CITY[1] + rng.uniform(-SPREAD_DEG, SPREAD_DEG)
        put_json(f"{api_url}/api/v1/assets/{device_id}/site", admin_key,
                 {"name": f"{device_id} plant room", "lat": round(lat, 5), "lon": round(lon, 5)})


def dispatch_and_work(api_url: str, planner_key: str, technician_key: str) -> FieldOutcome:
    """Approve the proposals left, plan and commit a dispatch, then let the demo technician work its tasks."""
    base = f"{api_url}/api/v1"
    proposed = get_json(f"{base}/work-orders?status=proposed&limit=10000", planner_key)
    for order in proposed:
        post_json(f"{base}/work-orders/{order['id']}/approve", planner_key, {"note": "approved in the demo"})
    plan = post_json(f"{base}/dispatch/plan", planner_key, {"horizon_hours": 72})
    committed = post_json(f"{base}/dispatch/commit", planner_key, {"plan_id": plan["id"]})
    tasks = get_json(f"{base}/me/tasks", technician_key)
    completed = 0
    for index, task in enumerate(tasks):
        post_json(f"{base}/work-orders/{task['id']}/accept", technician_key, {})
        if index < math.ceil(len(tasks) * FINISH_SHARE):
            post_json(f"{base}/work-orders/{task['id']}/start", technician_key, {})
            post_json(f"{base}/work-orders/{task['id']}/complete", technician_key,
                      {"finding": "true_fault", "notes": "found and fixed in the demo"})
            completed += 1
    orders = get_json(f"{base}/work-orders?limit=10000", planner_key)
    return FieldOutcome(dict(sorted(Counter(str(o["status"]) for o in orders).items())),
                        len(committed["assigned_work_orders"]), len(proposed), completed)
