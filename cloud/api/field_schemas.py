"""Request and response bodies of field service: technicians in space and time, asset sites, failure skills, dispatch.

Locations are WGS84 degrees; working hours are local `HH:MM` in the technician's IANA time
zone; instants are ISO-8601. The ranges are stated here, so a bad value is a 422 before any
route runs; what a schema cannot say (a real time zone, hours that end after they start) is
checked by cloud.field and is a 422 too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from cloud.api.account_schemas import DirectoryEntryCreate, DirectoryEntryPublic
from cloud.api.params import NAME_PATTERN, NO_NUL, NOT_BLANK, RowId, TenantName
from cloud.api.timestamps import IsoTime

SKILL = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"
TIME_ZONE = r"^[A-Za-z0-9_+\-/]{1,64}$"

Skill = Annotated[str, Field(pattern=SKILL, max_length=64, description="a short lower-case name, e.g. mechanical")]
# Strict: a JSON true is not a coordinate (lax parsing would read it as 1.0).
Latitude = Annotated[float, Field(ge=-90.0, le=90.0, allow_inf_nan=False, strict=True, description="WGS84 degrees")]
Longitude = Annotated[float, Field(ge=-180.0, le=180.0, allow_inf_nan=False, strict=True,
                                   description="WGS84 degrees")]
TimeZone = Annotated[str, Field(pattern=TIME_ZONE, max_length=64, description="IANA name, e.g. Europe/Berlin")]


class Point(BaseModel):
    lat: Latitude
    lon: Longitude


class WorkingHours(BaseModel):
    """One stretch of the week in the technician's time zone, e.g. {weekday: 0, start: "08:00", end: "17:00"}."""

    weekday: int = Field(ge=0, le=6, strict=True, description="0 Monday .. 6 Sunday")
    start: str = Field(pattern=HHMM, description="local HH:MM")
    end: str = Field(pattern=HHMM, description="local HH:MM, after start (24:00: midnight)")


class TechnicianFields(BaseModel):
    """What dispatch needs of a technician; a field left out keeps its value (`working_hours` replaces the week)."""

    skills: list[Skill] | None = Field(default=None, max_length=32)
    home: Point | None = Field(default=None, description="home base: where shifts start and end")
    time_zone: TimeZone | None = None
    working_hours: list[WorkingHours] | None = Field(default=None, max_length=50)


class TechnicianCreate(DirectoryEntryCreate, TechnicianFields):
    pass


class TechnicianUpdate(TechnicianFields):
    name: str | None = Field(default=None, min_length=1, max_length=256, pattern=NOT_BLANK)


class TechnicianPublic(DirectoryEntryPublic):
    skills: list[str]
    home: Point | None
    time_zone: str
    working_hours: list[WorkingHours]
    updated_at: datetime | None


class AbsenceCreate(BaseModel):
    start: IsoTime
    end: IsoTime = Field(description="after start")
    reason: str = Field(default="", max_length=256, pattern=NO_NUL)


class AbsencePublic(BaseModel):
    id: int
    technician_id: int
    start: datetime
    end: datetime
    reason: str
    created_at: datetime
    created_by: str


class AbsenceRecorded(AbsencePublic):
    released_work_orders: list[int] = Field(
        description="orders of this technician whose visit fell in the absence: back to approved, to be planned anew")


class SiteIn(BaseModel):
    name: str = Field(min_length=1, max_length=256, pattern=NOT_BLANK)
    lat: Latitude
    lon: Longitude


class SitePublic(SiteIn):
    device_id: str


class FailureSkillIn(BaseModel):
    """Which skill the failure kind needs and which orders are of that kind (docs/field.md: the matching rule)."""

    skill: Skill
    rule: str | None = Field(default=None, pattern=NAME_PATTERN, max_length=64,
                             description="the proposing rule (e.g. persistent_anomaly); null: any")
    channels: list[Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]] = Field(
        default_factory=list, max_length=64, description="top contributing channels that point to it; []: any")


class FailureSkillPublic(FailureSkillIn):
    tenant: str
    kind: str
    updated_at: datetime


class DispatchPlanIn(BaseModel):
    horizon_hours: float = Field(default=72.0, gt=0, le=744, allow_inf_nan=False, strict=True,
                                 description="how far ahead")
    technician_ids: list[RowId] | None = Field(default=None, max_length=1000, description="null: all of the tenant")
    order_ids: list[RowId] | None = Field(default=None, max_length=10_000, description="null: every approved order")
    replan: bool = Field(default=False, strict=True,
                         description="also move assigned orders their technician has not accepted")
    tenant: TenantName | None = Field(default=None, description="platform administrators only: whose")


class WhyPublic(BaseModel):
    """Why this technician: the skill that matched, the leg there, the slack before the due date."""

    skill: str | None
    distance_km: float
    travel_s: float
    slack_s: float | None = Field(description="due date minus the visit's end (negative: late); null: no due date")
    text: str


class VisitPublic(BaseModel):
    order_id: int
    device_id: str
    technician_id: int
    technician_name: str
    sequence: int = Field(description="the technician's visits in time order, from 1")
    start_at: datetime
    end_at: datetime
    travel_s: float
    late_s: float
    pinned: bool = Field(description="already held by this technician; a commit leaves it as it is")
    why: WhyPublic


class LeftOut(BaseModel):
    order_id: int
    reason: str


class TechnicianLeftOut(BaseModel):
    technician_id: int
    reason: str


class DispatchPlanPublic(BaseModel):
    id: int
    tenant: str
    created_at: datetime
    created_by: str
    horizon_end: datetime
    visits: list[VisitPublic]
    unassigned: list[LeftOut]
    technicians_left_out: list[TechnicianLeftOut]
    total_travel_s: float
    total_late_s: float
    solve_s: float
    committed_at: datetime | None
    committed_by: str | None


class DispatchCommitIn(BaseModel):
    plan_id: RowId


class DispatchCommitted(BaseModel):
    plan: DispatchPlanPublic
    assigned_work_orders: list[int] = Field(description="the orders this commit assigned or moved")
