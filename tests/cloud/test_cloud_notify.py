"""The notification outbox against real receivers: an SMTP server and a webhook receiver, on SQLite and PostgreSQL.

What is checked: a queued notification arrives once, with what its recipient needs; it is
queued in the caller's transaction and only once per decision; a server down for a while
only delays it; a permanent refusal or too many attempts leave it `failed`, and a retry
sends it; a recipient without a contact point is visibly not told; two senders on one
PostgreSQL database never send the same row.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from notifytest_support import SmtpSink, server_tls, smtp_sink, webhook_receiver

from cloud.auth.accounts import create_customer, create_technician
from cloud.errors import ConflictError
from cloud.notify.contacts import CustomerContact, set_customer_contact, set_technician_email
from cloud.notify.email import EmailNotifier, SmtpConfig
from cloud.notify.events import enqueue_assignment, enqueue_visit_window
from cloud.notify.notifier import Notifier
from cloud.notify.outbox import CLAIM_S, OutboxSender, RetryPolicy
from cloud.notify.review import retry_notification
from cloud.notify.texts import TextContext
from cloud.notify.webhook import WebhookNotifier
from cloud.security.layout import SecurityLayout
from cloud.security.pki import ensure_pki
from cloud.settings import SmtpSecurity
from cloud.store.database import Database
from cloud.store.notify_tables import Channel, NotificationRow, NotificationStatus
from cloud.store.schema import ensure_schema
from cloud.store.scope import Scope
from contract.clock import ManualClock, SystemClock

TENANT = "acme"
T0 = 1_800_000_000.0
WINDOW = (T0 + 86_400.0, T0 + 86_400.0 + 7200.0)  # Sat 16 Jan 2027, 08:00-10:00 UTC
TEXTS = TextContext("https://paas.example", "support@acme.example or +49 30 1234")
POLICY = RetryPolicy(first_s=30.0, max_s=600.0, max_attempts=4)


@dataclass
class Outbox:
    database: Database
    clock: ManualClock
    technician_id: int
    customer_id: int

    def sender(self, smtp: SmtpSink | None = None, policy: RetryPolicy = POLICY,
               database: Database | None = None) -> OutboxSender:
        port = smtp.port if smtp is not None else 9  # nothing listens on the discard port
        notifiers: dict[Channel, Notifier] = {
            Channel.EMAIL: EmailNotifier(SmtpConfig("127.0.0.1", port, "PaaS <maintenance@paas.example>",
                                                    timeout_s=5.0), self.clock),
            Channel.WEBHOOK: WebhookNotifier(self.clock, timeout_s=5.0, private_ok=True),  # the receiver is local
        }
        return OutboxSender(database or self.database, self.clock, notifiers, TEXTS, policy, random.Random(7))

    def assign(self, order_id: int = 1, technician_id: int | None = None, window: tuple[float, float] = WINDOW) -> int:
        with self.database.session() as session:
            ids = enqueue_assignment(session, tenant=TENANT, technician_id=technician_id or self.technician_id,
                                     order_id=order_id, device_id="p-7", window_start=window[0],
                                     window_end=window[1], site="Werk Süd, hall 3", now=self.clock.time(),
                                     reason="mechanical skill, 12 km away, 30 h before the deadline")
        assert len(ids) == 1
        return ids[0]

    def visit(self, order_id: int = 1) -> int:
        with self.database.session() as session:
            [notification_id] = enqueue_visit_window(
                session, tenant=TENANT, customer_id=self.customer_id, order_id=order_id, device_id="p-7",
                window_start=WINDOW[0], window_end=WINDOW[1], now=self.clock.time())
        return notification_id

    def row(self, notification_id: int) -> NotificationRow:
        with self.database.session() as session:
            row = session.get(NotificationRow, notification_id)
            assert row is not None
            return row

    def rows(self) -> list[NotificationRow]:
        with self.database.session() as session:
            return list(session.scalars(sa.select(NotificationRow).order_by(NotificationRow.id)))

    def technician_email(self, address: str = "tess@field.example") -> None:
        with self.database.session() as session:
            set_technician_email(session, Scope(TENANT), self.technician_id, address, self.clock.time())

    def customer_contact(self, contact: CustomerContact) -> str | None:
        with self.database.session() as session:
            _row, secret, _change = set_customer_contact(session, Scope(TENANT), self.customer_id, contact,
                                                         self.clock.time())
        return secret


@pytest.fixture
def outbox(sql_url: str) -> Iterator[Outbox]:
    database = Database(sql_url)
    try:
        ensure_schema(database)
        with database.session() as session:
            technician = create_technician(session, TENANT, "Tess Field", T0)
            customer = create_customer(session, TENANT, "Initech", T0)
            session.flush()
            ids = technician.id, customer.id
        yield Outbox(database, ManualClock(T0), *ids)
    finally:
        database.close()


def test_an_assignment_arrives_by_email_once_with_what_the_technician_needs(outbox: Outbox) -> None:
    outbox.technician_email()
    notification_id = outbox.assign()
    with smtp_sink() as smtp:
        assert outbox.sender(smtp).send_due() == 1
        assert outbox.sender(smtp).send_due() == 0  # sent is sent
    [mail] = smtp.messages
    row = outbox.row(notification_id)
    assert (row.status, row.sent_at, row.attempts) == ("sent", T0, 1)
    assert smtp.envelopes == [("maintenance@paas.example", ["tess@field.example"])]
    assert mail["To"] == "tess@field.example"
    assert mail["Message-ID"] == f"<{row.delivery_id}@paas.example>"
    assert mail["X-Paas-Delivery-Id"] == row.delivery_id
    assert mail["Subject"] == "New task: p-7 at Werk Süd, hall 3, Sat 16 Jan 2027, 08:00-10:00 UTC"
    text = mail.get_payload(decode=True).decode("utf-8")
    assert "Hello Tess Field," in text
    assert "Werk Süd, hall 3" in text
    assert "mechanical skill, 12 km away" in text
    assert "https://paas.example/api/v1/me/tasks" in text


def test_a_notification_is_queued_in_the_callers_transaction_and_once_per_decision(outbox: Outbox) -> None:
    outbox.technician_email()
    with pytest.raises(RuntimeError), outbox.database.session() as session:
        enqueue_assignment(session, tenant=TENANT, technician_id=outbox.technician_id, order_id=9, device_id="p-7",
                           window_start=WINDOW[0], window_end=WINDOW[1], site=None, now=T0)
        raise RuntimeError("the assignment is rolled back")
    assert outbox.rows() == []
    first, again = outbox.assign(order_id=9), outbox.assign(order_id=9)
    moved = outbox.assign(order_id=9, window=(WINDOW[0] + 3600, WINDOW[1] + 3600))  # a new window: a new message
    assert first == again != moved
    assert len(outbox.rows()) == 2
    with smtp_sink() as smtp:
        assert outbox.sender(smtp).send_due() == 2
        outbox.assign(order_id=9)  # the same decision once more, after it was sent
        assert outbox.sender(smtp).send_due() == 0
    assert len(smtp.messages) == 2


def test_a_recipient_without_a_contact_point_is_visibly_not_told_until_one_is_set(outbox: Outbox) -> None:
    notification_id = outbox.assign()
    row = outbox.row(notification_id)
    assert (row.status, row.channel, row.address) == ("no_contact", None, None)
    with smtp_sink() as smtp:
        assert outbox.sender(smtp).send_due() == 0
        outbox.technician_email("tess@field.example")
        with outbox.database.session() as session:
            retried, change = retry_notification(session, Scope(TENANT), notification_id, outbox.clock.time())
            assert (retried.status, retried.address) == ("pending", "tess@field.example")
        assert (change.before or {})["status"] == "no_contact"
        assert outbox.sender(smtp).send_due() == 1
    assert [m["To"] for m in smtp.messages] == ["tess@field.example"]


def test_a_mail_server_down_for_a_while_delays_the_message_and_it_arrives_exactly_once(outbox: Outbox) -> None:
    outbox.technician_email()
    notification_id = outbox.assign()
    with smtp_sink(started=False) as smtp:
        sender = outbox.sender(smtp)
        waits = []
        for attempt in (1, 2, 3):
            assert sender.send_due() == 0
            row = outbox.row(notification_id)
            assert (row.status, row.attempts) == ("pending", attempt)
            assert "ConnectionRefusedError" in (row.last_error or "")
            wait = row.next_attempt_at - outbox.clock.time()
            assert 0.0 <= wait <= POLICY.first_s * 2 ** (attempt - 1)  # full jitter under the doubling ceiling
            waits.append(wait)
            if wait > 0.5:
                outbox.clock.advance(wait / 2)
                assert sender.send_due() == 0  # not due yet: no attempt
                assert outbox.row(notification_id).attempts == attempt
            outbox.clock.advance(wait)
        assert len(set(waits)) == 3  # jittered, not a fixed schedule
        smtp.start()
        assert sender.send_due() == 1
        for _ in range(3):
            outbox.clock.advance(CLAIM_S * 2)
            assert sender.send_due() == 0
    assert len(smtp.messages) == 1
    row = outbox.row(notification_id)
    assert (row.status, row.attempts, row.sent_at) == ("sent", 4, outbox.clock.time() - 3 * CLAIM_S * 2)


def test_after_the_last_attempt_it_is_failed_and_kept_and_a_retry_sends_it(outbox: Outbox) -> None:
    outbox.technician_email()
    notification_id = outbox.assign()
    with smtp_sink(started=False) as smtp:
        sender = outbox.sender(smtp)
        for _ in range(POLICY.max_attempts):
            sender.send_due()
            outbox.clock.advance(POLICY.max_s)
        row = outbox.row(notification_id)
        assert (row.status, row.attempts) == ("failed", POLICY.max_attempts)
        assert row.last_error
        smtp.start()
        outbox.clock.advance(POLICY.max_s)
        assert sender.send_due() == 0  # failed stays failed until someone retries it
        with outbox.database.session() as session:
            retry_notification(session, Scope(TENANT), notification_id, outbox.clock.time())
        assert sender.send_due() == 1
        with outbox.database.session() as session, pytest.raises(ConflictError, match="not sent twice"):
            retry_notification(session, Scope(TENANT), notification_id, outbox.clock.time())
        with outbox.database.session() as session, pytest.raises(Exception, match="does not exist"):
            retry_notification(session, Scope("globex"), notification_id, outbox.clock.time())
    assert len(smtp.messages) == 1


def test_a_customer_webhook_is_signed_with_hmac_and_retried_with_the_same_delivery_id(outbox: Outbox) -> None:
    with webhook_receiver() as receiver:
        secret = outbox.customer_contact(CustomerContact(Channel.WEBHOOK, webhook_url=receiver.url))
        assert secret and secret.startswith("whsec_")
        notification_id = outbox.visit()
        receiver.status = 503
        sender = outbox.sender()
        assert sender.send_due() == 0
        assert outbox.row(notification_id).last_error == f"webhook http://127.0.0.1:{receiver.port} answered 503"
        outbox.clock.advance(POLICY.first_s)
        receiver.status = 204
        assert sender.send_due() == 1
    row = outbox.row(notification_id)
    assert row.status == "sent"
    first, second = receiver.received
    assert first.headers["x-paas-delivery-id"] == second.headers["x-paas-delivery-id"] == row.delivery_id
    assert second.path == "/hooks/paas?token=receiver-own"
    timestamp = second.headers["x-paas-timestamp"]
    assert timestamp == str(int(outbox.clock.time()))
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + second.body, hashlib.sha256).hexdigest()
    assert second.headers["x-paas-signature"] == f"sha256={expected}"
    forged = hmac.new(b"another secret", f"{timestamp}.".encode() + second.body, hashlib.sha256).hexdigest()
    assert second.headers["x-paas-signature"] != f"sha256={forged}"
    body = json.loads(second.body)
    assert body == {"event": "visit_window", "delivery_id": row.delivery_id, "order_id": 1, "device_id": "p-7",
                    "window_start": "2027-01-16T08:00:00Z", "window_end": "2027-01-16T10:00:00Z",
                    "support_contact": TEXTS.support_contact}


def test_a_webhook_refusing_for_good_is_failed_at_once(outbox: Outbox) -> None:
    with webhook_receiver() as receiver:
        outbox.customer_contact(CustomerContact(Channel.WEBHOOK, webhook_url=receiver.url))
        notification_id = outbox.visit()
        receiver.status = 410
        assert outbox.sender().send_due() == 0
    row = outbox.row(notification_id)
    assert (row.status, row.attempts) == ("failed", 1)
    assert "410" in (row.last_error or "")


def test_a_customer_preferring_email_gets_the_visit_window_with_how_to_reach_a_person(outbox: Outbox) -> None:
    assert outbox.customer_contact(CustomerContact(Channel.EMAIL, email="ops@initech.example")) is None
    outbox.visit()
    with smtp_sink() as smtp:
        assert outbox.sender(smtp).send_due() == 1
    [mail] = smtp.messages
    assert mail["Subject"] == "Maintenance visit for p-7: Sat 16 Jan 2027, 08:00-10:00 UTC"
    text = mail.get_payload(decode=True).decode("utf-8")
    assert "Hello Initech," in text
    assert "support@acme.example or +49 30 1234" in text


def test_a_crash_between_acceptance_and_record_resends_with_the_same_message_id(outbox: Outbox) -> None:
    outbox.technician_email()
    outbox.assign()
    with smtp_sink() as smtp:
        crashed = outbox.sender(smtp)
        [claimed] = crashed._claim(10)  # the first half of a pass: claimed and sent, then the process dies
        assert claimed.message is not None
        EmailNotifier(SmtpConfig("127.0.0.1", smtp.port, "PaaS <maintenance@paas.example>"),
                      outbox.clock).send(claimed.message)
        assert outbox.sender(smtp).send_due() == 0  # the claim holds: another sender does not take it
        outbox.clock.advance(CLAIM_S)
        assert outbox.sender(smtp).send_due() == 1  # the claim expired: sent again...
    assert len(smtp.messages) == 2
    assert smtp.messages[0]["Message-ID"] == smtp.messages[1]["Message-ID"]  # ...as the same message


def test_an_smtp_login_reads_its_password_from_a_file(outbox: Outbox, tmp_path: Path) -> None:
    password = tmp_path / "smtp-password"
    password.write_text("s3cret-smtp\n")
    with smtp_sink(login=("paas", "s3cret-smtp")) as smtp:
        config = SmtpConfig("127.0.0.1", smtp.port, "maintenance@paas.example", SmtpSecurity.NONE, "paas", password)
        outbox.technician_email()
        outbox.assign()
        sender = OutboxSender(outbox.database, outbox.clock, {Channel.EMAIL: EmailNotifier(config, outbox.clock)},
                              TEXTS, POLICY, random.Random(1))
        assert sender.send_due() == 1
        password.write_text("wrong")
        refused = outbox.assign(order_id=2)
        assert sender.send_due() == 0
        error = outbox.row(refused).last_error or ""
        assert "535" in error and "wrong" not in error
    assert smtp.logins == ["paas"]
    assert len(smtp.messages) == 1


@pytest.mark.parametrize("sql_url", ["postgresql"], indirect=True)
def test_two_senders_racing_on_postgresql_never_send_the_same_notification(outbox: Outbox) -> None:
    outbox.technician_email()
    for order_id in range(1, 41):
        outbox.assign(order_id=order_id)
    second = Database(outbox.database.engine.url.render_as_string(hide_password=False))
    accepted: list[int] = []
    try:
        with smtp_sink() as smtp:
            senders = [outbox.sender(smtp), outbox.sender(smtp, database=second)]
            start = threading.Barrier(2)

            def drain(sender: OutboxSender) -> None:
                start.wait()
                while sent := sender.send_due(limit=3):
                    accepted.append(sent)

            threads = [threading.Thread(target=drain, args=(s,)) for s in senders]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
    finally:
        second.close()
    assert sum(accepted) == 40
    ids = [m["Message-ID"] for m in smtp.messages]
    assert len(ids) == 40 == len(set(ids))
    assert {row.status for row in outbox.rows()} == {NotificationStatus.SENT.value}


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("security", [SmtpSecurity.STARTTLS, SmtpSecurity.TLS])
def test_over_tls_the_server_certificate_is_checked_before_the_password_is_sent(
        outbox: Outbox, tmp_path: Path, security: SmtpSecurity) -> None:
    layout = SecurityLayout(tmp_path / "pki")
    ensure_pki(layout, SystemClock())  # a CA and a certificate for localhost and 127.0.0.1
    password = tmp_path / "smtp-password"
    password.write_text("s3cret-smtp")
    outbox.technician_email()
    outbox.assign()
    tls = server_tls(layout.server_cert, layout.server_key)
    with smtp_sink(login=("paas", "s3cret-smtp"), tls=tls, implicit_tls=security is SmtpSecurity.TLS) as smtp:
        def sender(security: SmtpSecurity, ca_file: Path | None) -> OutboxSender:
            config = SmtpConfig("localhost", smtp.port, "maintenance@paas.example", security, "paas", password,
                                ca_file, timeout_s=5.0)
            return OutboxSender(outbox.database, outbox.clock, {Channel.EMAIL: EmailNotifier(config, outbox.clock)},
                                TEXTS, POLICY, random.Random(3))

        assert sender(security, None).send_due() == 0  # a certificate the system does not trust: no login
        assert "CERTIFICATE_VERIFY_FAILED" in (outbox.rows()[0].last_error or "")
        if security is SmtpSecurity.STARTTLS:
            outbox.clock.advance(POLICY.max_s)
            assert sender(SmtpSecurity.NONE, None).send_due() == 0  # no plain-text login where TLS is required
        outbox.clock.advance(POLICY.max_s)
        assert sender(security, layout.ca_cert).send_due() == 1, outbox.rows()[0].last_error
    assert smtp.logins == ["paas"]
    assert len(smtp.messages) == 1


@pytest.mark.parametrize("sql_url", ["sqlite"], indirect=True)
def test_outside_local_a_webhook_to_the_services_own_network_or_over_plain_http_is_refused(outbox: Outbox) -> None:
    with webhook_receiver() as receiver:
        outbox.customer_contact(CustomerContact(Channel.WEBHOOK, webhook_url=receiver.url))
        plain = outbox.visit(order_id=1)
        outbox.customer_contact(CustomerContact(Channel.WEBHOOK, webhook_url=f"https://127.0.0.1:{receiver.port}/"))
        loopback = outbox.visit(order_id=2)
        guarded = OutboxSender(outbox.database, outbox.clock,
                               {Channel.WEBHOOK: WebhookNotifier(outbox.clock, timeout_s=5.0, private_ok=False)},
                               TEXTS, POLICY, random.Random(5))
        assert guarded.send_due() == 0
    assert receiver.received == []
    assert (outbox.row(plain).status, outbox.row(loopback).status) == ("failed", "failed")
    assert "only https://" in (outbox.row(plain).last_error or "")
    assert "resolves to 127.0.0.1, not a public address" in (outbox.row(loopback).last_error or "")
