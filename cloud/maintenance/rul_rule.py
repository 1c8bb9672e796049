"""Deciding what a remaining-useful-life estimate means: the RUL-below-horizon rule.

A service contract promises maintenance planned at least `horizon` cycles ahead. When
the pessimistic bound of an asset's RUL estimate falls below that horizon, waiting for
the next estimate could break the promise, so the rule proposes a work order. The
pessimistic bound, not the point estimate, decides: the band is the model's own
statement of how wrong it may be. Like the anomaly rule, this is a pure function and
the decision carries its inputs, so the evidence explains the order later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cloud.maintenance.rules import Action

RULE_NAME = "rul_below_horizon"
MAX_EVIDENCE_EVENT_IDS = 200

HorizonSource = Literal["contract", "default"]


@dataclass(frozen=True)
class Horizon:
    """The maintenance horizon that applies to an asset, and where it came from."""

    cycles: float
    source: HorizonSource
    customer: str | None = None

    def describe(self) -> str:
        if self.source == "default":
            return f"{self.cycles:g} cycles (platform default: the asset has no contract)"
        whose = f" with {self.customer}" if self.customer else ""
        return f"{self.cycles:g} cycles (contract{whose})"


@dataclass(frozen=True)
class RulEstimateSeen:
    """One RUL event, as the rule sees it."""

    event_id: int
    ts: float
    cycles: float
    lower: float
    upper: float
    model_id: str
    model_version: str


@dataclass(frozen=True)
class RulInputs:
    estimate: RulEstimateSeen
    horizon: Horizon
    open_order_id: int | None


@dataclass(frozen=True)
class RulDecision:
    action: Action
    reason: str
    inputs: RulInputs


def decide_rul(inputs: RulInputs) -> RulDecision:
    """Propose, add to the open order, or do nothing, and say why."""
    estimate, horizon = inputs.estimate, inputs.horizon
    band = f"estimate {estimate.cycles:.0f} cycles, band {estimate.lower:.0f}-{estimate.upper:.0f}"
    if estimate.lower >= horizon.cycles:
        reason = f"pessimistic RUL {estimate.lower:.0f} cycles ({band}) is not below the horizon {horizon.describe()}"
        return RulDecision(Action.NONE, reason, inputs)
    if inputs.open_order_id is not None:
        return RulDecision(Action.ATTACH, f"work order {inputs.open_order_id} is open for this asset", inputs)
    reason = f"pessimistic RUL {estimate.lower:.0f} cycles ({band}) is below the horizon {horizon.describe()}"
    return RulDecision(Action.PROPOSE, reason, inputs)


def new_rul_evidence(decision: RulDecision) -> dict[str, Any]:
    """The evidence a proposed work order starts with (JSON-ready)."""
    estimate, horizon = decision.inputs.estimate, decision.inputs.horizon
    return {
        "rule": {
            "name": RULE_NAME,
            "horizon_cycles": horizon.cycles,
            "horizon_source": horizon.source,
            "customer": horizon.customer,
        },
        "explanation": decision.reason,
        "event_ids": [estimate.event_id],
        "event_count": 1,
        "rul": _rul(estimate),
        "first_rul_ts": estimate.ts,
        "last_rul_ts": estimate.ts,
        "lowest_lower": estimate.lower,
        "model": {"id": estimate.model_id, "version": estimate.model_version},
        "attached_after_opening": 0,
    }


def attach_rul_to_evidence(evidence: Mapping[str, Any], estimate: RulEstimateSeen) -> dict[str, Any]:
    """The evidence with one more below-horizon estimate seen while the order was open (a new dict).

    On an order of another rule the estimate is recorded under `latest_rul`, leaving that rule's fields as they are.
    """
    updated = dict(evidence)
    ids = list(evidence.get("event_ids", []))
    if len(ids) < MAX_EVIDENCE_EVENT_IDS:
        ids.append(estimate.event_id)
    updated["event_ids"] = ids
    updated["event_count"] = int(evidence.get("event_count", 0)) + 1
    updated["attached_after_opening"] = int(evidence.get("attached_after_opening", 0)) + 1
    if evidence.get("rule", {}).get("name") == RULE_NAME:
        if estimate.ts >= float(evidence.get("last_rul_ts", estimate.ts)):
            updated["rul"], updated["last_rul_ts"] = _rul(estimate), estimate.ts
        updated["lowest_lower"] = min(float(evidence.get("lowest_lower", estimate.lower)), estimate.lower)
    else:
        updated["latest_rul"] = {**_rul(estimate), "ts": estimate.ts}
    return updated


def _rul(estimate: RulEstimateSeen) -> dict[str, float]:
    return {"cycles": estimate.cycles, "lower": estimate.lower, "upper": estimate.upper}
