"""A statement as PDF (fpdf2): the same lines and totals as the JSON, CSV and HTML, on A4 pages.

The page streams are written uncompressed: a statement is small, and its text (amounts
included) can then be found in the file by anyone checking it, tests among them. The
built-in Helvetica font covers Latin-1 only; a character outside it (a name in another
script) is shown as "?" rather than failing the statement. The creation date is the
statement's own close time, so the same statement renders to the same bytes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from cloud.billing.statement_texts import ROUNDING_NOTE, TABLE_HEADINGS, UPTIME_LINE, heading, total_rows

_WIDTHS = (110.0, 25.0, 25.0, 30.0)  # mm, on A4's 190 mm between margins
_ROW_H = 6.0


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def _row(pdf: FPDF, cells: tuple[str, str, str, str], bold: bool = False) -> None:
    pdf.set_font("Helvetica", "B" if bold else "", 9)
    for index, (width, text) in enumerate(zip(_WIDTHS, cells, strict=True)):
        last = index == len(_WIDTHS) - 1
        pdf.cell(width, _ROW_H, _latin1(text), align="L" if index == 0 else "R",
                 new_x=XPos.LMARGIN if last else XPos.RIGHT, new_y=YPos.NEXT if last else YPos.TOP)


def render_pdf(document: dict[str, Any], closed_at: float) -> bytes:
    """The document as PDF bytes."""
    pdf = FPDF(format="A4")
    pdf.set_compression(False)
    pdf.set_creation_date(dt.datetime.fromtimestamp(closed_at, tz=dt.UTC))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    title, subtitle, revision = heading(document)
    pdf.set_title(_latin1(title))
    pdf.set_font("Helvetica", "B", 14)
    pdf.multi_cell(0, 8, _latin1(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 9)
    pdf.multi_cell(0, 5, _latin1(subtitle), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if revision is not None:
        pdf.multi_cell(0, 5, _latin1(revision), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    _row(pdf, TABLE_HEADINGS, bold=True)
    for line in document["lines"]:
        quantity = line["quantity"] if not line["unit"] else f"{line['quantity']} {line['unit']}"
        _row(pdf, (str(line["description"])[:70], quantity, str(line["unit_price"]), str(line["amount"])))
    pdf.ln(2)
    for _key, label, amount in total_rows(document):
        _row(pdf, (label, "", "", f"{amount} {document['currency']}"), bold=_key == "total")
    pdf.ln(3)
    pdf.set_font("Helvetica", "", 8)
    for entry in document["uptime"]:
        pdf.multi_cell(0, 4, _latin1(UPTIME_LINE.substitute(entry)), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.multi_cell(0, 4, _latin1(ROUNDING_NOTE), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
