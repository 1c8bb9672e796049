"""Request and response bodies of consents, offers, the offer catalogue and acceptance rates."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from cloud.api.params import NO_NUL, NOT_BLANK, TenantName
from cloud.consent.ledger import Purpose
from cloud.store.offer_tables import CatalogueKind, OfferKind, OfferStatus

Text = Annotated[str, Field(min_length=1, max_length=4000, pattern=NOT_BLANK)]
Note = Annotated[str | None, Field(default=None, max_length=4000, pattern=NO_NUL)]
# Money and prices as exact decimal text (never a JSON number, which a client may have rounded through a float).
Money = Annotated[str, Field(pattern=r"^[0-9]{1,12}(\.[0-9]{1,6})?$", examples=["2.50"],
                             description="a non-negative decimal, up to 12 digits and 6 decimals")]
Currency = Annotated[str, Field(pattern="^[A-Z]{3}$", description="ISO 4217, e.g. EUR")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConsentIn(_Strict):
    granted: StrictBool
    source: Annotated[str, Field(min_length=1, max_length=200, pattern=NOT_BLANK,
                                 description="where the customer said it: web form, phone call, signed contract")]
    text: Text = Field(description="the wording the customer agreed to (or withdrew)")


class ConsentEntryPublic(BaseModel):
    id: int
    purpose: Purpose
    granted: bool
    source: str
    text: str
    recorded_at: datetime
    recorded_by: str


class ConsentStatePublic(BaseModel):
    purpose: Purpose
    granted: bool
    since: datetime | None = Field(description="when the latest entry was recorded (null: never asked)")


class ConsentsPublic(BaseModel):
    customer_id: int
    current: list[ConsentStatePublic]
    history: list[ConsentEntryPublic]


class ConsentRecorded(BaseModel):
    customer_id: int
    entry: ConsentEntryPublic
    withdrawn_offers: list[int] = Field(description="offers stopped by this withdrawal")


class OfferPublic(BaseModel):
    id: int
    customer_id: int
    contract_id: int | None
    device_id: str | None
    plan_id: int | None
    kind: OfferKind
    status: OfferStatus
    title: str
    explanation: str
    expected_value: str = Field(description="per month, for the customer; exact decimal text")
    currency: str
    data_used: dict[str, Any]
    purposes: list[str] = Field(description="the consents it relied on")
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    sent_at: datetime | None
    responded_at: datetime | None


class OfferDecisionIn(_Strict):
    note: Note = None


class OfferRejectIn(_Strict):
    reason: Text


class OfferResponseIn(_Strict):
    note: Note = None


class OffersDrafted(BaseModel):
    drafted: list[OfferPublic]


class AcceptanceRatePublic(BaseModel):
    kind: OfferKind
    offered: int
    accepted: int
    declined: int
    rate: float | None = Field(description="accepted / offered; null while none was offered")


class OfferPlanCreate(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=128, pattern=NOT_BLANK)]
    kind: CatalogueKind
    currency: Currency
    price_per_hour: Money | None = None
    price_per_cycle: Money | None = None
    price_per_kwh: Money | None = None
    monthly_minimum: Money = "0"
    monthly_fee: Money = "0"
    expected_saving: Money = "0"
    basis: Annotated[str, Field(max_length=2000, pattern=NO_NUL)] = ""
    tenant: TenantName | None = Field(default=None, description="a platform administrator names the tenant")


class OfferPlanPublic(BaseModel):
    id: int
    name: str
    kind: CatalogueKind
    currency: str
    price_per_hour: str | None
    price_per_cycle: str | None
    price_per_kwh: str | None
    monthly_minimum: str
    monthly_fee: str
    expected_saving: str
    basis: str


class ErasurePublic(BaseModel):
    customer_id: int
    erased: dict[str, int] = Field(description="rows deleted, per table")
    anonymised: dict[str, int] = Field(description="rows kept with their personal content blanked, per table")
    kept: dict[str, str] = Field(description="tables kept as they are, with why (what invoices legally need)")
    note: str
