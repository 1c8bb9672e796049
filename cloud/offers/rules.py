"""Offer rules: pure functions from a customer's facts to candidate offers, each with its value, reasons and data.

Scoring only: a rule proposes, it never stores or sends (cloud.offers.drafting stores the
drafts, a planner decides). Each rule is a line in `RULES`, with the consents it needs; a
rule is not run, and its facts are not even gathered, without all of them:

    rule            offers                        needs consent to
    plan_fit        cheaper_plan | smaller_plan   personalised_offers + usage_analytics
    extended_care   extended_care                 personalised_offers + maintenance
    training        operator_training             personalised_offers + maintenance
    advice          operation_advice              personalised_offers + maintenance

Money: every cost is computed as the statement would (cloud.billing.money: each line
quantity x price rounded half-even to the currency's minor unit, then the monthly
minimum), so an offer's saving is the difference of two statements' usage totals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from cloud.billing.money import ZERO, money_text, round_money, times
from cloud.consent.ledger import Purpose
from cloud.offers.texts import EXPLANATIONS, TITLES
from cloud.store.offer_tables import CatalogueKind, OfferKind

MIN_SAVING_SHARE = Decimal("0.05")  # a plan offer must save at least 5 % of what the customer pays now
ANOMALY_LIMIT = 5  # anomalies in the wear window that suggest operator training
FAULT_LIMIT = 3  # real faults pointing at operation in the fault window that call for advice
# Channels whose faults usually come from how an asset is run (cavitation, dry running, closed valves).
OPERATION_CHANNELS = ("flow", "pressure", "cavitation")
METER_PRICES = {"operating_hours": "per_hour", "cycles": "per_cycle", "energy_kwh": "per_kwh"}
METER_WORDS = {"operating_hours": "hours", "cycles": "cycles", "energy_kwh": "kWh"}


@dataclass(frozen=True)
class Prices:
    """What use costs under one plan: prices per unit (None: that meter is not charged) and the monthly minimum."""

    currency: str
    per_hour: Decimal | None
    per_cycle: Decimal | None
    per_kwh: Decimal | None
    monthly_minimum: Decimal

    def usage_charge(self, use: Mapping[str, Decimal]) -> Decimal:
        """The sum of each meter's quantity x price, each line rounded to the minor unit."""
        total = ZERO
        for meter, quantity in sorted(use.items()):
            price: Decimal | None = getattr(self, METER_PRICES[meter]) if meter in METER_PRICES else None
            if price is not None:
                total += times(quantity, price, self.currency)
        return total

    def cost(self, use: Mapping[str, Decimal]) -> Decimal:
        """What the month costs before SLA credits and taxes: the usage charge, at least the monthly minimum."""
        return round_money(max(self.usage_charge(use), self.monthly_minimum), self.currency)


@dataclass(frozen=True)
class CatalogueEntry:
    """A plan or service the tenant offers (cloud.store.offer_tables.OfferPlanRow)."""

    plan_id: int
    name: str
    kind: CatalogueKind
    prices: Prices
    monthly_fee: Decimal = ZERO
    expected_saving: Decimal = ZERO
    basis: str = ""


@dataclass(frozen=True)
class UsageFacts:
    """A contract's billable use in one closed month, and the plan it was billed under."""

    contract_id: int
    period: str  # YYYY-MM
    current: Prices
    use: Mapping[str, Decimal]  # meter -> quantity over all its assets
    report_ids: tuple[int, ...]


@dataclass(frozen=True)
class WearFacts:
    """An asset's health over [since, until): anomalies and the RUL lower bound's first and last value."""

    device_id: str
    since: float
    until: float
    anomalies: int
    rul_first: float | None
    rul_last: float | None
    horizon_cycles: float | None
    event_ids: tuple[int, ...]


@dataclass(frozen=True)
class FaultFacts:
    """An asset's work orders closed as real faults over [since, until), with each one's top channel."""

    device_id: str
    since: float
    until: float
    orders: Mapping[int, str]  # order id -> the channel that contributed most (or a failure kind in the findings)


@dataclass(frozen=True)
class CustomerFacts:
    """Everything the rules may read about one customer; a part without consent is left empty by the gatherer."""

    customer_id: int
    currency: str
    catalogue: tuple[CatalogueEntry, ...] = ()
    usage: tuple[UsageFacts, ...] = ()
    wear: tuple[WearFacts, ...] = ()
    faults: tuple[FaultFacts, ...] = ()


