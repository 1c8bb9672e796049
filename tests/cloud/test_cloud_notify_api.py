"""The notification routes over real HTTP: contact points, the outbox list and retry; and the service's sender.

Who may do what is also walked for every route by test_cloud_access_routes; here: what the
routes do, that a webhook secret is shown once and never audited, that another tenant's
technician, customer or notification is a 404, and that `CloudService` runs the sender
(a queued message reaches a real SMTP server with no test code in between).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from apitest_support import api_alone
from authtest_support import RoleClients, service_database
from cloudtest_support import service_settings, wait_until
from notifytest_support import smtp_sink

from cloud.auth.accounts import create_customer, create_technician
from cloud.auth.roles import Role
from cloud.broker import MosquittoBroker
from cloud.notify.events import enqueue_assignment, enqueue_visit_window
from cloud.server import CloudService
from cloud.store.account_tables import AuditRow
from cloud.store.database import Database
from cloud.store.notify_tables import ContactPointRow, NotificationRow

TENANT, OTHER = "acme", "globex"
NOW = 1_800_000_000.0


@dataclass
class Served:
    database: Database
    clients: RoleClients
    technician_id: int
    customer_id: int
    other_technician_id: int
    other_customer_id: int

    def audit(self, action: str) -> list[AuditRow]:
        with self.database.session() as session:
            return list(session.scalars(sa.select(AuditRow).where(AuditRow.action == action)))

    def queue(self, customer: bool = False, tenant: str = TENANT, order_id: int = 1) -> int:
        with self.database.session() as session:
            if customer:
                [notification_id] = enqueue_visit_window(
                    session, tenant=tenant, customer_id=self.customer_id, order_id=order_id, device_id="p-1",
                    window_start=NOW + 3600, window_end=NOW + 7200, now=NOW)
            else:
                [notification_id] = enqueue_assignment(
                    session, tenant=tenant, technician_id=self.technician_id, order_id=order_id, device_id="p-1",
                    window_start=NOW + 3600, window_end=NOW + 7200, site="Hall 3", now=NOW)
        return notification_id


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """The API alone (no broker, no ingest) over a SQLite store, on a free port."""
    with api_alone(tmp_path, NOW) as api:
        with api.database.session() as session:
            ids = [create_technician(session, TENANT, "Tess", NOW), create_customer(session, TENANT, "Initech", NOW),
                   create_technician(session, OTHER, "Otto", NOW), create_customer(session, OTHER, "Globex", NOW)]
            session.flush()
            technician_id, customer_id, other_technician_id, other_customer_id = (row.id for row in ids)
        with RoleClients(api.database, api.url, TENANT) as clients:
            yield Served(api.database, clients, technician_id, customer_id, other_technician_id, other_customer_id)


def test_a_planner_sets_where_a_technician_is_told_and_the_change_is_audited(served: Served) -> None:
    planner, path = served.clients(Role.PLANNER), f"/technicians/{served.technician_id}/contact"
    assert planner.get(path).json() == {"technician_id": served.technician_id, "email": None, "updated_at": None}
    response = planner.put(path, json={"email": "tess@field.example"})
    assert response.status_code == 200, response.text
    assert response.json()["email"] == "tess@field.example"
    assert served.clients(Role.VIEWER).get(path).json()["email"] == "tess@field.example"
    [entry] = served.audit("contact.set")
    assert (entry.actor, entry.object_type, entry.object_id) == ("api_key:planner-acme", "technician",
                                                                  str(served.technician_id))
    assert entry.after == {"channel": "email", "email": "tess@field.example", "webhook_url": None}
    assert served.clients(Role.TECHNICIAN).put(path, json={"email": "me@field.example"}).status_code == 403
    other = f"/technicians/{served.other_technician_id}/contact"
    assert planner.get(other).status_code == 404
    assert planner.put(other, json={"email": "otto@globex.example"}).status_code == 404


@pytest.mark.parametrize("email", ["tess@field.example\r\nBcc: all@evil.example", "tess", "tess@localhost",
                                   "<tess@field.example>", "a" * 65 + "@field.example"])
def test_an_address_a_mail_header_cannot_hold_is_refused(served: Served, email: str) -> None:
    planner = served.clients(Role.PLANNER)
    assert planner.put(f"/technicians/{served.technician_id}/contact", json={"email": email}).status_code == 422
    for body in ({"channel": "email", "email": email}, {"channel": "webhook", "webhook_url": "ftp://x.example/"},
                 {"channel": "webhook", "webhook_url": "https://x.example/a b"}, {"channel": "webhook"},
                 {"channel": "sms", "email": "ops@initech.example"}):
        assert planner.put(f"/customers/{served.customer_id}/contact", json=body).status_code == 422, body


def test_a_webhook_secret_is_shown_once_kept_across_url_changes_rotated_on_request_and_never_audited(
        served: Served) -> None:
    planner, path = served.clients(Role.PLANNER), f"/customers/{served.customer_id}/contact"
    made = planner.put(path, json={"channel": "webhook", "webhook_url": "https://hooks.initech.example/paas"})
    assert made.status_code == 200, made.text
    secret = made.json()["webhook_secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    assert planner.get(path).json() == {**made.json(), "webhook_secret": None}
    moved = planner.put(path, json={"channel": "webhook", "webhook_url": "https://hooks2.initech.example/paas"})
    assert moved.json()["webhook_secret"] is None  # the receiver keeps verifying with the secret it has
    rotated = planner.put(path, json={"channel": "webhook", "webhook_url": "https://hooks2.initech.example/paas",
                                      "rotate_secret": True}).json()["webhook_secret"]
    assert rotated and rotated != secret
    with served.database.session() as session:
        row = session.get(ContactPointRow, ("customer", served.customer_id))
        assert row is not None and row.webhook_secret == rotated
    entries = served.audit("contact.set")
    assert len(entries) == 3
    assert all(secret not in repr((e.before, e.after)) and rotated not in repr((e.before, e.after))
               for e in entries)
    email = planner.put(path, json={"channel": "email", "email": "ops@initech.example"}).json()
    assert (email["channel"], email["email"], email["webhook_url"], email["webhook_secret"]) == (
        "email", "ops@initech.example", None, None)
    assert planner.put(f"/customers/{served.other_customer_id}/contact",
                       json={"channel": "email", "email": "ops@globex.example"}).status_code == 404


def test_operators_and_planners_see_the_outbox_and_retry_what_was_not_sent(served: Served) -> None:
    unaddressed = served.queue()
    served.queue(tenant=OTHER, order_id=2)  # another tenant's: never listed here
    planner, operator = served.clients(Role.PLANNER), served.clients(Role.OPERATOR)
    listed = operator.get("/notifications", params={"status": "no_contact"})
    assert listed.status_code == 200, listed.text
    [item] = listed.json()
    assert (item["id"], item["kind"], item["recipient_kind"], item["status"], item["channel"]) == (
        unaddressed, "assignment", "technician", "no_contact", None)
    assert planner.get("/notifications", params={"status": "pending"}).json() == []
    assert planner.get("/notifications", params={"status": "lost"}).status_code == 422
    for role in (Role.TECHNICIAN, Role.CUSTOMER, Role.VIEWER):
        assert served.clients(role).get("/notifications").status_code == 403
        assert served.clients(role).post(f"/notifications/{unaddressed}/retry").status_code == 403
    still = planner.post(f"/notifications/{unaddressed}/retry")
    assert (still.status_code, still.json()["status"]) == (200, "no_contact")
    planner.put(f"/technicians/{served.technician_id}/contact", json={"email": "tess@field.example"})
    addressed = operator.post(f"/notifications/{unaddressed}/retry").json()
    assert (addressed["status"], addressed["channel"], addressed["address"]) == ("pending", "email",
                                                                                 "tess@field.example")
    assert [e.actor for e in served.audit("notification.retry")] == ["api_key:planner-acme", "api_key:operator-acme"]
    with served.database.session() as session:
        row = session.get(NotificationRow, unaddressed)
        assert row is not None
        row.status, row.sent_at = "sent", NOW
    refused = planner.post(f"/notifications/{unaddressed}/retry")
    assert refused.status_code == 409 and "not sent twice" in refused.json()["detail"]
    with served.database.session() as session:
        theirs = session.scalar(sa.select(NotificationRow.id).where(NotificationRow.tenant == OTHER))
    assert planner.post(f"/notifications/{theirs}/retry").status_code == 404


def test_the_cloud_service_sends_what_a_decision_queued(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    with smtp_sink() as smtp:
        settings = service_settings(mosquitto.url, tmp_path / "cloud", smtp_host="127.0.0.1", smtp_port=smtp.port,
                                    smtp_from="PaaS <maintenance@paas.example>", notify_interval_s=0.05,
                                    public_api_url="https://paas.example")
        with CloudService(settings) as service:
            database = service_database(service)
            with database.session() as session:
                customer = create_customer(session, TENANT, "Initech", NOW)
                session.flush()
                session.add(ContactPointRow(recipient_kind="customer", recipient_id=customer.id, tenant=TENANT,
                                            channel="email", email="ops@initech.example", updated_at=NOW))
                enqueue_visit_window(session, tenant=TENANT, customer_id=customer.id, order_id=1, device_id="p-1",
                                     window_start=NOW + 3600, window_end=NOW + 7200, now=service.clock.time())
            wait_until(lambda: len(smtp.messages) == 1, 15.0, "the visit-window e-mail")
        [mail] = smtp.messages
        assert mail["To"] == "ops@initech.example"
        assert "Hello Initech," in mail.get_content()
