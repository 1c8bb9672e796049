"""Deciding what a run of anomalies means: the persistent-anomaly rule.

Scoring happens on the device; deciding happens here. The rule is a pure function of
explicit inputs (its parameters, the new anomaly, the asset's recent anomalies and
its open work order), and the decision carries those inputs, so the evidence stored
with a work order can explain later why it was opened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

RULE_NAME = "persistent_anomaly"
MAX_EVIDENCE_EVENT_IDS = 200
TOP_CHANNELS = 3


@dataclass(frozen=True)
class PersistentAnomalyRule:
    """Propose a work order when an asset has at least `min_events` anomalies within `window_s` seconds."""

    min_events: int
    window_s: float

    def describe(self) -> str:
        return f"at least {self.min_events} anomaly events within {self.window_s:g} s"


@dataclass(frozen=True)
class Anomaly:
    """One anomalous event, as the rule sees it."""

    event_id: int
    ts: float
    score: float
    threshold: float
    contributions: Mapping[str, float]
    model_id: str
    model_version: str
    window_start: float
    window_end: float


@dataclass(frozen=True)
class RuleInputs:
    """Everything the decision depends on.

    `recent` holds the asset's anomalies in `(anomaly.ts - window_s, anomaly.ts]`, the new one
    included, excluding those up to `not_before` (already judged by a closed work order).
    """

    rule: PersistentAnomalyRule
    anomaly: Anomaly
    recent: tuple[Anomaly, ...]
    open_order_id: int | None


class Action(StrEnum):
    PROPOSE = "propose"
    ATTACH = "attach"
    NONE = "none"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    inputs: RuleInputs


def decide(inputs: RuleInputs) -> Decision:
    """Open a work order, add to the open one, or do nothing, and say why."""
    rule, recent = inputs.rule, inputs.recent
    if inputs.open_order_id is not None:
        return Decision(Action.ATTACH, f"work order {inputs.open_order_id} is open for this asset", inputs)
    if len(recent) >= rule.min_events:
        span = recent[-1].ts - recent[0].ts
        reason = f"{len(recent)} anomaly events within {span:.0f} s (rule: {rule.describe()})"
        return Decision(Action.PROPOSE, reason, inputs)
    return Decision(Action.NONE, f"{len(recent)} anomaly event(s) in the window (rule: {rule.describe()})", inputs)


def new_evidence(decision: Decision, channel_values: Mapping[str, tuple[float | None, str]]) -> dict[str, Any]:
    """The evidence a proposed work order starts with (JSON-ready).

    `channel_values` maps a channel to (its mean over the anomalies' windows, unit), where known.
    """
    recent, rule = decision.inputs.recent, decision.inputs.rule
    top = top_channels(recent)
    latest = recent[-1]
    return {
        "rule": {"name": RULE_NAME, "min_events": rule.min_events, "window_s": rule.window_s},
        "explanation": decision.reason,
        "event_ids": [a.event_id for a in recent],
        "event_count": len(recent),
        "first_anomaly_ts": recent[0].ts,
        "last_anomaly_ts": latest.ts,
        "max_score": max(a.score for a in recent),
        "threshold": latest.threshold,
        "model": {"id": latest.model_id, "version": latest.model_version},
        "window": {"start": min(a.window_start for a in recent), "end": max(a.window_end for a in recent)},
        "top_channels": [
            {
                "channel": name,
                "contribution": contribution,
                "value": channel_values.get(name, (None, ""))[0],
                "unit": channel_values.get(name, (None, ""))[1],
            }
            for name, contribution in top
        ],
        "attached_after_opening": 0,
    }


def with_channel_values(evidence: Mapping[str, Any], values: Mapping[str, tuple[float | None, str]]) -> dict[str, Any]:
    """The evidence with measured (mean value, unit) filled in for its top channels (a new dict)."""
    updated = dict(evidence)
    updated["top_channels"] = [
        {**top, "value": values[top["channel"]][0], "unit": values[top["channel"]][1] or top.get("unit", "")}
        if top["channel"] in values
        else dict(top)
        for top in evidence.get("top_channels", [])
    ]
    return updated


def attach_to_evidence(evidence: Mapping[str, Any], anomaly: Anomaly) -> dict[str, Any]:
    """The evidence with one more anomaly observed while the order was open (a new dict)."""
    updated = dict(evidence)
    ids = list(evidence.get("event_ids", []))
    if len(ids) < MAX_EVIDENCE_EVENT_IDS:
        ids.append(anomaly.event_id)
    updated["event_ids"] = ids
    updated["event_count"] = int(evidence.get("event_count", 0)) + 1
    updated["attached_after_opening"] = int(evidence.get("attached_after_opening", 0)) + 1
    updated["last_anomaly_ts"] = max(float(evidence.get("last_anomaly_ts", anomaly.ts)), anomaly.ts)
    updated["max_score"] = max(float(evidence.get("max_score", anomaly.score)), anomaly.score)
    return updated


def top_channels(anomalies: Sequence[Anomaly], n: int = TOP_CHANNELS) -> list[tuple[str, float]]:
    """The channels with the largest mean contribution over `anomalies`, largest first."""
    totals: dict[str, float] = {}
    for anomaly in anomalies:
        for name, value in anomaly.contributions.items():
            totals[name] = totals.get(name, 0.0) + value
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return [(name, total / len(anomalies)) for name, total in ranked[:n]]
