"""The demo's billing step: service contracts for the simulated fleet, the month closed, offers drafted.

Through the public API as the demo's planner (each call audited), after the fleet has run:
the demo customer (the first asset) and a second customer, a fleet operator renting the
other assets, each record their consent to usage analytics and personalised offers, and
each gets a pay-per-use contract from the first day of the month under way, covering its
assets from then. Then the service's clock jumps to just after the month's end (the demo's
faster clock, cloud.demo.clock) and the month is closed for each contract: one statement
per contract, billing the usage reports the fleet really sent. Last, a light-use plan joins
the offer catalogue and the offer rules run (a few seconds of use fit it better than the
monthly minimum); the drafts wait for a planner (none is sent).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cloud.demo.accounts import DemoAccounts
from cloud.demo.clock import DemoClock
from cloud.demo.report import post_json, put_json

OPERATOR_NAME = "Demo Fleet Rentals"
# A plan in the shape of docs/billing.md: per hour and per kWh, a monthly minimum, an uptime SLA with two tiers.
TERMS: dict[str, Any] = {
    "currency": "EUR", "price_per_hour": "2.50", "price_per_kwh": "0.12", "monthly_minimum": "20.00",
    "included_maintenance": True, "sla_uptime_pct": "99.5",
    "credit_tiers": [{"below_pct": "99.5", "credit_pct": "10"}, {"below_pct": "95", "credit_pct": "25"}],
    "tax_rate_pct": "19",
}
# In the offer catalogue: a plan without a minimum, dearer per hour: what fits a customer using its machines little.
LIGHT_PLAN: dict[str, Any] = {"name": "Light use", "kind": "plan", "currency": "EUR", "price_per_hour": "3.00",
                              "price_per_kwh": "0.15", "monthly_minimum": "0"}
CONSENTS = ("usage_analytics", "personalised_offers")
CONSENT_TEXT = "You may analyse how we use the machines and propose offers that fit it; a person reviews each one."
AFTER_MONTH_END_S = 60.0


@dataclass(frozen=True)
class BillingOutcome:
    period: str
    statements: int
    offers_drafted: int


def close_the_month(api_url: str, accounts: DemoAccounts, customer_assets: list[str], device_ids: list[str],
                    clock: DemoClock) -> BillingOutcome:
    """Contracts for the fleet, the month under way closed after the clock's jump, and the offer rules run."""
    base, key = f"{api_url}/api/v1", accounts.planner_api_key
    today = dt.datetime.fromtimestamp(clock.time(), dt.UTC).date()
    first = today.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    operator = post_json(f"{base}/customers", key, {"name": OPERATOR_NAME})
    others = [device for device in device_ids if device not in customer_assets]
    contracts = []
    for customer_id, name, devices in ((accounts.customer_id, accounts.customer_name, customer_assets),
                                       (int(operator["id"]), OPERATOR_NAME, others)):
        if not devices:
            continue
        for purpose in CONSENTS:
            put_json(f"{base}/customers/{customer_id}/consents/{purpose}", key,
                     {"granted": True, "source": "demo sign-up form", "text": CONSENT_TEXT})
        contract = post_json(f"{base}/contracts", key, {
            "customer_id": customer_id, "name": f"{name}: pumps by the hour", "starts_on": first.isoformat(),
            "terms": TERMS})
        for device in devices:
            post_json(f"{base}/contracts/{contract['id']}/assets", key,
                      {"device_id": device, "start": f"{first.isoformat()}T00:00:00Z"})
        contracts.append(int(contract["id"]))
    period = f"{first.year:04d}-{first.month:02d}"
    clock.jump_to(dt.datetime(following.year, following.month, 1, tzinfo=dt.UTC).timestamp() + AFTER_MONTH_END_S)
    statements = [post_json(f"{base}/contracts/{contract_id}/statements", key, {"period": period})
                  for contract_id in contracts]
    post_json(f"{base}/offer-plans", key, LIGHT_PLAN)
    drafted = post_json(f"{base}/offers", key, {})["drafted"]
    return BillingOutcome(period, len(statements), len(drafted))
