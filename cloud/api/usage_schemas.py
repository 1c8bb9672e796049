"""Response models of the usage API (`cloud.api.routers.usage`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class CounterValue(BaseModel):
    value: float
    unit: str


class UsageView(BaseModel):
    """An asset's latest cumulative counters, and the use within [start, end]."""

    device_id: str
    latest_at: datetime | None = Field(description="device time of the newest report (null: none yet)")
    latest: dict[str, CounterValue] = Field(description="cumulative counters since the device's meter started")
    start: datetime
    end: datetime
    reports_in_range: int
    first_report_at: datetime | None = Field(description="the first report at or after `start`")
    last_report_at: datetime | None = Field(description="the last report at or before `end`")
    usage: dict[str, CounterValue] = Field(
        description="growth of each counter between the range's first and last report (empty: fewer than one)"
    )
