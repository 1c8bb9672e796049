"""What a statement says in words: the title, the column and total labels its renderings share.

CSV, HTML and PDF take their words from here and their numbers from the stored document,
so the three show the same amounts under the same names.
"""

from __future__ import annotations

from string import Template
from typing import Any

TITLE = Template("Statement $period: $contract_name")
SUBTITLE = Template("Customer: $customer_name. Contract $contract_id, period $start to $end (UTC), "
                    "amounts in $currency.")
REVISION = Template("Correction $revision of statement $corrected_id ($reason).")
COLUMNS = ("kind", "description", "device_id", "meter", "unit", "quantity", "unit_price", "amount", "currency",
           "version", "start", "end", "report_ids", "readings", "notes")
TABLE_HEADINGS = ("Item", "Quantity", "Unit price", "Amount")
TOTAL_LABELS = {
    "usage_charges": "Usage charges",
    "minimum_charges": "Minimum charge",
    "sla_credits": "SLA credits",
    "net": "Net",
    "tax": "Tax",
    "total": "Total",
}
TAX_LINE = Template("Tax $rate_pct % on $base")
ROUNDING_NOTE = ("Each line is rounded half to even to the currency's minor unit; net is the sum of the lines; "
                 "tax is rounded once per rate on the net.")
UPTIME_LINE = Template("$device_id uptime $uptime_pct %: $explanation")


def heading(document: dict[str, Any]) -> tuple[str, str, str | None]:
    """Title, subtitle, and (for a correction) what it corrects."""
    title = TITLE.substitute(period=document["period"], contract_name=document["contract_name"])
    subtitle = SUBTITLE.substitute(customer_name=document["customer_name"], contract_id=document["contract_id"],
                                   start=document["start"], end=document["end"], currency=document["currency"])
    corrects = document.get("corrects")
    revision = None if not corrects else REVISION.substitute(
        revision=document["revision"], corrected_id=corrects["statement_id"], reason=document.get("reason") or "")
    return title, subtitle, revision


def total_rows(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(key, label, amount) of each total, taxes per rate just before the tax total."""
    rows = [(key, TOTAL_LABELS[key], str(document[key])) for key in ("usage_charges", "minimum_charges",
                                                                      "sla_credits", "net")]
    rows += [("tax_rate", TAX_LINE.substitute(rate_pct=tax["rate_pct"], base=tax["base"]), str(tax["amount"]))
             for tax in document["taxes"]]
    rows += [(key, TOTAL_LABELS[key], str(document[key])) for key in ("tax", "total")]
    return rows
