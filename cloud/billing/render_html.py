"""A statement as a self-contained HTML page: every text escaped, each usage number linked to its readings."""

from __future__ import annotations

from html import escape
from string import Template
from typing import Any

from cloud.billing.statement_texts import ROUNDING_NOTE, TABLE_HEADINGS, UPTIME_LINE, heading, total_rows

PAGE = Template("""\
<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>$title</title>
<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}td.n,th.n{text-align:right}</style>
</head>
<body>
<h1>$title</h1>
<p>$subtitle</p>
$revision
<table>
<thead><tr>$headings</tr></thead>
<tbody>
$lines
</tbody>
<tfoot>
$totals
</tfoot>
</table>
<h2>Uptime</h2>
<ul>
$uptime
</ul>
<p><small>$rounding</small></p>
</body>
</html>
""")
LINE = Template('<tr class="$kind"><td>$description$notes</td><td class="n">$quantity</td>'
                '<td class="n">$unit_price</td><td class="n">$amount</td></tr>')
TOTAL = Template('<tr class="$key"><th colspan="3">$label</th><td class="n">$amount $currency</td></tr>')


def _line(line: dict[str, Any]) -> str:
    quantity = escape(line["quantity"])
    if line["readings"]:
        reports = ", ".join(str(i) for i in line["report_ids"])
        quantity = (f'<a href="{escape(line["readings"])}" title="usage reports {escape(reports)}">'
                    f"{quantity} {escape(line['unit'] or '')}</a>")
    notes = "".join(f"<br><small>{escape(note)}</small>" for note in line["notes"])
    return LINE.substitute(kind=escape(line["kind"]), description=escape(line["description"]), notes=notes,
                           quantity=quantity, unit_price=escape(line["unit_price"]), amount=escape(line["amount"]))


def render_html(document: dict[str, Any]) -> str:
    """The document as HTML: the same lines, totals and uptime as the JSON, CSV and PDF."""
    title, subtitle, revision = heading(document)
    currency = escape(document["currency"])
    return PAGE.substitute(
        title=escape(title), subtitle=escape(subtitle),
        revision="" if revision is None else f"<p><strong>{escape(revision)}</strong></p>",
        headings="".join(f'<th class="{"n" if i else ""}">{escape(h)}</th>' for i, h in enumerate(TABLE_HEADINGS)),
        lines="\n".join(_line(line) for line in document["lines"]),
        totals="\n".join(TOTAL.substitute(key=escape(key), label=escape(label), amount=escape(amount),
                                          currency=currency) for key, label, amount in total_rows(document)),
        uptime="\n".join(f"<li>{escape(UPTIME_LINE.substitute(entry))}</li>" for entry in document["uptime"]),
        rounding=escape(ROUNDING_NOTE),
    )
