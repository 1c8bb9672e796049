"""Trust metrics for planners, each number worked out by hand in the test: complaints, time to a human (median and
nearest-rank p90), requests still waiting, false alarms per customer; on SQLite and PostgreSQL, and over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from supporttest_support import NOW, PLANNER, Fleet, Served, done_order, fleet, offer, serve_api, support_database

from cloud.auth.roles import Role
from cloud.store.database import Database
from cloud.support.metrics import percentile, trust_report
from cloud.support.requests import answer, ask_for_a_person

HOUR = 3600.0


@pytest.fixture
def store(sql_url: str) -> Iterator[tuple[Database, Fleet]]:
    database = support_database(sql_url)
    try:
        yield database, fleet(database)
    finally:
        database.close()


def _ask(database: Database, customers: Fleet, customer_id: int, at: float, answered_after: float | None,
         complaint: bool = False) -> None:
    with database.session() as session:
        row = ask_for_a_person(session, customer_id, None, "help", customers.customer(customer_id), at,
                               complaint=complaint)
        if answered_after is not None:
            answer(session, PLANNER.scope, row.id, "here", PLANNER, at + answered_after)
            answer(session, PLANNER.scope, row.id, "and more", PLANNER, at + answered_after + 999)  # not the first
        session.commit()


def test_trust_numbers_per_customer_and_overall_as_worked_out_by_hand(store: tuple[Database, Fleet]) -> None:
    database, customers = store
    since, until = NOW - 10 * HOUR, NOW
    # A: three answered requests (60 s, 120 s, 600 s), one a complaint; one still waiting since NOW - 2 h.
    for n, wait in enumerate((600.0, 60.0, 120.0)):
        _ask(database, customers, customers.a, since + n * HOUR, wait, complaint=n == 0)
    _ask(database, customers, customers.a, NOW - 2 * HOUR, None)
    # B: one complaint answered after 30 s; and one before the window, which must not count.
    _ask(database, customers, customers.b, since + HOUR, 30.0, complaint=True)
    _ask(database, customers, customers.b, since - HOUR, 5.0, complaint=True)
    # Orders done in the window: A 1 false alarm of 4; B 0 of 1; one of B's done before the window.
    for finding in ("false_alarm", "true_fault", "true_fault", "true_fault"):
        done_order(database, "p-a", finding, since + HOUR)
    done_order(database, "p-b", "true_fault", since + HOUR)
    done_order(database, "p-b", "false_alarm", since - HOUR)
    # Offers to A in the window: 2 accepted, 1 declined, 1 sent and unanswered (4 reached it); a draft and a
    # rejected one never reached it. One accepted before the window.
    for status in ("accepted", "accepted", "declined", "sent", "draft", "rejected"):
        offer(database, customers.a, status, since + HOUR)
    offer(database, customers.a, "accepted", since - HOUR)

    with database.session() as session:
        report = trust_report(session, PLANNER.scope, since, until, NOW)
    a, b = (next(t for t in report.customers if t.customer_id == c) for c in (customers.a, customers.b))
    assert (a.help_requests, a.complaints, a.complaint_rate) == (4, 1, 0.25)
    assert (a.median_time_to_human_s, a.p90_time_to_human_s) == (120.0, 600.0)
    assert (a.waiting, a.longest_wait_s) == (1, 2 * HOUR)
    assert (a.orders_done, a.false_alarms, a.false_alarm_rate) == (4, 1, 0.25)
    assert (a.offers_sent, a.offers_accepted, a.offers_declined, a.offer_acceptance_rate) == (4, 2, 1, 0.5)
    assert (b.offers_sent, b.offer_acceptance_rate) == (0, None)
    [cheaper] = [r for r in report.offers_by_type if r.kind == "cheaper_plan"]
    assert (cheaper.offered, cheaper.accepted) == (5, 3)  # all time
    assert (b.help_requests, b.complaint_rate, b.median_time_to_human_s) == (1, 1.0, 30.0)
    assert (b.orders_done, b.false_alarm_rate) == (1, 0.0)
    overall = report.overall
    assert (overall.help_requests, overall.complaints, overall.complaint_rate) == (5, 2, 0.4)
    # 30, 60, 120, 600: the median by nearest rank is the 2nd (60), p90 the 4th (600).
    assert (overall.median_time_to_human_s, overall.p90_time_to_human_s) == (60.0, 600.0)
    assert (overall.orders_done, overall.false_alarms, overall.false_alarm_rate) == (5, 1, 0.2)
    assert [t.customer_id for t in report.customers] == sorted((customers.a, customers.b))  # not the other tenant's


def test_no_data_is_null_not_perfect(store: tuple[Database, Fleet]) -> None:
    database, _customers = store
    with database.session() as session:
        report = trust_report(session, PLANNER.scope, NOW - HOUR, NOW, NOW)
    overall = report.overall
    assert (overall.complaint_rate, overall.median_time_to_human_s, overall.false_alarm_rate) == (None, None, None)
    assert (overall.offers_sent, overall.offer_acceptance_rate) == (0, None)
    assert percentile([], 90) is None and percentile([5.0], 90) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 90) == 9.0


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve_api(tmp_path) as running:
        yield running


def test_planners_read_trust_metrics_over_http_and_customers_may_not(served: Served) -> None:
    done_order(served.database, "p-a", "false_alarm", NOW - HOUR)
    planner = served.clients(Role.PLANNER)
    response = planner.get("/metrics/trust", params={"since": "2027-01-15T00:00:00Z"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["since"] == "2027-01-15T00:00:00Z" and body["until"] == "2027-01-15T08:00:00Z"  # until: now
    [a] = [c for c in body["customers"] if c["customer_id"] == served.customers.a]
    assert (a["orders_done"], a["false_alarm_rate"], a["complaint_rate"]) == (1, 1.0, None)
    assert served.http.get("/metrics/trust", headers=served.as_("a")).status_code == 403
    empty = planner.get("/metrics/trust", params={"since": "2027-02-01T00:00:00Z", "until": "2027-01-01T00:00:00Z"})
    assert empty.status_code == 200 and empty.json()["overall"]["orders_done"] == 0
