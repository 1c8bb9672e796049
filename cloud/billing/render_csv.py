"""A statement as CSV: one row per line item, then one row per total, all under the same header."""

from __future__ import annotations

import csv
import io
from typing import Any

from cloud.billing.statement_texts import COLUMNS, total_rows


def render_csv(document: dict[str, Any]) -> str:
    """The document's lines (report ids space-separated) and totals; amounts exactly as the document has them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    currency = document["currency"]
    for line in document["lines"]:
        writer.writerow([
            line["kind"], line["description"], line["device_id"] or "", line["meter"] or "", line["unit"] or "",
            line["quantity"], line["unit_price"], line["amount"], currency, line["version"], line["start"],
            line["end"], " ".join(str(i) for i in line["report_ids"]), line["readings"] or "",
            "; ".join(line["notes"]),
        ])
    for key, label, amount in total_rows(document):
        writer.writerow([key, label, "", "", "", "", "", amount, currency, "", document["start"], document["end"],
                         "", "", ""])
    return out.getvalue()
