"""How urgent a new proposal is, and how sure the evidence is: its priority, due date and confidence.

Scoring only: `anomaly_urgency` and `rul_urgency` read the evidence and say; the lifecycle
and the auto-approve policy (cloud.maintenance.policy) decide with it. Dispatch
(cloud.dispatch) may refine the due date in space and time; this is the simple default.

Confidence, defined here and nowhere else (0 = barely, 1 = certain):
- an anomaly order: how far the strongest score rose above its threshold, `1 - threshold / max_score`
  (0 at the threshold, 0.5 at twice it, 0.9 at ten times it);
- a RUL order: the share of the estimate's band [lower, upper] that lies below the horizon
  (1 when even the optimistic bound is below it).
Priority:
- anomaly: critical when max_score >= 2 x threshold, high from 1.5 x, else normal;
- RUL: critical when the lower bound is at most half the horizon, high up to three quarters, else normal.
Due date: RUL: now + lower bound (cycles) x seconds per cycle; anomaly: now + 24 h (critical), 72 h (high),
7 days (normal), 14 days (low).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cloud.maintenance.status import Priority

DEFAULT_SECONDS_PER_CYCLE = 3600.0
HOUR = 3600.0
DUE_AFTER_S: dict[Priority, float] = {
    Priority.CRITICAL: 24 * HOUR, Priority.HIGH: 72 * HOUR, Priority.NORMAL: 7 * 24 * HOUR,
    Priority.LOW: 14 * 24 * HOUR,
}


@dataclass(frozen=True)
class Urgency:
    priority: Priority
    due_at: float
    confidence: float  # 0..1, see the module's docstring


def anomaly_urgency(max_score: float, threshold: float, now: float) -> Urgency:
    """The urgency of an order opened by persistent anomalies whose strongest score was `max_score`."""
    ratio = max_score / threshold if threshold > 0 else math.inf
    if ratio >= 2.0:
        priority = Priority.CRITICAL
    elif ratio >= 1.5:
        priority = Priority.HIGH
    else:
        priority = Priority.NORMAL
    confidence = 0.0 if max_score <= 0 else _unit(1.0 - threshold / max_score)
    return Urgency(priority, now + DUE_AFTER_S[priority], confidence)


def rul_urgency(lower: float, upper: float, horizon_cycles: float, now: float,
                seconds_per_cycle: float = DEFAULT_SECONDS_PER_CYCLE) -> Urgency:
    """The urgency of an order opened by a RUL estimate with band [lower, upper] against the contract's horizon."""
    if lower <= horizon_cycles / 2:
        priority = Priority.CRITICAL
    elif lower <= horizon_cycles * 0.75:
        priority = Priority.HIGH
    else:
        priority = Priority.NORMAL
    if upper <= lower:
        confidence = 1.0 if lower < horizon_cycles else 0.0
    else:
        confidence = _unit((horizon_cycles - lower) / (upper - lower))
    return Urgency(priority, now + max(lower, 0.0) * seconds_per_cycle, confidence)


def _unit(value: float) -> float:
    return min(1.0, max(0.0, value)) if math.isfinite(value) else 0.0
