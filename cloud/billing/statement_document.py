"""The content of a monthly statement, computed from storage alone: lines, minimum, SLA credits, taxes, totals.

How the numbers are made (docs/billing.md, "Statements"):

- The period (a UTC calendar month) is cut into parts, one per plan version in force in it
  (at each version's `effective_from`), and clipped to the contract's own days (`starts_on`
  to `ends_on`, both included). Each part bills at its own version's prices.
- A usage line per part, asset and priced meter: quantity (cloud.billing.metering) x unit
  price = amount, rounded half to even to the currency's minor unit; it lists the usage
  reports behind it and links to them. A meter the version puts no price on is not billed.
- The monthly minimum is prorated by day over each part; if the part's usage charges fall
  short of it, a "minimum charge" line tops them up.
- SLA credits per asset (cloud.billing.sla), shown as negative lines.
- Tax: once per rate, on the net of the lines billed at that rate, rounded once.
- Net is the sum of the rounded lines; total = net + tax. Nothing is rounded twice.

The document holds no clock reading, so computing it again from the same storage gives
the same document, byte for byte (and the same content hash).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from cloud.billing.metering import MeterUse, billable_use, downtime, period_bounds
from cloud.billing.money import ZERO, money_text, percent_of, round_money, times
from cloud.billing.plans import ContractVersion, PlanTerms, asset_windows, versions_of
from cloud.billing.sla import sla_credit
from cloud.errors import ConflictError, NotFoundError
from cloud.store.account_tables import CustomerRow
from cloud.store.contract_tables import ServiceContractRow

DAY_S = 86_400
READINGS_PATH = "/api/v1/assets/{device_id}/usage"
Rows = list[dict[str, Any]]  # lines or uptime entries, as the document's JSON holds them
_METER_PRICES = {"operating_hours": "price_per_hour", "cycles": "price_per_cycle", "energy_kwh": "price_per_kwh"}


@dataclass(frozen=True)
class Part:
    """A stretch of the period billed under one plan version."""

    version: ContractVersion
    start: float
    end: float

    @property
    def days(self) -> Decimal:
        return Decimal(round((self.end - self.start) / DAY_S))


def iso(ts: float) -> str:
    """UTC ISO-8601 text as the document shows times, e.g. 2027-01-01T00:00:00Z."""
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _midnight(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()


def parts_of(session: Session, contract: ServiceContractRow, start: float, end: float) -> list[Part]:
    """The period [start, end) cut at each plan version's `effective_from`, within the contract's own days."""
    first = max(start, _midnight(contract.starts_on))
    last = end if contract.ends_on is None else min(end, _midnight(contract.ends_on) + DAY_S)
    versions = versions_of(session, contract.id)
    parts = []
    for index, version in enumerate(versions):
        begins = max(first, _midnight(version.effective_from))
        following = versions[index + 1] if index + 1 < len(versions) else None
        ends = last if following is None else min(last, _midnight(following.effective_from))
        if begins < ends:
            parts.append(Part(version, begins, ends))
    return parts


def price_of(terms: PlanTerms, meter: str) -> Decimal | None:
    """The version's price per unit of `meter` (None: that meter is not billed under it)."""
    attribute = _METER_PRICES.get(meter)
    price: Decimal | None = None if attribute is None else getattr(terms, attribute)
    return price


def readings_link(device_id: str, start: float, end: float) -> str:
    """Where the readings behind a usage number can be read (the asset's usage reports over the same time)."""
    return f"{READINGS_PATH.format(device_id=device_id)}?start={iso(start)}&end={iso(end)}"


def _usage_line(part: Part, use: MeterUse, price: Decimal) -> dict[str, Any]:
    currency = part.version.terms.currency
    return {
        "kind": "usage", "description": f"{use.device_id} {use.meter} ({use.unit})", "device_id": use.device_id,
        "meter": use.meter, "unit": use.unit, "quantity": str(use.quantity), "unit_price": str(price),
        "amount": money_text(times(use.quantity, price, currency), currency), "version": part.version.version,
        "start": iso(part.start), "end": iso(part.end), "report_ids": list(use.report_ids),
        "readings": readings_link(use.device_id, part.start, part.end), "notes": list(use.resets),
    }


def _other_line(part: Part, kind: str, description: str, amount: Decimal, device_id: str | None = None,
                notes: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "kind": kind, "description": description, "device_id": device_id, "meter": None, "unit": None,
        "quantity": "1", "unit_price": money_text(amount, part.version.terms.currency),
        "amount": money_text(amount, part.version.terms.currency), "version": part.version.version,
        "start": iso(part.start), "end": iso(part.end), "report_ids": [], "readings": None, "notes": list(notes),
    }


