"""Request and response bodies of the billing routes: a contract's billable use, its statements, their corrections.

Amounts and quantities are exact decimal text (e.g. "1234.50"), never JSON numbers, which
most parsers read as binary floats.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

# A UTC month the stores can bound: 1970-01 to 9998-12 (the month after it must still be a date).
PERIOD_PATTERN = r"^(19[7-9][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9])-(0[1-9]|1[0-2])$"
Period = Annotated[str, Field(pattern=PERIOD_PATTERN, description="a UTC calendar month, YYYY-MM (1970-01 to 9998-12)",
                              examples=["2027-01"])]
Amount = Annotated[str, Field(description="exact decimal text, e.g. 1234.50")]
LineKind = Literal["usage", "minimum", "sla_credit"]


class StatementClose(BaseModel):
    """Close a contract's month: issue its statement (or get the one already issued)."""

    period: Period


class MeterUseOut(BaseModel):
    """Billable use of one meter of one asset, and where the readings behind it are."""

    device_id: str
    meter: str
    unit: str
    quantity: Amount
    report_ids: list[int] = Field(description="the usage reports the quantity comes from")
    resets: list[str] = Field(description="counter resets and new installs within the period, in words")
    readings: str = Field(description="the asset's usage over the same time: GET this path")


class ContractUsageOut(BaseModel):
    """A contract's billable use in a month (so far, for the month under way), per asset and meter."""

    contract_id: int
    period: str
    start: datetime
    end: datetime = Field(description="the month's end, or now while it is under way")
    uses: list[MeterUseOut]


class StatementLineOut(BaseModel):
    kind: LineKind
    description: str
    device_id: str | None
    meter: str | None
    unit: str | None
    quantity: Amount
    unit_price: Amount
    amount: Amount = Field(description="quantity x unit price, rounded half to even to the minor unit")
    version: int = Field(description="the plan version it was billed under")
    start: datetime
    end: datetime
    report_ids: list[int]
    readings: str | None = Field(description="a usage line's readings: GET this path")
    notes: list[str]


class PartOut(BaseModel):
    version: int
    effective_from: str
    start: datetime
    end: datetime
    days: Amount


class UptimeOut(BaseModel):
    device_id: str
    version: int
    start: datetime
    end: datetime
    uptime_pct: Amount
    planned_s: float
    failure_s: float
    offline_s: float
    credit: Amount
    explanation: str


class TaxOut(BaseModel):
    rate_pct: Amount
    base: Amount
    amount: Amount


class LineChangeOut(BaseModel):
    line: str
    before: Amount | None
    after: Amount | None
    change: Amount


class DifferenceOut(BaseModel):
    """What a correction changes against the statement it corrects."""

    totals: dict[str, Amount]
    lines: list[LineChangeOut]


class CorrectsOut(BaseModel):
    statement_id: int
    revision: int


class StatementDocumentOut(BaseModel):
    """The statement as issued: every number the CSV, HTML and PDF show."""

    contract_id: int
    contract_name: str
    customer_id: int
    customer_name: str
    period: str
    start: datetime
    end: datetime
    currency: str
    parts: list[PartOut]
    lines: list[StatementLineOut]
    uptime: list[UptimeOut]
    usage_charges: Amount
    minimum_charges: Amount
    sla_credits: Amount
    net: Amount
    taxes: list[TaxOut]
    tax: Amount
    total: Amount
    revision: int
    corrects: CorrectsOut | None
    difference: DifferenceOut | None
    reason: str | None = None


class StatementLinks(BaseModel):
    pdf: str
    csv: str
    html: str


class StatementSummary(BaseModel):
    id: int
    contract_id: int
    period: str
    revision: int = Field(description="0: as first issued; n: the n-th correction")
    corrects_id: int | None
    currency: str
    total: Amount
    content_hash: str = Field(description="SHA-256 of the document's canonical JSON")
    closed_at: datetime
    closed_by: str
    links: StatementLinks


class StatementPublic(StatementSummary):
    reason: str | None
    document: StatementDocumentOut