@dataclass(frozen=True)
class Candidate:
    """A proposed offer: what, for whom, worth how much per month, why, and from which data."""

    kind: OfferKind
    key: str  # the same proposal made again has the same key
    customer_id: int
    title: str
    explanation: str
    expected_value: Decimal
    currency: str
    data_used: dict[str, Any]
    purposes: tuple[Purpose, ...]
    contract_id: int | None = None
    device_id: str | None = None
    plan_id: int | None = None


@dataclass(frozen=True)
class OfferRule:
    """One rule: its name, the consents it needs, and the pure function that proposes."""

    name: str
    purposes: tuple[Purpose, ...]
    propose: Callable[[CustomerFacts], list[Candidate]] = field(compare=False)


def plan_fit(facts: CustomerFacts) -> list[Candidate]:
    """Heavy use -> a plan cheaper at that use; under-use (below the minimum) -> a smaller plan."""
    found = []
    for usage in facts.usage:
        best = _cheapest(usage, facts.catalogue)
        if best is None:
            continue
        entry, alternative = best
        current = usage.current.cost(usage.use)
        saving = current - alternative
        if saving <= ZERO or saving < current * MIN_SAVING_SHARE:
            continue
        usage_charge = usage.current.usage_charge(usage.use)
        kind = OfferKind.CHEAPER_PLAN if usage_charge >= usage.current.monthly_minimum else OfferKind.SMALLER_PLAN
        cur = usage.current.currency
        values = {"period": usage.period, "use": _use_text(usage.use), "plan": entry.name,
                  "current": _money(current, cur), "usage_charge": _money(usage_charge, cur),
                  "minimum": _money(usage.current.monthly_minimum, cur), "alternative": _money(alternative, cur),
                  "saving": _money(saving, cur)}
        data = {"contract_id": usage.contract_id, "period": usage.period, "report_ids": list(usage.report_ids),
                "use": {meter: str(q) for meter, q in sorted(usage.use.items())}, "current_cost": str(current),
                "alternative_cost": str(alternative), "plan_id": entry.plan_id, "plan": entry.name}
        found.append(_candidate(kind, f"{kind.value}:{usage.contract_id}:{usage.period}", facts, values, saving,
                                cur, data, PLAN_PURPOSES, contract_id=usage.contract_id, plan_id=entry.plan_id))
    return found


def extended_care(facts: CustomerFacts) -> list[Candidate]:
    """An asset whose RUL lower bound fell below the contract's maintenance horizon -> extended care."""
    service = _service(facts, CatalogueKind.EXTENDED_CARE)
    found = []
    for wear in facts.wear:
        if service is None or wear.rul_last is None or wear.horizon_cycles is None:
            continue
        if wear.rul_last >= wear.horizon_cycles:
            continue
        value = service.expected_saving - service.monthly_fee
        values = {**_service_values(service, facts.currency, value), "device_id": wear.device_id,
                  "rul_last": f"{wear.rul_last:.0f}", "horizon": f"{wear.horizon_cycles:.0f}"}
        data = {**_wear_data(wear), "plan_id": service.plan_id}
        found.append(_candidate(OfferKind.EXTENDED_CARE, f"extended_care:{wear.device_id}:{_month(wear.until)}",
                                facts, values, value, facts.currency, data, HEALTH_PURPOSES,
                                device_id=wear.device_id, plan_id=service.plan_id))
    return found


def training(facts: CustomerFacts) -> list[Candidate]:
    """An asset raising many anomalies -> operator training."""
    service = _service(facts, CatalogueKind.OPERATOR_TRAINING)
    found = []
    for wear in facts.wear:
        if service is None or wear.anomalies < ANOMALY_LIMIT:
            continue
        value = service.expected_saving - service.monthly_fee
        values = {**_service_values(service, facts.currency, value), "device_id": wear.device_id,
                  "anomalies": str(wear.anomalies), "since": _day(wear.since), "until": _day(wear.until)}
        data = {**_wear_data(wear), "plan_id": service.plan_id}
        found.append(_candidate(OfferKind.OPERATOR_TRAINING, f"operator_training:{wear.device_id}:{_month(wear.until)}",
                                facts, values, value, facts.currency, data, HEALTH_PURPOSES,
                                device_id=wear.device_id, plan_id=service.plan_id))
    return found


