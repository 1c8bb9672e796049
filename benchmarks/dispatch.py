"""Dispatch benchmark: a realistic week-start plan, 200 orders for 20 technicians, solved once.

    python benchmarks/dispatch.py            a readable table with the target
    python benchmarks/dispatch.py --json     one JSON line (progress goes to stderr)

The problem (seeded, `--seed`): sites scattered around four cities (up to ~30 km out),
technicians living in those cities with one or two of three skills, three 8-hour shifts each
(some cut by a half-day absence), orders of 30 min to 3 h on site with mixed priorities and due
dates over the next three days (a few already overdue), some with an earliest start.

What each number is:

- `orders`, `technicians`: the problem's size.
- `solve_s`: `Plan.solve_s`, the whole `cloud.dispatch.solve` call (travel matrix, model, search),
  with the search's `time_limit_s` (`--time-limit`).
- `assigned`: orders with a visit; `unassigned`: orders left out (no skill, no room);
  `late`: visits that finish after their due date; `travel_h`, `late_h`: the plan's totals.

Target (docs/field.md): 200 orders x 20 technicians planned in <= 10 s.
"""

from __future__ import annotations

import argparse
import json
import random
import sys

from cloud.dispatch import JobSpec, Location, Problem, Shift, TechnicianSpec, solve

HOUR = 3600.0
NOW = 1_800_000_000.0  # a Monday, 06:00 UTC-ish: the planning run before the first shift
CITIES = (Location(48.137, 11.575), Location(48.775, 9.182), Location(49.452, 11.077), Location(48.371, 10.898))
SKILLS = ("mechanical", "electrical", "hydraulic")
TARGET_S = 10.0


def _around(rnd: random.Random, centre: Location, km: float) -> Location:
    # ~111 km per degree of latitude; longitude degrees shrink by cos(lat) (~0.66 here).
    return Location(centre.lat + rnd.uniform(-km, km) / 111.0, centre.lon + rnd.uniform(-km, km) / 73.0)


def technicians(rnd: random.Random, count: int) -> tuple[TechnicianSpec, ...]:
    """`count` technicians in the cities, three 8-hour shifts each, one in five with a half day off."""
    found: list[TechnicianSpec] = []
    for t in range(count):
        skills = frozenset(rnd.sample(SKILLS, rnd.choice((1, 2, 2))))
        shifts: list[Shift] = []
        for day in range(3):
            start = NOW + day * 24 * HOUR + 2 * HOUR
            end = start + 8 * HOUR
            if rnd.random() < 0.2:  # a half-day absence: the morning or the afternoon is gone
                shifts.append(Shift(start + 4 * HOUR, end) if rnd.random() < 0.5 else Shift(start, start + 4 * HOUR))
            else:
                shifts.append(Shift(start, end))
        home = _around(rnd, CITIES[t % len(CITIES)], 10.0)
        found.append(TechnicianSpec(t + 1, f"tech-{t + 1}", skills, home, tuple(shifts)))
    return tuple(found)


def jobs(rnd: random.Random, count: int) -> tuple[JobSpec, ...]:
    """`count` orders around the cities, mixed skills, durations, priorities and due dates."""
    found: list[JobSpec] = []
    for j in range(count):
        priority = rnd.choices((0, 1, 2, 3), weights=(1, 3, 4, 2))[0]
        due = NOW + rnd.uniform(-4, 72) * HOUR if rnd.random() < 0.9 else None
        earliest = NOW + rnd.uniform(0, 48) * HOUR if rnd.random() < 0.1 else None
        found.append(JobSpec(
            order_id=j + 1, device_id=f"pump-{j + 1:04d}", location=_around(rnd, rnd.choice(CITIES), 30.0),
            required_skill=rnd.choice((None, *SKILLS, *SKILLS)),
            duration_s=rnd.choice((30, 60, 60, 90, 120, 180)) * 60.0,
            priority=priority, due_at=due, earliest_at=earliest,
        ))
    return tuple(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--technicians", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--time-limit", type=float, default=6.0, help="the search's time limit in seconds")
    args = parser.parse_args(argv)
    rnd = random.Random(args.seed)
    problem = Problem(now=NOW, horizon_end=NOW + 3 * 24 * HOUR, technicians=technicians(rnd, args.technicians),
                      jobs=jobs(rnd, args.orders))
    print(f"solving {args.orders} orders x {args.technicians} technicians (limit {args.time_limit} s)...",
          file=sys.stderr, flush=True)
    plan = solve(problem, time_limit_s=args.time_limit)
    result = {
        "orders": args.orders, "technicians": args.technicians, "solve_s": round(plan.solve_s, 3),
        "assigned": len(plan.visits), "unassigned": len(plan.unassigned),
        "late": sum(1 for v in plan.visits if v.late_s > 0),
        "travel_h": round(plan.total_travel_s / HOUR, 1), "late_h": round(plan.total_late_s / HOUR, 1),
        "time_limit_s": args.time_limit, "seed": args.seed,
    }
    if args.json:
        print(json.dumps(result), flush=True)
    else:
        for key, value in result.items():
            print(f"{key:>14}  {value}")
        verdict = "ok" if plan.solve_s <= TARGET_S else "MISSED"
        print(f"{'target':>14}  solve_s <= {TARGET_S} s: {verdict}")
    return 0 if plan.solve_s <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
