"""The words of a work order's life, written once: its statuses and its priorities.

Tables (check constraints, the one-open-order-per-asset index), API schemas, the lifecycle's
transitions and dispatch all take them from here, so a status cannot exist in one place and
not in another.
"""

from __future__ import annotations

from enum import StrEnum


class WorkOrderStatus(StrEnum):
    PROPOSED = "proposed"  # a rule (or a person) proposed it; a planner or a contract's policy decides
    APPROVED = "approved"  # to be planned: dispatch may assign it
    ASSIGNED = "assigned"  # given to one technician, with a planned visit window
    ACCEPTED = "accepted"  # the technician took it on
    IN_PROGRESS = "in_progress"  # the technician is on site
    DONE = "done"  # completed, with a finding
    REJECTED = "rejected"  # a planner decided against it (the reason is a label for the models)
    CANCELLED = "cancelled"  # withdrawn (merged into another order, or no longer needed)


# An asset has at most one open order: signals arriving meanwhile join it.
OPEN_STATUSES: tuple[WorkOrderStatus, ...] = (
    WorkOrderStatus.PROPOSED, WorkOrderStatus.APPROVED, WorkOrderStatus.ASSIGNED, WorkOrderStatus.ACCEPTED,
    WorkOrderStatus.IN_PROGRESS,
)
CLOSED_STATUSES: tuple[WorkOrderStatus, ...] = (
    WorkOrderStatus.DONE, WorkOrderStatus.REJECTED, WorkOrderStatus.CANCELLED,
)


class Priority(StrEnum):
    """How much dropping or delaying an order costs; dispatch turns it into a penalty."""

    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        """0 for critical up to 3 for low (dispatch's `JobSpec.priority`)."""
        return list(Priority).index(self)
