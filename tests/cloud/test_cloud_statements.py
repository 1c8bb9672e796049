"""Statements: a month billed by hand (usage lines, an SLA credit from a failure, tax, rounding), the minimum and a
mid-month plan change, idempotent closing, an immutable closed period and a correction. On SQLite and PostgreSQL.

Reports go in through the ingest's handler; every expected amount is worked out by hand below.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections.abc import Iterator
from decimal import Decimal

import pytest
from billingtest_support import DAY, FEB, JAN, TERMS, contract, customer, usage
from cloudtest_support import TENANT, Stores, raw

from cloud.auth.principal import Principal, PrincipalKind
from cloud.auth.roles import Role
from cloud.billing.contracts import add_version
from cloud.billing.money import money_text
from cloud.billing.plans import CreditTier
from cloud.billing.render_csv import render_csv
from cloud.billing.render_html import render_html
from cloud.billing.render_pdf import render_pdf
from cloud.billing.sla import tier_for
from cloud.billing.statement_document import compute_document
from cloud.billing.statements import close_period, closed_until, content_hash, correct, statements_of
from cloud.errors import ConflictError
from cloud.store.contract_tables import ServiceContractRow
from cloud.store.database import Database
from cloud.store.statement_tables import StatementRow
from cloud.store.tables import FindingRow, WorkOrderRow, WorkOrderTransitionRow

HOUR = 3600.0
PLANNER = Principal(PrincipalKind.USER, "7", "pat", TENANT, Role.PLANNER)
AFTER_JANUARY = FEB + HOUR


@pytest.fixture
def db(stores: Stores) -> Iterator[Database]:
    yield stores.database


def _failure(db: Database, device: str, start: float, end: float) -> None:
    """A true fault repaired on site over [start, end): a persistent-anomaly order in progress then."""
    with db.session() as session:
        order = WorkOrderRow(device_id=device, tenant=TENANT, status="done", rule="persistent_anomaly",
                             reason="test", evidence={}, created_at=start - DAY, updated_at=end)
        session.add(order)
        session.flush()
        previous = None
        for status, at in (("proposed", start - DAY), ("in_progress", start), ("done", end)):
            session.add(WorkOrderTransitionRow(work_order_id=order.id, tenant=TENANT, from_status=previous,
                                               to_status=status, action="test", actor="user:t", at=at))
            previous = status
        session.add(FindingRow(work_order_id=order.id, device_id=device, model_id="m", model_version="1",
                               finding="true_fault", technician="tech", recorded_at=end))
        session.commit()


def _fleet(stores: Stores, db: Database) -> int:
    """pump-1 and pump-2 under one contract on TERMS, January's reports in, pump-1 down 12 h for a failure."""
    stores.handler.apply([
        raw(usage("pump-1", 1, JAN - DAY, JAN, operating_hours=10, energy_kwh=5)),
        raw(usage("pump-1", 2, JAN, FEB, operating_hours=110.25, energy_kwh=50)),
        raw(usage("pump-2", 1, JAN - DAY, JAN, operating_hours=0)),
        raw(usage("pump-2", 2, JAN, FEB, operating_hours=20)),
    ])
    agreement = contract(db, customer(db), ("pump-1", "pump-2"))
    _failure(db, "pump-1", JAN + 9 * DAY + 8 * HOUR, JAN + 9 * DAY + 20 * HOUR)
    return agreement


def _amounts(document: dict[str, object]) -> dict[str, object]:
    return {key: document[key] for key in ("usage_charges", "minimum_charges", "sla_credits", "net", "tax", "total")}


