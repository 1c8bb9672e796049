"""What offers say: the title and plain-language explanation of each offer type, as templates.

Filled from the numbers a rule used, so the customer and the planner read the same reasons
the rule had. Amounts are shown with their currency, rounded as the offer stores them.
"""

from __future__ import annotations

from string import Template

from cloud.store.offer_tables import OfferKind

TITLES: dict[OfferKind, Template] = {
    OfferKind.CHEAPER_PLAN: Template("Plan $plan would cost you less at your use"),
    OfferKind.SMALLER_PLAN: Template("A smaller plan, $plan, fits your use better"),
    OfferKind.EXTENDED_CARE: Template("Extended care for $device_id"),
    OfferKind.OPERATOR_TRAINING: Template("Operator training for $device_id"),
    OfferKind.OPERATION_ADVICE: Template("Advice on running $device_id"),
}

EXPLANATIONS: dict[OfferKind, Template] = {
    OfferKind.CHEAPER_PLAN: Template(
        "In $period your assets ran $use. Your plan charged $current for that (usage $usage_charge, monthly "
        "minimum $minimum). Plan $plan would have charged $alternative for the same use: $saving less per month "
        "at this level of use."),
    OfferKind.SMALLER_PLAN: Template(
        "In $period your assets ran $use. The use itself came to $usage_charge, below your plan's monthly minimum "
        "of $minimum, so you paid $current. Plan $plan would have charged $alternative for the same use: $saving "
        "less per month."),
    OfferKind.EXTENDED_CARE: Template(
        "The remaining useful life estimated for $device_id has fallen to $rul_last cycles (lower bound), below "
        "the maintenance horizon of $horizon cycles in your contract: it is wearing faster than planned. "
        "Extended care ($service, $fee per month) is expected to save you $saving per month ($basis), "
        "$value per month net."),
    OfferKind.OPERATOR_TRAINING: Template(
        "$device_id raised $anomalies anomalies between $since and $until. Many anomalies often come from how an "
        "asset is run. Operator training ($service, $fee per month) is expected to save you $saving per month "
        "($basis), $value per month net."),
    OfferKind.OPERATION_ADVICE: Template(
        "Technicians found $faults real faults on $device_id between $since and $until ($orders), each pointing "
        "at $channels. That pattern usually comes from operation, e.g. cavitation from running against a closed "
        "valve. Our engineers can advise how to run it so that it stops; the advice is free, and what it saves "
        "you is the stoppages."),
}
