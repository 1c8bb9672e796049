"""Request and response bodies of service contracts (plans, versions, assets covered) and customer records.

Prices and percentages are exact decimal text (e.g. "2.50"), never JSON numbers, which most
parsers read as binary floats; the patterns say exactly what is accepted, so nothing the
schema admits is refused for its form.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from cloud.api.params import NO_NUL, NOT_BLANK, DeviceName, RowId, TenantName

PRICE_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,6})?$"
PERCENT_PATTERN = r"^(100(\.0{1,4})?|[0-9]{1,2}(\.[0-9]{1,4})?)$"
# BCP 47 in its common shape: a language, then script, region or variant subtags (e.g. en, de-CH, zh-Hant-TW).
LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,4}$"
EMAIL_PATTERN = r"^[^@\s\x00]{1,64}@[^@\s\x00]{1,189}$"
PHONE_PATTERN = r"^\+?[0-9][0-9 ()./-]{2,31}$"

Price = Annotated[str, Field(pattern=PRICE_PATTERN, description="exact decimal text, up to 6 places, e.g. 2.50")]
Percent = Annotated[str, Field(pattern=PERCENT_PATTERN, description="0 to 100, up to 4 places, e.g. 99.5")]
Currency = Annotated[str, Field(pattern="^[A-Z]{3}$", description="ISO 4217, e.g. EUR")]
Day = Annotated[date, Field(description="a UTC date, YYYY-MM-DD")]
Moment = Annotated[datetime, Field(description="RFC 3339; without a zone: UTC")]
Name = Annotated[str, Field(min_length=1, max_length=256, pattern=NOT_BLANK)]
Horizon = Annotated[float, Field(gt=0, le=1e9, strict=True, allow_inf_nan=False,
                                 description="plan maintenance at least this many cycles ahead")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreditTierIn(_In):
    """Uptime below `below_pct` earns `credit_pct` of the period's usage charges."""

    below_pct: Percent
    credit_pct: Percent


class PlanTermsIn(_In):
    """One version of a plan: prices per unit of use (each optional), minimum, maintenance, SLA, horizon, tax."""

    currency: Currency
    price_per_hour: Price | None = Field(default=None, description="per operating hour")
    price_per_cycle: Price | None = Field(default=None, description="per cycle")
    price_per_kwh: Price | None = Field(default=None, description="per kWh")
    monthly_minimum: Price = "0"
    included_maintenance: bool = Field(default=True, strict=True)
    sla_uptime_pct: Percent | None = Field(default=None, description="the uptime promised; null: no SLA")
    credit_tiers: list[CreditTierIn] = Field(default_factory=list, max_length=10)
    maintenance_horizon_cycles: Horizon | None = Field(
        default=None, description="null: the asset's own contract or the platform default applies")
    tax_rate_pct: Percent = "0"


class PlanTermsOut(BaseModel):
    currency: str
    price_per_hour: str | None
    price_per_cycle: str | None
    price_per_kwh: str | None
    monthly_minimum: str
    included_maintenance: bool
    sla_uptime_pct: str | None
    credit_tiers: list[CreditTierIn]
    maintenance_horizon_cycles: float | None
    tax_rate_pct: str


class ServiceContractCreate(_In):
    """A contract with one customer; its plan's version 1 applies from `starts_on`."""

    customer_id: RowId
    name: Name
    starts_on: Day
    ends_on: Day | None = Field(default=None, description="its last day, not before starts_on; null: open-ended")
    terms: PlanTermsIn
    tenant: TenantName | None = Field(default=None, description="platform administrators only")


class ContractVersionCreate(_In):
    """A new plan version from `effective_from` on: never before the contract starts, nor in a closed period."""

    effective_from: Day
    terms: PlanTermsIn


class ContractAssetIn(_In):
    """Put an asset under the contract from `start` (default: now); its cover by another contract ends then."""

    device_id: DeviceName
    start: Moment | None = None


class ContractVersionPublic(BaseModel):
    version: int
    effective_from: date
    terms: PlanTermsOut
    created_at: datetime
    created_by: str


class ContractAssetPublic(BaseModel):
    device_id: str
    start: datetime
    end: datetime | None = Field(description="null: still under this contract")


class ServiceContractPublic(BaseModel):
    id: int
    tenant: str
    customer_id: int
    name: str
    starts_on: date
    ends_on: date | None
    created_at: datetime
    versions: list[ContractVersionPublic] = Field(description="oldest first; each applies until the next one's date")
    assets: list[ContractAssetPublic] = Field(description="every asset cover, past and present")


class ContactIn(_In):
    """A person to talk to at the customer."""

    name: Name
    email: Annotated[str, Field(max_length=254, pattern=EMAIL_PATTERN)] | None = None
    phone: Annotated[str, Field(pattern=PHONE_PATTERN)] | None = None
    role: Annotated[str, Field(max_length=64, pattern=NO_NUL)] | None = Field(default=None,
                                                                               description="e.g. plant manager")


class CustomerUpdate(_In):
    """Change a customer's language or contacts (fields left out stay); the preferred channel is its contact
    point (PUT /customers/{customer_id}/contact)."""

    language: Annotated[str, Field(pattern=LANGUAGE_PATTERN, max_length=35, description="BCP 47, e.g. en, de-CH")] \
        | None = None
    contacts: list[ContactIn] | None = Field(default=None, max_length=20)


class CustomerRecordPublic(BaseModel):
    id: int
    tenant: str
    name: str
    created_at: datetime
    language: str
    contacts: list[ContactIn]
    preferred_channel: str | None = Field(description="email or webhook, from its contact point; null: none set")
