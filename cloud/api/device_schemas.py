"""Request and response bodies of the device-state and rollout endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from cloud.api.params import MAX_ROW_ID, NAME_PATTERN, NO_NUL, DeviceName, ModelName, TenantName, VersionName

RolloutStatus = Literal["running", "completed", "halted"]
RolloutDeviceStatus = Literal["waiting", "pending", "applied", "failed", "stuck"]


# A stage: a device count, or a fraction of the devices in (0, 1].
Stage = Annotated[int, Field(ge=1, le=MAX_ROW_ID)] | Annotated[float, Field(gt=0, le=1)]
MAX_FAILURE_BUDGET = 2**31 - 1  # a 32-bit column


class DesiredStateChange(BaseModel):
    model_id: ModelName
    model_version: VersionName
    sample_rate_hz: float | None = Field(default=None, gt=0, le=1000)
    explanation: str = Field(default="set by a planner", max_length=2000, pattern=NO_NUL)


class DesiredStateView(BaseModel):
    model_id: str
    model_version: str
    sample_rate_hz: float | None = None
    requested_by: str
    requested_at: datetime
    explanation: str
    command_published: bool = Field(description="false: stored, but the broker did not acknowledge the command")


class ReportedStateView(BaseModel):
    model_id: str
    model_version: str
    update_status: str | None = Field(description="applied, rolled_back, failed:<reason>, downloading, …")
    update_target: str | None = Field(default=None, description="model_id@version the update status is about")
    update_detail: str | None = None
    at: datetime | None = Field(description="the device's time of its last applied state message")
    online: bool
    sample_rate_hz: float | None = Field(default=None, description="the rate the device samples at, as it reports")


class DeviceStateView(BaseModel):
    device_id: str
    desired: DesiredStateView | None
    reported: ReportedStateView
    in_sync: bool


class RolloutCreate(BaseModel):
    model_id: ModelName
    model_version: VersionName
    devices: list[DeviceName] | None = Field(default=None, min_length=1, max_length=10_000)
    group: str | None = Field(default=None, pattern=NAME_PATTERN, max_length=64, description="device-id prefix")
    stages: list[Stage] = Field(
        default=[1.0], min_length=1, max_length=20,
        description="cumulative: a float is a fraction of the devices (0-1], an integer a device count",
    )
    failure_budget: int = Field(default=0, ge=0, le=MAX_FAILURE_BUDGET,
                                description="devices that may fail or get stuck; one more halts")
    device_deadline_s: float = Field(default=3600.0, gt=0, le=30 * 86400)
    tenant: TenantName | None = Field(default=None, description="platform administrators only: whose devices")


class RolloutDeviceView(BaseModel):
    device_id: str
    stage: int
    status: RolloutDeviceStatus
    detail: str
    sent_at: datetime | None
    finished_at: datetime | None


class RolloutView(BaseModel):
    id: int
    model_id: str
    model_version: str
    status: RolloutStatus
    halted_reason: str | None
    stages: list[int] = Field(description="cumulative device counts per stage")
    current_stage: int
    failure_budget: int
    failures: int
    device_deadline_s: float
    requested_by: str
    created_at: datetime
    updated_at: datetime
    devices: list[RolloutDeviceView]
