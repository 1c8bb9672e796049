"""What the API takes and shows of help requests (asking for a person) and of the planners' trust metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StrictBool

from cloud.api.params import NOT_BLANK, RowId
from cloud.store.support_tables import AboutKind, HelpStatus

MESSAGE_LEN = 4000
Message = Annotated[str, Field(min_length=1, max_length=MESSAGE_LEN, pattern=NOT_BLANK)]


class AboutIn(BaseModel):
    """What the request is about: a statement, offer, notification or work order of the customer; `kind` null: nothing
    in particular."""

    kind: AboutKind | None = None
    id: RowId | None = Field(default=None, description="the thing's id; needed when `kind` is given")


class HelpRequestCreate(BaseModel):
    """Ask for a person. A customer asks for itself; a planner names the customer (or a thing of one) in `about`."""

    about: AboutIn | None = None
    message: Message
    complaint: StrictBool = Field(default=False, description="this is a complaint (counted in the trust metrics)")
    customer_id: RowId | None = Field(default=None, description="whose request (a planner asking on its behalf)")


class HelpAnswerIn(BaseModel):
    message: Message


class AboutPublic(BaseModel):
    kind: AboutKind
    id: int


class HelpAnswerPublic(BaseModel):
    id: int
    message: str
    answered_by: str
    answered_at: datetime


class HelpRequestPublic(BaseModel):
    id: int
    tenant: str
    customer_id: int
    about: AboutPublic | None
    message: str
    complaint: bool
    status: HelpStatus
    created_at: datetime
    created_by: str
    first_answered_at: datetime | None = Field(description="when a person first answered (null: still waiting)")
    time_to_first_answer_s: float | None
    closed_at: datetime | None
    answers: list[HelpAnswerPublic]


class HelpRequestDetail(HelpRequestPublic):
    history: dict[str, Any] = Field(description="the customer's history when it asked: assets, work orders, offers, "
                                    "statements, notifications, earlier requests; `absent` names sections this "
                                    "release does not have")


class TrustPublic(BaseModel):
    """Trust numbers of one customer (or of the tenant, `customer_id` null); a rate without data is null."""

    customer_id: int | None
    name: str | None
    offers_sent: int | None = Field(description="offers that reached the customer (sent, accepted or declined)")
    offers_accepted: int | None
    offers_declined: int | None
    offer_acceptance_rate: float | None = Field(description="accepted / sent")
    help_requests: int
    complaints: int
    complaint_rate: float | None = Field(description="complaints / help requests")
    answered: int
    waiting: int = Field(description="requests still without a person's answer")
    longest_wait_s: float | None = Field(description="the longest wait so far of those still waiting")
    median_time_to_human_s: float | None
    p90_time_to_human_s: float | None = Field(description="nearest-rank 90th percentile")
    orders_done: int
    false_alarms: int
    false_alarm_rate: float | None = Field(description="done orders found false_alarm / done orders")


class OfferTypeRatePublic(BaseModel):
    """How one type of offer is received, all time (cloud.offers.metrics)."""

    kind: str
    offered: int
    accepted: int
    declined: int
    rate: float | None = Field(description="accepted / offered")


class TrustReportPublic(BaseModel):
    since: datetime
    until: datetime
    overall: TrustPublic
    customers: list[TrustPublic]
    offers_source: str = Field(description="how the offer numbers are counted")
    offers_by_type: list[OfferTypeRatePublic] = Field(description="acceptance per offer type, all time")
