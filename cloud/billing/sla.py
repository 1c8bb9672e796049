"""SLA credits: what a plan's uptime tiers give back when an asset was down for failures.

A tier reads "uptime below `below_pct` earns `credit_pct`". An asset's uptime in a part of
the month is `Downtime.uptime_pct` (planned maintenance does not count against it); the
tier that applies is the one with the largest credit among those whose `below_pct` the
uptime falls under (tiers need not be listed in order). How several assets combine:
per asset. Each asset's credit is that percentage of the asset's own usage charges in
the same part of the month, so one failing asset does not discount the others' use.
A plan without an uptime SLA (`sla_uptime_pct` None) gives no credit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cloud.billing.metering import Downtime
from cloud.billing.money import ZERO, percent_of
from cloud.billing.plans import CreditTier, PlanTerms


@dataclass(frozen=True)
class SlaCredit:
    """The credit one asset earns in one part of the month, and why."""

    device_id: str
    uptime_pct: Decimal
    tier: CreditTier | None
    charges: Decimal  # the asset's usage charges the credit is taken from
    amount: Decimal  # >= 0; shown as a negative line on the statement

    @property
    def explanation(self) -> str:
        if self.tier is None:
            return f"uptime {self.uptime_pct:.2f} %: no credit"
        return (f"uptime {self.uptime_pct:.2f} % below {self.tier.below_pct} %: "
                f"{self.tier.credit_pct} % of {self.charges} usage charges")


def tier_for(uptime_pct: Decimal, terms: PlanTerms) -> CreditTier | None:
    """The tier the uptime earns under `terms` (the largest credit among the tiers it falls below), or None."""
    if terms.sla_uptime_pct is None:
        return None
    earned = [tier for tier in terms.credit_tiers if uptime_pct < tier.below_pct]
    return max(earned, key=lambda tier: tier.credit_pct, default=None)


def sla_credit(downtime: Downtime, terms: PlanTerms, charges: Decimal) -> SlaCredit:
    """The credit for one asset's downtime in a part of the month, on that asset's usage `charges` there."""
    uptime = downtime.uptime_pct
    tier = tier_for(uptime, terms)
    amount = ZERO if tier is None else percent_of(charges, tier.credit_pct, terms.currency)
    return SlaCredit(downtime.device_id, uptime, tier, charges, amount)
