"""Consents and offers through the real API: who may record and read what, the offer's whole life, and that no
route or job sends an offer a planner did not approve.

Served by `supporttest_support.serve_api` (the API alone over SQLite); customers A and B of tenant acme, one of globex.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from offertest_support import GRANT, audit_actions, cavitation, grant, unapproved_offers_sent
from supporttest_support import NOW, OTHER, TENANT, Served, serve_api

from cloud.auth.roles import Role
from cloud.offers.delivery import deliver_approved
from cloud.offers.drafting import draft_offers
from cloud.store.notify_tables import NotificationRow
from cloud.store.offer_tables import OfferRow, OfferStatus


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve_api(tmp_path) as running:
        yield running


def test_a_customer_records_and_reads_only_its_own_consents_and_a_planner_records_for_it(served: Served) -> None:
    a, b = served.customers.a, served.customers.b
    put = served.http.put(f"/customers/{a}/consents/personalised_offers", json=GRANT, headers=served.as_("a"))
    assert put.status_code == 200, put.text
    assert put.json()["entry"]["recorded_by"] == "api_key:cust-a"
    assert served.http.put(f"/customers/{b}/consents/maintenance", json=GRANT,
                           headers=served.as_("a")).status_code == 404
    assert served.http.get(f"/customers/{b}/consents", headers=served.as_("a")).status_code == 404
    planner = served.clients(Role.PLANNER)
    said = {"granted": False, "source": "phone call with Ann, 2027-01-03", "text": "no offers please"}
    assert planner.put(f"/customers/{a}/consents/personalised_offers", json=said).status_code == 200
    assert served.clients(Role.VIEWER).get(f"/customers/{a}/consents").status_code == 403
    assert served.clients(Role.TECHNICIAN).put(f"/customers/{a}/consents/maintenance", json=GRANT).status_code == 403
    assert planner.put(f"/customers/{served.customers.other}/consents/maintenance", json=GRANT).status_code == 404
    assert planner.put(f"/customers/{a}/consents/marketing", json=GRANT).status_code == 422
    assert planner.put(f"/customers/{a}/consents/maintenance", json={**GRANT, "granted": "yes"}).status_code == 422
    ledger = served.http.get(f"/customers/{a}/consents", headers=served.as_("a")).json()
    current = {c["purpose"]: c["granted"] for c in ledger["current"]}
    assert current == {"maintenance": False, "usage_analytics": False, "personalised_offers": False,
                       "partner_sharing": False}
    assert [(e["granted"], e["source"]) for e in ledger["history"]] == [
        (True, "web form"), (False, "phone call with Ann, 2027-01-03")]
    assert audit_actions(served).count("consent.grant") == 1 and audit_actions(served).count("consent.withdraw") == 1


def test_an_offer_is_drafted_under_consent_approved_by_a_planner_sent_and_answered_by_its_customer(
    served: Served,
) -> None:
    a, planner = served.customers.a, served.clients(Role.PLANNER)
    cavitation(served)
    assert planner.post("/offers").json() == {"drafted": []}  # no consent yet
    grant(served, "a", a, "personalised_offers", "maintenance")
    [drafted] = planner.post("/offers").json()["drafted"]
    assert (drafted["kind"], drafted["status"], drafted["device_id"], drafted["expected_value"]) == (
        "operation_advice", "draft", "p-a", "0.00")
    assert "cavitation" in drafted["explanation"] and len(drafted["data_used"]["work_order_ids"]) == 3
    assert planner.post("/offers").json() == {"drafted": []}  # idempotent
    assert [o["id"] for o in planner.get("/offers", params={"status": "draft"}).json()] == [drafted["id"]]
    offer_url = f"/offers/{drafted['id']}"
    # The customer sees nothing of a draft and cannot answer it.
    assert served.http.get("/offers", headers=served.as_("a")).json() == []
    assert served.http.get(offer_url, headers=served.as_("a")).status_code == 404
    assert served.http.post(f"{offer_url}/accept", json={}, headers=served.as_("a")).status_code == 404
    assert served.clients(Role.CUSTOMER).post(f"{offer_url}/approve", json={}).status_code == 403
    approved = planner.post(f"{offer_url}/approve", json={"note": "good advice"})
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["decided_by"]) == ("sent", "api_key:planner-acme")
    assert planner.post(f"{offer_url}/reject", json={"reason": "too late"}).status_code == 409
    with served.database.session() as session:
        [message] = session.scalars(sa.select(NotificationRow).where(NotificationRow.kind == "offer")).all()
        assert (message.recipient_id, message.facts["offer_id"]) == (a, drafted["id"])
    assert [o["id"] for o in served.http.get("/offers", headers=served.as_("a")).json()] == [drafted["id"]]
    assert served.http.get("/offers", headers=served.as_("b")).json() == []  # another customer's offer: unseen
    assert served.http.get(offer_url, headers=served.as_("b")).status_code == 404
    assert served.http.post(f"{offer_url}/accept", json={}, headers=served.as_("b")).status_code == 404
    accepted = served.http.post(f"{offer_url}/accept", json={"note": "call me"}, headers=served.as_("a"))
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert served.http.post(f"{offer_url}/decline", json={}, headers=served.as_("a")).status_code == 409
    rates = {r["kind"]: r for r in planner.get("/offers/metrics").json()}
    assert (rates["operation_advice"]["offered"], rates["operation_advice"]["rate"]) == (1, 1.0)
    assert {"offer.draft", "offer.approve", "offer.send", "offer.accept"} <= set(audit_actions(served))


def test_withdrawing_consent_through_the_api_withdraws_the_pending_draft(served: Served) -> None:
    a, planner = served.customers.a, served.clients(Role.PLANNER)
    cavitation(served)
    grant(served, "a", a, "personalised_offers", "maintenance")
    [drafted] = planner.post("/offers").json()["drafted"]
    withdrawn = served.http.put(f"/customers/{a}/consents/maintenance", json={**GRANT, "granted": False},
                                headers=served.as_("a"))
    assert withdrawn.json()["withdrawn_offers"] == [drafted["id"]]
    assert planner.get(f"/offers/{drafted['id']}").json()["status"] == "withdrawn"
    assert planner.post(f"/offers/{drafted['id']}/approve", json={}).status_code == 409


def test_the_catalogue_is_kept_by_planners_and_read_with_exact_decimals(served: Served) -> None:
    planner = served.clients(Role.PLANNER)
    plan = {"name": "Heavy user", "kind": "plan", "currency": "EUR", "price_per_hour": "2.0125",
            "monthly_minimum": "300"}
    created = planner.post("/offer-plans", json=plan)
    assert created.status_code == 201, created.text
    assert (created.json()["price_per_hour"], created.json()["monthly_minimum"], created.json()["price_per_kwh"]) == (
        "2.0125", "300", None)
    assert planner.post("/offer-plans", json=plan).status_code == 409
    assert served.clients(Role.CUSTOMER).post("/offer-plans", json={**plan, "name": "x"}).status_code == 403
    assert planner.post("/offer-plans", json={**plan, "name": "y", "price_per_hour": -1}).status_code == 422
    [listed] = planner.get("/offer-plans").json()
    assert (listed["name"], listed["price_per_hour"]) == ("Heavy user", "2.0125")  # read back from the store
    assert served.clients(Role.VIEWER).get("/offer-plans").status_code == 403


def _walk_every_offer_route(served: Served, ids: list[int], customers: dict[str, httpx.Client]) -> int:
    """Call every offer and consent operation of the schema with every offer id, as everyone; the calls made."""
    root = str(served.http.base_url).split("/api/v1")[0]
    schema = served.http.get(f"{root}/openapi.json").json()
    bodies: dict[str, dict[str, Any]] = {"approve": {}, "reject": {"reason": "walk"}, "accept": {}, "decline": {}}
    calls = 0
    for path, methods in schema["paths"].items():
        if not re.search(r"/(offers|offer-plans|consents)", path):
            continue
        for method in methods:
            for offer_id in ids:
                url = path.removeprefix("/api/v1").replace("{offer_id}", str(offer_id))
                url = url.replace("{customer_id}", str(served.customers.a)).replace("{purpose}", "usage_analytics")
                body = bodies.get(url.rsplit("/", 1)[-1], GRANT if "consents" in url else {})
                for client in customers.values():
                    if method == "post" and url.endswith("/approve") and offer_id != ids[0]:
                        continue  # approving is allowed to send: only the first (the control) is approved
                    client.request(method.upper(), url, json=body if method != "get" else None)
                    calls += 1
    return calls


def test_no_route_or_job_sends_an_offer_a_planner_did_not_approve(served: Served) -> None:
    a, planner = served.customers.a, served.clients(Role.PLANNER)
    cavitation(served, "p-a")
    cavitation(served, "p-b")
    grant(served, "a", a, "personalised_offers", "maintenance")
    grant(served, "b", served.customers.b, "personalised_offers", "maintenance")
    drafted = [o["id"] for o in planner.post("/offers").json()["drafted"]]
    assert len(drafted) == 2
    everyone = {"planner": planner, "admin": served.clients(Role.ADMIN), "viewer": served.clients(Role.VIEWER),
                "a": httpx.Client(base_url=str(served.http.base_url), headers=served.as_("a")),
                "other": served.clients.platform_admin()}
    try:
        calls = _walk_every_offer_route(served, [drafted[0], drafted[1], 999], everyone)
    finally:
        everyone["a"].close()
    assert calls > 50
    with served.database.session() as session:
        draft_offers(session, TENANT, NOW)
        draft_offers(session, OTHER, NOW)
        deliver_approved(session, None, NOW)
        session.commit()
        offers = {row.id: row for row in session.scalars(sa.select(OfferRow)).all()}
        messages = session.scalars(sa.select(NotificationRow).where(NotificationRow.kind == "offer")).all()
    sent = {int(m.facts["offer_id"]) for m in messages}
    assert unapproved_offers_sent(served.database) == []
    assert audit_actions(served).count("offer.approve") == len(sent)
    assert drafted[0] in sent  # the control: approving is what sends
    assert drafted[1] not in sent  # never approved (rejected or still a draft): never sent
    assert offers[drafted[1]].status in (OfferStatus.DRAFT.value, OfferStatus.REJECTED.value,
                                         OfferStatus.WITHDRAWN.value)
