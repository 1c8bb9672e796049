"""What a plan costs: the one objective the solver minimises and the tests' brute force re-computes.

    cost = travel seconds (every leg, the way home included)
         + sum over visits of LATE_WEIGHT[priority] * seconds finished after due_at
         + sum over dropped orders of DROP_PENALTY[priority]

Drop penalties dwarf any travel or lateness a plan can have within weeks, so an order is left
out only when no shift can take it; when capacity runs short, the lowest priorities go first
(a critical order is worth ten high ones, and so on).
"""

from __future__ import annotations

# Index: priority rank, 0 = critical .. 3 = low (cloud.maintenance.status.Priority.rank).
LATE_WEIGHT: tuple[int, ...] = (8, 4, 2, 1)
DROP_PENALTY: tuple[int, ...] = (10_000_000_000, 1_000_000_000, 100_000_000, 10_000_000)


def rank(priority: int) -> int:
    """The priority clamped to the table (an unknown rank counts as low)."""
    return min(max(priority, 0), len(LATE_WEIGHT) - 1)


def late_weight(priority: int) -> int:
    """Cost of one second of lateness for an order of this priority."""
    return LATE_WEIGHT[rank(priority)]


def drop_penalty(priority: int) -> int:
    """Cost of leaving an order of this priority out of the plan."""
    return DROP_PENALTY[rank(priority)]