def test_a_month_with_a_failure_bills_the_hand_computed_lines_credit_tax_and_total(
    stores: Stores, db: Database
) -> None:
    agreement = _fleet(stores, db)
    with db.session() as session:
        row = close_period(session, agreement, "2027-01", AFTER_JANUARY, PLANNER)
        session.commit()
        document = row.document
    lines = {(line["device_id"], line["kind"], line["meter"]): line for line in document["lines"]}
    # pump-1: 110.25 - 10 = 100.25 h x 2.50 = 250.625 -> 250.62 (half to even, not 250.63); 45 kWh x 0.12 = 5.40.
    hours = lines[("pump-1", "usage", "operating_hours")]
    assert (hours["quantity"], hours["unit_price"], hours["amount"]) == ("100.250000", "2.50", "250.62")
    assert lines[("pump-1", "usage", "energy_kwh")]["amount"] == "5.40"
    assert len(hours["report_ids"]) == 2  # the January report and the one its difference starts from
    assert hours["readings"] == "/api/v1/assets/pump-1/usage?start=2027-01-01T00:00:00Z&end=2027-02-01T00:00:00Z"
    # pump-2: 20 h x 2.50 = 50.00.
    assert lines[("pump-2", "usage", "operating_hours")]["amount"] == "50.00"
    # pump-1 was down 12 h of 744: uptime 100 x (2,678,400 - 43,200) / 2,678,400 = 98.3871 %, below 99.5 but not
    # below 95: the 10 % tier, on pump-1's own charges 256.02 -> 25.602 -> 25.60. pump-2: 100 %, no credit.
    credit = lines[("pump-1", "sla_credit", None)]
    assert credit["amount"] == "-25.60"
    assert ("pump-2", "sla_credit", None) not in lines
    uptime = {entry["device_id"]: entry for entry in document["uptime"]}
    assert (uptime["pump-1"]["uptime_pct"], uptime["pump-1"]["failure_s"]) == ("98.3871", 12 * HOUR)
    assert uptime["pump-2"]["uptime_pct"] == "100.0000"
    # 306.02 of use is over the 100.00 minimum: no minimum line. Net 280.42; tax 19 % = 53.2798 -> 53.28.
    assert _amounts(document) == {"usage_charges": "306.02", "minimum_charges": "0.00", "sla_credits": "-25.60",
                                  "net": "280.42", "tax": "53.28", "total": "333.70"}
    assert document["taxes"] == [{"rate_pct": "19", "base": "280.42", "amount": "53.28"}]
    assert row.total == "333.70" and row.revision == 0 and row.currency == "EUR"


def test_a_plan_changed_mid_month_bills_each_part_at_its_version_with_the_minimum_prorated(
    stores: Stores, db: Database
) -> None:
    stores.handler.apply([raw(usage("pump-1", 1, JAN - DAY, JAN, operating_hours=0)),
                          raw(usage("pump-1", 2, JAN, FEB, operating_hours=31))])
    agreement = contract(db, customer(db), ("pump-1",))
    with db.session() as session:
        row = session.get(ServiceContractRow, agreement)
        assert row is not None
        add_version(session, row, dt.date(2027, 1, 16), dataclasses.replace(TERMS, price_per_hour=Decimal("3.00")),
                    now=JAN, actor="user:planner")
        session.commit()
        document = compute_document(session, agreement, "2027-01")
    # 31 h spread evenly over January: 15 h in Jan 1-15 at 2.50 = 37.50, 16 h in Jan 16-31 at 3.00 = 48.00.
    # Minimum 100.00 prorated by day: 15/31 -> 48.39 (top-up 10.89), 16/31 -> 51.61 (top-up 3.61).
    billed = [(line["kind"], line["version"], line["quantity"], line["amount"]) for line in document["lines"]]
    assert billed == [("usage", 1, "15.000000", "37.50"), ("minimum", 1, "1", "10.89"),
                      ("usage", 2, "16.000000", "48.00"), ("minimum", 2, "1", "3.61")]
    assert [(p["version"], p["days"]) for p in document["parts"]] == [(1, "15"), (2, "16")]
    assert _amounts(document) == {"usage_charges": "85.50", "minimum_charges": "14.50", "sla_credits": "0.00",
                                  "net": "100.00", "tax": "19.00", "total": "119.00"}