def advice(facts: CustomerFacts) -> list[Candidate]:
    """Recurring real faults pointing at operation (flow, pressure, cavitation) -> free advice on running it."""
    found = []
    for faults in facts.faults:
        operational = {order: channel for order, channel in sorted(faults.orders.items())
                       if any(word in channel.lower() for word in OPERATION_CHANNELS)}
        if len(operational) < FAULT_LIMIT:
            continue
        values = {"device_id": faults.device_id, "faults": str(len(operational)), "since": _day(faults.since),
                  "until": _day(faults.until), "orders": ", ".join(f"order {o}" for o in operational),
                  "channels": ", ".join(sorted(set(operational.values())))}
        data = {"device_id": faults.device_id, "since": faults.since, "until": faults.until,
                "work_order_ids": list(operational), "channels": {str(o): c for o, c in operational.items()}}
        key = f"operation_advice:{faults.device_id}:{_month(faults.until)}"
        found.append(_candidate(OfferKind.OPERATION_ADVICE, key, facts, values, ZERO, facts.currency, data,
                                HEALTH_PURPOSES, device_id=faults.device_id))
    return found


PLAN_PURPOSES = (Purpose.PERSONALISED_OFFERS, Purpose.USAGE_ANALYTICS)
HEALTH_PURPOSES = (Purpose.PERSONALISED_OFFERS, Purpose.MAINTENANCE)
RULES: tuple[OfferRule, ...] = (
    OfferRule("plan_fit", PLAN_PURPOSES, plan_fit),
    OfferRule("extended_care", HEALTH_PURPOSES, extended_care),
    OfferRule("training", HEALTH_PURPOSES, training),
    OfferRule("advice", HEALTH_PURPOSES, advice),
)


def propose(facts: CustomerFacts, consented: frozenset[Purpose]) -> list[Candidate]:
    """Every candidate of the rules whose consents are all in `consented`."""
    return [candidate for rule in RULES if set(rule.purposes) <= consented for candidate in rule.propose(facts)]


def _cheapest(usage: UsageFacts, catalogue: tuple[CatalogueEntry, ...]) -> tuple[CatalogueEntry, Decimal] | None:
    plans = [(entry, entry.prices.cost(usage.use)) for entry in catalogue
             if entry.kind is CatalogueKind.PLAN and entry.prices.currency == usage.current.currency]
    return min(plans, key=lambda pair: (pair[1], pair[0].plan_id), default=None)


def _service(facts: CustomerFacts, kind: CatalogueKind) -> CatalogueEntry | None:
    """The tenant's service of `kind` in the customer's currency that is worth more than it costs, if any."""
    services = [entry for entry in facts.catalogue if entry.kind is kind and entry.prices.currency == facts.currency
                and entry.expected_saving > entry.monthly_fee]
    return min(services, key=lambda entry: entry.plan_id, default=None)


def _service_values(service: CatalogueEntry, currency: str, value: Decimal) -> dict[str, str]:
    return {"service": service.name, "fee": _money(service.monthly_fee, currency),
            "saving": _money(service.expected_saving, currency), "basis": service.basis or "our estimate",
            "value": _money(value, currency)}


def _wear_data(wear: WearFacts) -> dict[str, Any]:
    return {"device_id": wear.device_id, "since": wear.since, "until": wear.until, "anomalies": wear.anomalies,
            "rul_lower_first": wear.rul_first, "rul_lower_last": wear.rul_last,
            "maintenance_horizon_cycles": wear.horizon_cycles, "event_ids": list(wear.event_ids)}


def _candidate(kind: OfferKind, key: str, facts: CustomerFacts, values: Mapping[str, str], value: Decimal,
               currency: str, data: dict[str, Any], purposes: tuple[Purpose, ...], *, contract_id: int | None = None,
               device_id: str | None = None, plan_id: int | None = None) -> Candidate:
    return Candidate(kind, f"{facts.customer_id}:{key}", facts.customer_id, TITLES[kind].substitute(values)[:200],
                     EXPLANATIONS[kind].substitute(values), round_money(value, currency), currency, data, purposes,
                     contract_id, device_id, plan_id)


def _money(amount: Decimal, currency: str) -> str:
    return f"{money_text(amount, currency)} {currency}"


def _use_text(use: Mapping[str, Decimal]) -> str:
    parts = [f"{quantity.normalize():f} {METER_WORDS.get(meter, meter)}" for meter, quantity in sorted(use.items())]
    return ", ".join(parts) or "nothing"


def _day(ts: float) -> str:
    return f"{datetime.fromtimestamp(ts, UTC):%Y-%m-%d}"


def _month(ts: float) -> str:
    return f"{datetime.fromtimestamp(ts, UTC):%Y-%m}"
