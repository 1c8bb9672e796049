"""Always a human: a customer asks for a person with its whole history, a planner answers, the customer is told.

On SQLite and PostgreSQL for the store, and over real HTTP for the routes: who sees whose
requests (another customer's is a 404), the first answer's time kept once, the
`help_answer` message queued in the answer's transaction, every change audited.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from supporttest_support import (
    NOW,
    PLANNER,
    TENANT,
    Fleet,
    Served,
    done_order,
    fleet,
    offer,
    serve_api,
    support_database,
)

from cloud.auth.roles import Role
from cloud.errors import ConflictError, InvalidHelpRequestError, NotFoundError
from cloud.notify.events import enqueue_visit_window
from cloud.notify.texts import TextContext, render
from cloud.store.account_tables import AuditRow
from cloud.store.database import Database
from cloud.store.notify_tables import NotificationKind, NotificationRow
from cloud.store.support_tables import HelpRequestRow
from cloud.support.requests import answer, ask_for_a_person, close, list_requests

TEXTS = TextContext("https://paas.example", "support@acme.example")


@pytest.fixture
def store(sql_url: str) -> Iterator[tuple[Database, Fleet]]:
    database = support_database(sql_url)
    try:
        yield database, fleet(database)
    finally:
        database.close()


def test_a_request_keeps_the_customers_history_and_the_first_answer_time_once(
        store: tuple[Database, Fleet]) -> None:
    database, customers = store
    order_id = done_order(database, "p-a", "false_alarm", NOW - 600)
    done_order(database, "p-b", "true_fault", NOW - 600)  # B's: never in A's history
    customer = customers.customer(customers.a)
    with database.session() as session:
        row = ask_for_a_person(session, customers.a, f"work_order:{order_id}", "Why did you come for nothing?",
                               customer, NOW, complaint=True)
        session.commit()
        request_id = row.id
    with database.session() as session:
        row = session.get(HelpRequestRow, request_id)
        assert row is not None and (row.status, row.complaint, row.about_kind, row.about_id) == (
            "open", True, "work_order", order_id)
        history = row.history
        assert [a["device_id"] for a in history["assets"]] == ["p-a"]
        assert [(o["id"], o["finding"]) for o in history["work_orders"]] == [(order_id, "false_alarm")]
        assert history["customer"]["name"] == "Initech"
        answer(session, PLANNER.scope, request_id, "Our model misread a restart; we have fixed it.", PLANNER,
               NOW + 90)
        answer(session, PLANNER.scope, request_id, "And here is more.", PLANNER, NOW + 500)
        session.commit()
    with database.session() as session:
        row = session.get(HelpRequestRow, request_id)
        assert row is not None
        assert (row.status, row.first_answered_at, row.first_answered_by) == ("answered", NOW + 90, "user:pia")
        told = session.scalars(sa.select(NotificationRow).where(NotificationRow.kind == "help_answer")).all()
        assert [(n.recipient_kind, n.recipient_id, n.status) for n in told] == [
            ("customer", customers.a, "no_contact")] * 2  # A has no contact point: visible, sent once one is set
        assert told[0].facts["answer"].startswith("Our model misread")
        close(session, customer.scope, request_id, customer, NOW + 600)
        session.commit()
        with pytest.raises(ConflictError):
            answer(session, PLANNER.scope, request_id, "late", PLANNER, NOW + 700)
        actions = session.scalars(sa.select(AuditRow.action).where(AuditRow.object_type == "help_request")
                                  .order_by(AuditRow.id)).all()
        assert actions == ["ask", "answer", "answer", "close"]


def test_a_customer_asks_only_about_its_own_things_and_sees_only_its_own_requests(
        store: tuple[Database, Fleet]) -> None:
    database, customers = store
    b_order = done_order(database, "p-b", "true_fault", NOW - 600)
    a, b = customers.customer(customers.a), customers.customer(customers.b)
    with database.session() as session:
        [notice] = enqueue_visit_window(session, tenant=TENANT, customer_id=customers.b, order_id=b_order,
                                        device_id="p-b", window_start=NOW, window_end=NOW + 3600, now=NOW)
        session.commit()
        for about in (f"work_order:{b_order}", f"notification:{notice}", "statement:1", "offer:1"):
            with pytest.raises(NotFoundError):
                ask_for_a_person(session, customers.a, about, "?", a, NOW)
        with pytest.raises(NotFoundError):  # asking in another customer's name
            ask_for_a_person(session, customers.b, None, "?", a, NOW)
        with pytest.raises(NotFoundError):  # another tenant's customer
            ask_for_a_person(session, customers.other, None, "?", PLANNER, NOW)
        with pytest.raises(InvalidHelpRequestError):
            ask_for_a_person(session, customers.a, "invoice:3", "?", a, NOW)
        ask_for_a_person(session, customers.b, f"notification:{notice}", "Can you come later?", b, NOW)
        ask_for_a_person(session, customers.a, None, "Hello?", a, NOW)
        session.commit()
        assert [r.message for r in list_requests(session, a.scope, None)] == ["Hello?"]
        assert [r.message for r in list_requests(session, PLANNER.scope, None)] == ["Hello?", "Can you come later?"]
        with pytest.raises(NotFoundError):
            close(session, a.scope, list_requests(session, b.scope, None)[0].id, a, NOW)


def test_the_history_shows_only_offers_that_reached_the_customer(store: tuple[Database, Fleet]) -> None:
    database, customers = store
    draft, sent = offer(database, customers.a, "draft", NOW), offer(database, customers.a, "sent", NOW)
    offer(database, customers.b, "sent", NOW)  # B's
    a = customers.customer(customers.a)
    with database.session() as session:
        with pytest.raises(NotFoundError):  # an unapproved draft is nothing a customer can point at
            ask_for_a_person(session, customers.a, f"offer:{draft}", "?", a, NOW)
        row = ask_for_a_person(session, customers.a, f"offer:{sent}", "Is this worth it?", a, NOW)
        assert [o["id"] for o in row.history["offers"]] == [sent]
        assert row.history["offers"][0]["expected_value"] == "12.50"  # money as exact text
        assert row.history["absent"] == [] and row.history["statements"] == []


def test_every_customer_text_says_how_to_reach_a_person() -> None:
    visit = render(NotificationKind.VISIT_WINDOW, {"order_id": 1, "device_id": "p-a", "window_start": NOW,
                                                   "window_end": NOW + 3600}, "d1", TEXTS)
    answered = render(NotificationKind.HELP_ANSWER, {"request_id": 4, "answer": "We come Tuesday.",
                                                     "answered_by": "pia", "name": "Initech"}, "d2", TEXTS)
    for text in (visit.text, answered.text):
        assert "https://paas.example/api/v1/help-requests" in text
    assert "pia answered your request #4" in answered.text and "We come Tuesday." in answered.text
    assert answered.payload["request_url"] == "https://paas.example/api/v1/help-requests/4"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve_api(tmp_path) as running:
        yield running


def test_over_http_a_customer_asks_a_planner_answers_and_only_the_asker_sees_it(served: Served) -> None:
    order_id = done_order(served.database, "p-a", "false_alarm", NOW - 600)
    asked = served.http.post("/help-requests", headers=served.as_("a"), json={
        "about": {"kind": "work_order", "id": order_id}, "message": "Please call me.", "complaint": True})
    assert asked.status_code == 201, asked.text
    request_id = asked.json()["id"]
    assert asked.json()["history"]["work_orders"][0]["id"] == order_id
    assert asked.json()["history"]["absent"] == []  # every section of the history is in this release
    planner = served.clients(Role.PLANNER)
    waiting = planner.get("/help-requests", params={"status": "open"}).json()
    assert [(r["id"], r["customer_id"], r["complaint"]) for r in waiting] == [(request_id, served.customers.a, True)]
    assert served.http.get(f"/help-requests/{request_id}", headers=served.as_("b")).status_code == 404
    assert served.http.get("/help-requests", headers=served.as_("b")).json() == []
    assert served.http.post(f"/help-requests/{request_id}/close", headers=served.as_("b")).status_code == 404
    assert served.http.post(f"/help-requests/{request_id}/answer", headers=served.as_("a"),
                            json={"message": "self-answer"}).status_code == 403
    answered = planner.post(f"/help-requests/{request_id}/answer", json={"message": "Calling you at 10."})
    assert answered.status_code == 200, answered.text
    mine = served.http.get("/help-requests", headers=served.as_("a")).json()
    assert [(r["status"], [x["message"] for x in r["answers"]]) for r in mine] == [("answered", ["Calling you at 10."])]
    assert mine[0]["time_to_first_answer_s"] == 0.0  # the test's clock stands still
    assert planner.get("/help-requests", params={"status": "open"}).json() == []
    on_behalf = planner.post("/help-requests", json={"message": "Phoned in", "customer_id": served.customers.b})
    assert on_behalf.status_code == 201 and on_behalf.json()["customer_id"] == served.customers.b
    by_about = planner.post("/help-requests", json={"message": "About this order",
                                                    "about": {"kind": "work_order", "id": order_id}})
    assert by_about.status_code == 201 and by_about.json()["customer_id"] == served.customers.a
    assert planner.post("/help-requests", json={"message": "whose?"}).status_code == 422
    assert served.http.post("/help-requests", headers=served.as_("a"), json={
        "message": "x", "customer_id": served.customers.b}).status_code == 404
    assert served.http.post("/help-requests", headers=served.as_("a"), json={"message": "   "}).status_code == 422
    closed = served.http.post(f"/help-requests/{request_id}/close", headers=served.as_("a"))
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert planner.post(f"/help-requests/{request_id}/answer", json={"message": "late"}).status_code == 409
    with served.database.session() as session:
        kinds = session.scalars(sa.select(NotificationRow.kind)).all()
        assert kinds == ["help_answer"]
        actors = session.execute(sa.select(AuditRow.actor, AuditRow.action).where(
            AuditRow.object_type == "help_request").order_by(AuditRow.id)).all()
        assert [tuple(a) for a in actors] == [("api_key:cust-a", "ask"), ("api_key:planner-acme", "answer"),
                                              ("api_key:planner-acme", "ask"), ("api_key:planner-acme", "ask"),
                                              ("api_key:cust-a", "close")]