def test_closing_is_idempotent_a_closed_month_never_changes_and_a_correction_shows_the_difference(
    stores: Stores, db: Database
) -> None:
    stores.handler.apply([raw(usage("pump-1", 1, JAN - DAY, JAN, operating_hours=0)),
                          raw(usage("pump-1", 2, JAN, JAN + 15 * DAY, operating_hours=60))])
    agreement = contract(db, customer(db), ("pump-1",))
    with db.session() as session:
        with pytest.raises(ConflictError, match="has not ended"):
            close_period(session, agreement, "2027-01", FEB - 1.0, PLANNER)
        first = close_period(session, agreement, "2027-01", AFTER_JANUARY, PLANNER)
        session.commit()
        first_id, first_hash = first.id, first.content_hash
        assert first.total == "178.50"  # 60 h x 2.50 = 150.00, tax 28.50
        assert content_hash(first.document) == first_hash
        assert closed_until(session, agreement) == dt.date(2027, 2, 1)
    # A late report: 30 more hours in the second half of January.
    stores.handler.apply([raw(usage("pump-1", 3, JAN + 15 * DAY, FEB, operating_hours=90))])
    with db.session() as session:
        again = close_period(session, agreement, "2027-01", AFTER_JANUARY + DAY, PLANNER)
        assert (again.id, again.content_hash, again.total) == (first_id, first_hash, "178.50")
        assert compute_document(session, agreement, "2027-01")["total"] == "267.75"  # what a correction would say
        again.total = "0.00"
        with pytest.raises(ConflictError, match="cannot change"):
            session.flush()  # no UPDATE path: the store refuses it
        session.rollback()
        # A plan version may no longer apply from inside the billed month.
        row = session.get(ServiceContractRow, agreement)
        assert row is not None
        with pytest.raises(ConflictError):
            add_version(session, row, dt.date(2027, 1, 20), TERMS, now=FEB, actor="user:planner")
        original = session.get(StatementRow, first_id)
        assert original is not None
        fixed = correct(session, original, FEB + DAY, PLANNER, "late report of pump-1")
        session.commit()
        assert (fixed.revision, fixed.corrects_id, fixed.total) == (1, first_id, "267.75")
        assert fixed.document["difference"]["totals"]["usage_charges"] == "75.00"
        assert fixed.document["difference"]["totals"]["total"] == "89.25"
        [change] = fixed.document["difference"]["lines"]
        assert (change["before"], change["after"], change["change"]) == ("150.00", "225.00", "75.00")
        assert [(s.id, s.revision) for s in statements_of(session, agreement)] == [(first_id, 0), (fixed.id, 1)]
        unchanged = session.get(StatementRow, first_id)
        assert unchanged is not None and unchanged.content_hash == first_hash and unchanged.total == "178.50"
        # Closing again still answers with the statement as first issued, not the correction.
        assert close_period(session, agreement, "2027-01", FEB + 2 * DAY, PLANNER).id == first_id


def test_csv_html_and_pdf_show_the_same_numbers_as_the_document(stores: Stores, db: Database) -> None:
    agreement = _fleet(stores, db)
    with db.session() as session:
        row = close_period(session, agreement, "2027-01", AFTER_JANUARY, PLANNER)
        session.commit()
        document, closed_at = row.document, row.closed_at
    rows = list(csv.DictReader(io.StringIO(render_csv(document))))
    assert [r["amount"] for r in rows if r["kind"] in ("usage", "sla_credit")] == [
        line["amount"] for line in document["lines"]]
    totals = {r["kind"]: r["amount"] for r in rows if r["kind"] not in ("usage", "minimum", "sla_credit")}
    assert totals == {"usage_charges": "306.02", "minimum_charges": "0.00", "sla_credits": "-25.60",
                      "net": "280.42", "tax_rate": "53.28", "tax": "53.28", "total": "333.70"}
    hours = next(r for r in rows if r["device_id"] == "pump-1" and r["meter"] == "operating_hours")
    assert hours["report_ids"].split() == [str(i) for i in document["lines"][0]["report_ids"]]
    page = render_html(document)
    assert '<tr class="total"><th colspan="3">Total</th><td class="n">333.70 EUR</td></tr>' in page
    assert 'href="/api/v1/assets/pump-1/usage?start=2027-01-01T00:00:00Z&amp;end=2027-02-01T00:00:00Z"' in page
    pdf = render_pdf(document, closed_at)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    for text in (b"(333.70 EUR)", b"(280.42 EUR)", b"(-25.60)", b"(250.62)"):
        assert text in pdf, text
    assert render_pdf(document, closed_at) == pdf  # the same statement, the same bytes


@pytest.mark.parametrize(("amount", "currency", "shown"), [
    ("250.625", "EUR", "250.62"), ("250.635", "EUR", "250.64"),  # a tie goes to the even cent
    ("2.5", "JPY", "2"), ("3.5", "JPY", "4"),  # no minor unit
    ("1.0005", "KWD", "1.000"), ("1.0015", "KWD", "1.002"),  # three decimals
    ("0.125", "XTS", "0.12"),  # a currency not listed: two decimals
])
def test_money_is_rounded_half_to_even_to_the_currencys_minor_unit(amount: str, currency: str, shown: str) -> None:
    assert money_text(Decimal(amount), currency) == shown


def test_the_tier_with_the_largest_credit_the_uptime_falls_under_applies() -> None:
    tiers = (CreditTier(Decimal("95"), Decimal("25")), CreditTier(Decimal("99.5"), Decimal("10")))
    terms = dataclasses.replace(TERMS, credit_tiers=tiers)
    assert tier_for(Decimal("99.5"), terms) is None  # not below 99.5
    assert tier_for(Decimal("99.4999"), terms) == tiers[1]
    assert tier_for(Decimal("94"), terms) == tiers[0]
    assert tier_for(Decimal("94"), dataclasses.replace(terms, sla_uptime_pct=None)) is None  # no SLA, no credit
