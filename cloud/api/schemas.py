"""Request and response bodies of the API (times are ISO-8601 UTC; values in canonical units)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cloud.api.params import NO_NUL, NOT_BLANK
from cloud.maintenance.status import Priority, WorkOrderStatus
from cloud.store.profiles import ProfileSource

HealthStatus = Literal["ok", "anomalous", "offline"]
EventKindName = Literal["anomaly", "rul"]


class AssetSummary(BaseModel):
    device_id: str
    tenant: str
    asset_kind: str = Field(description="empty until the device says or its telemetry shows it")
    profile: ProfileSource = Field(description="where the kind's profile comes from: builtin, registered, or pending "
                                               "(none yet: readings stored as sent; register one at /profiles)")
    status: HealthStatus = Field(description="offline if silent or said so; anomalous after a recent anomaly")
    online: bool
    last_seen: datetime = Field(description="when the cloud last heard from the device")
    open_work_orders: int
    last_anomaly_score: float | None = Field(description="score of the latest event, anomalous or not")
    last_anomaly_at: datetime | None = Field(description="time of the latest anomalous event")
    model_id: str
    model_version: str


class ChannelInfo(BaseModel):
    name: str
    unit: str = Field(description="canonical unit; stored values are converted to it")
    label: str


class AssetDetail(AssetSummary):
    first_seen: datetime
    agent_version: str
    channels: list[ChannelInfo]
    health: dict[str, float | int | str] = Field(description="as last reported by the device")
    readings_stored: int
    last_reading_at: datetime | None


class ChannelSeries(BaseModel):
    name: str
    unit: str
    mean: list[float | None] = Field(description="mean per bucket; null where the bucket has no value")


class TelemetrySeries(BaseModel):
    device_id: str
    start: datetime
    end: datetime
    step_s: float
    timestamps: list[datetime] = Field(description="start of each non-empty bucket")
    counts: list[int] = Field(description="readings per bucket")
    channels: list[ChannelSeries]


class ModelOut(BaseModel):
    id: str
    version: str


class WindowOut(BaseModel):
    start: datetime
    end: datetime
    samples: int


class RulOut(BaseModel):
    cycles: float
    lower: float
    upper: float


class EventOut(BaseModel):
    id: int
    message_id: str
    device_id: str
    tenant: str
    kind: EventKindName
    seq: int
    ts: datetime
    received_at: datetime
    score: float
    threshold: float
    is_anomaly: bool
    contributions: dict[str, float]
    model: ModelOut
    window: WindowOut
    rul: RulOut | None
    work_order_id: int | None
    closed_at: datetime | None = Field(
        default=None, description="when the alarm closed: its work order was done and the asset stayed quiet")


class RuleOut(BaseModel):
    name: str
    min_events: int
    window_s: float


class TopChannel(BaseModel):
    channel: str
    contribution: float = Field(description="mean contribution to the anomaly score over the evidence")
    value: float | None = Field(description="mean measured value over the evidence windows, if stored by then")
    unit: str


class EvidenceWindow(BaseModel):
    start: datetime
    end: datetime


class Evidence(BaseModel):
    """Why the work order exists: the rule, its inputs and what was observed since."""

    model_config = ConfigDict(extra="allow")

    rule: RuleOut
    explanation: str
    event_ids: list[int] = Field(description="the events behind the order (the first 200)")
    event_count: int
    first_anomaly_ts: datetime
    last_anomaly_ts: datetime
    max_score: float
    threshold: float
    model: ModelOut
    top_channels: list[TopChannel]
    window: EvidenceWindow = Field(description="from the first anomaly's window start to the last one's end")
    attached_after_opening: int


class RulRuleOut(BaseModel):
    name: Literal["rul_below_horizon"]
    horizon_cycles: float
    horizon_source: Literal["contract", "default"]
    customer: str | None


class RulEvidence(BaseModel):
    """Why a RUL work order exists: the estimate and band, the model, and the horizon it fell below."""

    model_config = ConfigDict(extra="allow")

    rule: RulRuleOut
    explanation: str
    event_ids: list[int] = Field(description="the events behind the order (the first 200)")
    event_count: int
    rul: RulOut = Field(description="the latest below-horizon estimate")
    first_rul_ts: datetime
    last_rul_ts: datetime
    lowest_lower: float = Field(description="the lowest pessimistic bound seen while the order was open")
    model: ModelOut
    attached_after_opening: int


class PartUsedOut(BaseModel):
    part: str
    quantity: int


class FindingOut(BaseModel):
    finding: Literal["true_fault", "false_alarm"]
    technician: str = Field(description="who recorded it, from their credential (e.g. user:alice)")
    notes: str | None
    parts_used: list[PartUsedOut] = Field(default_factory=list)
    recorded_at: datetime
    model: ModelOut = Field(description="the model version this finding labels")


class PartUsedIn(BaseModel):
    part: str = Field(min_length=1, max_length=128, pattern=NOT_BLANK)
    quantity: int = Field(default=1, ge=1, le=10_000)


class CompletionIn(BaseModel):
    """Who completes is the caller (its credential), never a name in the body. The finding may come here or from an
    earlier POST .../findings; one of them is required."""

    finding: Literal["true_fault", "false_alarm"] | None = Field(
        default=None, description="what the technician found on site (required unless recorded before)")
    parts_used: list[PartUsedIn] = Field(default_factory=list, max_length=100)
    notes: str | None = Field(default=None, max_length=4000, pattern=NO_NUL)


class WorkOrderOut(BaseModel):
    id: int
    device_id: str
    tenant: str
    status: WorkOrderStatus
    rule: str
    reason: str
    created_at: datetime
    updated_at: datetime
    decided_by: str | None = Field(description="from the decider's credential, e.g. user:alice")
    decided_at: datetime | None
    decision_note: str | None
    evidence: Evidence | RulEvidence = Field(description="RulEvidence when rule is rul_below_horizon")
    finding: FindingOut | None = Field(default=None, description="the technician's finding, once recorded")
    priority: Priority
    due_at: datetime | None = Field(description="from the RUL lower bound or the anomaly's severity (editable)")
    confidence: float | None = Field(description="how sure the evidence is, 0..1 (see docs/field.md)")
    required_skill: str | None
    notes: str | None = Field(description="the planner's notes for the technician")
    approved_by_policy: str | None = Field(description="the contract policy that approved it; null: a person did")
    technician_id: int | None = Field(description="the technician it is assigned to")
    planned_start: datetime | None = Field(description="the visit window")
    planned_end: datetime | None
    declined_by: list[int] = Field(description="technicians who declined it (dispatch does not offer it to them)")
    merged_into: int | None = Field(description="set when cancelled by a merge: the order that took over")
    signal_ids: list[int] = Field(description="every event behind the order, oldest first (merged ones included)")


class DecisionIn(BaseModel):
    """Who decides is the caller (its credential), never a name in the body."""

    note: str | None = Field(default=None, max_length=2000, pattern=NO_NUL)


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    database: bool
    timeseries: bool
    broker_connected: bool | None
    ingest_problem: str | None = Field(
        default=None, description="why the ingest cannot store messages now (they stay unacknowledged at the broker)"
    )


class IngestOut(BaseModel):
    accepted: int
    rejected: dict[str, int]
    rejected_total: int
    readings_stored: int
    duplicate_readings: int
    events_stored: int
    duplicate_events: int
    work_orders_opened: int
    usage_stored: int
    duplicate_usage: int
    dead_lettered: int = Field(description="rejected messages kept in the dead-letter store")
    dead_letters_dropped: int = Field(description="rejected messages not kept: their device's share was full")
    confirmations_sent: int


class FleetStats(BaseModel):
    """Counts for dashboards and the demo summary (cheap: no scan of readings or events per asset)."""

    assets: int
    online: int
    readings_stored: int
    events: int
    anomalies: int
    work_orders: dict[str, int]
    ingest: IngestOut | None
