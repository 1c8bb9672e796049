"""Request and response bodies of the work-order lifecycle: the planner's controls, the technician's task list and
actions, the history of moves, photos, and a contract's auto-approve policy."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from cloud.api.params import NAME_PATTERN, NO_NUL, NOT_BLANK, RowId
from cloud.api.schemas import PartUsedIn, RulOut, WorkOrderOut
from cloud.api.timestamps import IsoTime
from cloud.maintenance.status import Priority, WorkOrderStatus

Reason = Annotated[str, Field(min_length=1, max_length=2000, pattern=NOT_BLANK)]
SkillName = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
# Times in bodies: any ISO-8601 instant the stores can hold (epoch seconds between 1970 and 9999).
Instant = Annotated[IsoTime, Field(description="ISO-8601, e.g. 2026-12-01T08:00:00Z (no zone: UTC)")]


class ReasonIn(BaseModel):
    """Why (required): a rejection's reason is kept as a label for the models, a decline's tells the planner."""


    reason: Reason


class OptionalReasonIn(BaseModel):
    reason: str | None = Field(default=None, max_length=2000, pattern=NO_NUL)


class AssignIn(BaseModel):
    """Assign (or reassign) to a technician of the tenant, optionally with the planned visit window."""


    technician_id: RowId
    start: Instant | None = None
    end: Instant | None = None
    reason: str | None = Field(default=None, max_length=2000, pattern=NO_NUL)

    @model_validator(mode="after")
    def _window(self) -> AssignIn:
        if (self.start is None) != (self.end is None):
            raise ValueError("give both start and end of the visit window, or neither")
        if self.start is not None and self.end is not None and not self.start < self.end:
            raise ValueError("the visit window must end after it starts")
        return self


class WorkOrderEdit(BaseModel):
    """A planner's edit: only the fields sent change (null clears due_at, required_skill or notes)."""


    priority: Priority | None = None
    due_at: Instant | None = None
    required_skill: SkillName | None = None
    notes: str | None = Field(default=None, max_length=4000, pattern=NO_NUL)


class MergeIn(BaseModel):
    into: RowId = Field(description="the open order (same asset or site) that takes over this one's signals")


class FindingIn(BaseModel):
    """What the technician found; who found it is the caller (its credential), never a name in the body."""


    finding: Literal["true_fault", "false_alarm"] = Field(description="what the technician found on site")
    parts_used: list[PartUsedIn] = Field(default_factory=list, max_length=100)
    notes: str | None = Field(default=None, max_length=4000, pattern=NO_NUL)


class TransitionOut(BaseModel):
    at: datetime
    action: str = Field(description="propose, approve, assign, accept, decline, start, complete, reject, ...")
    from_status: WorkOrderStatus | None = Field(description="null for the proposal itself")
    to_status: WorkOrderStatus
    actor: str = Field(description="from the caller's credential, e.g. user:ann or system:policy:critical-confident")
    reason: str | None
    technician_id: int | None


class AttachmentOut(BaseModel):
    id: int
    work_order_id: int
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


class SiteOut(BaseModel):
    name: str | None
    lat: float | None
    lon: float | None


class SeriesLink(BaseModel):
    """The asset's telemetry around the event: GET this path (with the caller's credential)."""

    href: str
    start: datetime
    end: datetime


class TaskOut(WorkOrderOut):
    """A work order as its technician needs it on site: where, the evidence, the series around it, the RUL band."""

    asset_kind: str
    site: SiteOut
    series: SeriesLink | None = Field(description="telemetry around the first signal")
    rul_band: RulOut | None = Field(description="the latest RUL estimate's band, for a RUL order")
    attachments: list[AttachmentOut]


class ApprovalPolicyIn(BaseModel):
    """Approve a proposal at once when it is at least this urgent and this sure (cloud.maintenance.urgency)."""


    name: str = Field(pattern=NAME_PATTERN, max_length=64, description="shown on the order as approved_by_policy")
    min_priority: Priority = Priority.CRITICAL
    min_confidence: float = Field(default=0.9, ge=0.0, le=1.0, strict=True, allow_inf_nan=False)