def _part_lines(session: Session, part: Part, month_days: Decimal) -> tuple[Rows, Rows]:
    """The lines of one part, and its assets' uptime (shown whether or not they earned a credit)."""
    terms, currency = part.version.terms, part.version.terms.currency
    lines: list[dict[str, Any]] = []
    charges: dict[str, Decimal] = defaultdict(Decimal)
    for use in billable_use(session, part.version.contract_id, part.start, part.end).uses:
        price = price_of(terms, use.meter)
        if price is None:
            continue
        line = _usage_line(part, use, price)
        lines.append(line)
        charges[use.device_id] += Decimal(line["amount"])
    usage_total = sum(charges.values(), ZERO)
    minimum = round_money(terms.monthly_minimum * part.days / month_days, currency)
    if usage_total < minimum:
        lines.append(_other_line(part, "minimum", f"minimum charge: {money_text(minimum, currency)} {currency} for "
                                 f"{part.days} of {month_days} days, usage {money_text(usage_total, currency)}",
                                 minimum - usage_total))
    if terms.sla_uptime_pct is None:
        return lines, []
    credits, uptime = _sla(session, part, charges)
    return lines + credits, uptime


def _sla(session: Session, part: Part, charges: dict[str, Decimal]) -> tuple[Rows, Rows]:
    """Each asset's uptime in the part, and a credit line for each that earned one (cloud.billing.sla)."""
    terms, currency = part.version.terms, part.version.terms.currency
    spans: dict[str, tuple[float, float]] = {}
    for window in asset_windows(session, part.version.contract_id, part.start, part.end):
        begin, end = spans.get(window.device_id, (window.start, window.end))
        spans[window.device_id] = (min(begin, window.start), max(end, window.end))
    lines: list[dict[str, Any]] = []
    uptime: list[dict[str, Any]] = []
    for device_id, (begin, end) in sorted(spans.items()):
        down = downtime(session, device_id, begin, end)
        credit = sla_credit(down, terms, charges.get(device_id, ZERO))
        uptime.append({"device_id": device_id, "version": part.version.version, "start": iso(begin),
                       "end": iso(end), "uptime_pct": f"{credit.uptime_pct:.4f}",
                       "planned_s": down.planned_s, "failure_s": down.failure_s, "offline_s": down.offline_s,
                       "credit": money_text(credit.amount, currency), "explanation": credit.explanation})
        if credit.amount > ZERO:
            lines.append(_other_line(part, "sla_credit", f"SLA credit {device_id}", -credit.amount, device_id,
                                     (credit.explanation,)))
    return lines, uptime


def _totals(lines: list[dict[str, Any]], by_rate: dict[Decimal, Decimal], currency: str) -> dict[str, Any]:
    """Totals by kind, net, tax per rate (rounded once on its net) and total."""
    def total_of(kind: str) -> str:
        return money_text(sum((Decimal(line["amount"]) for line in lines if line["kind"] == kind), ZERO), currency)

    net = sum((Decimal(line["amount"]) for line in lines), ZERO)
    taxes = [{"rate_pct": str(rate), "base": money_text(base, currency),
              "amount": money_text(percent_of(base, rate, currency), currency)}
             for rate, base in sorted(by_rate.items())]
    tax = sum((Decimal(entry["amount"]) for entry in taxes), ZERO)
    return {"usage_charges": total_of("usage"), "minimum_charges": total_of("minimum"),
            "sla_credits": total_of("sla_credit"), "net": money_text(net, currency), "taxes": taxes,
            "tax": money_text(tax, currency), "total": money_text(net + tax, currency)}


def compute_document(session: Session, contract_id: int, period: str) -> dict[str, Any]:
    """The statement of `contract_id` for `period` ("YYYY-MM") as JSON; ConflictError when nothing can be billed."""
    contract = session.get(ServiceContractRow, contract_id)
    if contract is None:
        raise NotFoundError(f"contract {contract_id} does not exist")
    start, end = period_bounds(period)
    parts = parts_of(session, contract, start, end)
    if not parts:
        raise ConflictError(f"contract {contract_id} has no plan in force in {period}")
    currencies = {part.version.terms.currency for part in parts}
    if len(currencies) > 1:
        raise ConflictError(f"contract {contract_id} changes currency within {period}: {sorted(currencies)}")
    currency = currencies.pop()
    month_days = Decimal(round((end - start) / DAY_S))
    lines: list[dict[str, Any]] = []
    uptime: list[dict[str, Any]] = []
    by_rate: dict[Decimal, Decimal] = defaultdict(Decimal)
    for part in parts:
        part_lines, part_uptime = _part_lines(session, part, month_days)
        lines += part_lines
        uptime += part_uptime
        by_rate[part.version.terms.tax_rate_pct] += sum((Decimal(line["amount"]) for line in part_lines), ZERO)
    customer = session.get(CustomerRow, contract.customer_id)
    return {
        "contract_id": contract.id, "contract_name": contract.name, "tenant": contract.tenant,
        "customer_id": contract.customer_id, "customer_name": "" if customer is None else customer.name,
        "period": period, "start": iso(start), "end": iso(end), "currency": currency,
        "parts": [{"version": p.version.version, "effective_from": p.version.effective_from.isoformat(),
                   "start": iso(p.start), "end": iso(p.end), "days": str(p.days)} for p in parts],
        "lines": lines, "uptime": uptime, **_totals(lines, by_rate, currency),
    }
