"""Auto-approval: a contract may let the platform approve its asset's proposals at once, under a named policy.

A policy is written on the contract (`approval_policy`, JSON), e.g.
`{"name": "critical-confident", "min_priority": "critical", "min_confidence": 0.9}`: a
proposal at least that urgent and at least that sure (cloud.maintenance.urgency defines
both) is approved as `system:policy:<name>`, and the order shows `approved_by_policy`.
Without a policy, or for a proposal below it, a planner decides as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cloud.auth.principal import Principal, PrincipalKind
from cloud.maintenance.status import Priority
from cloud.maintenance.urgency import Urgency


@dataclass(frozen=True)
class ApprovalPolicy:
    name: str
    min_priority: Priority = Priority.CRITICAL
    min_confidence: float = 0.9

    def admits(self, urgency: Urgency) -> bool:
        """Whether a proposal this urgent and this sure is approved without a planner."""
        return urgency.priority.rank <= self.min_priority.rank and urgency.confidence >= self.min_confidence

    @property
    def actor(self) -> Principal:
        """Who the trail says approved: the policy, never a person."""
        label = f"policy:{self.name}"
        return Principal(PrincipalKind.SYSTEM, label, label, None)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "min_priority": self.min_priority.value, "min_confidence": self.min_confidence}


def policy_from(stored: Mapping[str, Any] | None) -> ApprovalPolicy | None:
    """The policy a contract stores (None: none); written by the API, which validated it."""
    if not stored:
        return None
    return ApprovalPolicy(str(stored["name"]), Priority(stored.get("min_priority", Priority.CRITICAL.value)),
                          float(stored.get("min_confidence", 0.9)))
