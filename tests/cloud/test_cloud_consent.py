"""A customer's data as a whole through the API: the export of everything as one file, and the erasure that keeps
only what invoices legally need and says so (served by `supporttest_support.serve_api`, over SQLite)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from offertest_support import GRANT, cavitation, grant
from supporttest_support import Served, serve_api

from cloud.auth.roles import Role
from cloud.consent.ledger import Purpose, has_consent
from cloud.store.account_tables import AuditRow, CustomerRow
from cloud.store.notify_tables import ContactPointRow, NotificationRow
from cloud.store.offer_tables import OfferRow


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve_api(tmp_path) as running:
        yield running


def customer_a_with_history(served: Served) -> int:
    """Customer A: consents, a contact point, three orders with findings on p-a, an offer sent to it."""
    a, planner = served.customers.a, served.clients(Role.PLANNER)
    cavitation(served)
    grant(served, "a", a, "personalised_offers", "maintenance")
    assert planner.put(f"/customers/{a}/contact", json={"channel": "email", "email": "ann@initech.example"}
                       ).status_code == 200
    [drafted] = planner.post("/offers").json()["drafted"]
    assert planner.post(f"/offers/{drafted['id']}/approve", json={}).status_code == 200
    return a


def test_a_customer_exports_all_of_its_data_as_one_file_and_nothing_of_anyone_else(served: Served) -> None:
    a = customer_a_with_history(served)
    response = served.http.get(f"/customers/{a}/export", headers=served.as_("a"))
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == f'attachment; filename="customer-{a}-export.json"'
    document = response.json()
    tables = document["tables"]
    assert [row["name"] for row in tables["customers"]] == ["Initech"]
    assert {row["purpose"] for row in tables["consents"]} == {"personalised_offers", "maintenance"}
    assert [row["kind"] for row in tables["offers"]] == ["operation_advice"]
    assert [row["email"] for row in tables["contact_points"]] == ["ann@initech.example"]
    assert [row["kind"] for row in tables["notifications"]] == ["offer"]
    assert [row["device_id"] for row in tables["assets"]] == ["p-a"]
    assert len(tables["work_orders"]) == 3 and len(tables["work_order_findings"]) == 3
    assert [row["name"] for row in tables["api_keys"]] == ["cust-a"]
    text = json.dumps(document)
    assert "secret_hash" not in text and "password_hash" not in text and "p-b" not in text
    assert "telemetry" in document["not_included"]
    assert served.http.get(f"/customers/{served.customers.b}/export", headers=served.as_("a")).status_code == 404
    assert served.clients(Role.PLANNER).get(f"/customers/{a}/export").status_code == 200
    assert served.clients(Role.VIEWER).get(f"/customers/{a}/export").status_code == 403
    assert served.clients(Role.PLANNER).get(f"/customers/{served.customers.other}/export").status_code == 404


def test_erasure_keeps_what_invoices_need_erases_the_rest_and_says_so(served: Served) -> None:
    a = customer_a_with_history(served)
    b = served.customers.b
    grant(served, "b", b, "personalised_offers")
    assert served.clients(Role.PLANNER).post(f"/customers/{a}/erase").status_code == 403
    response = served.clients(Role.ADMIN).post(f"/customers/{a}/erase")
    assert response.status_code == 200, response.text
    report = response.json()
    # The offer's message was still waiting in the outbox: recalled with the offer (withdrawn), not sent.
    assert report["erased"] == {"contact_points": 1}
    assert report["anonymised"] == {"consents": 6, "offers": 1, "api_keys": 1}  # 2 grants + 4 withdrawals
    assert {"customers", "statements", "service_contracts", "contract_versions", "usage_reports"} <= set(
        report["kept"])
    assert "legal retention" in report["note"]
    with served.database.session() as session:
        customer = session.get(CustomerRow, a)
        assert customer is not None and customer.name == "Initech"  # the billing identity stays
        assert not any(has_consent(session, a, p) for p in Purpose)
        assert has_consent(session, b, Purpose.PERSONALISED_OFFERS)  # another customer's ledger untouched
        [offer] = session.scalars(sa.select(OfferRow).where(OfferRow.customer_id == a)).all()
        assert (offer.explanation, offer.data_used, offer.kind, offer.status) == (
            "[erased]", {}, "operation_advice", "withdrawn")
        assert session.scalars(sa.select(ContactPointRow).where(ContactPointRow.recipient_id == a)).all() == []
        assert session.scalars(sa.select(NotificationRow).where(NotificationRow.recipient_id == a)).all() == []
        assert session.scalar(sa.select(AuditRow.actor).where(AuditRow.action == "customer.erase")) == (
            "api_key:admin-acme")
    assert served.http.get("/offers", headers=served.as_("a")).status_code == 401  # its key is revoked
    assert served.http.put(f"/customers/{b}/consents/maintenance", json=GRANT,
                           headers=served.as_("b")).status_code == 200
