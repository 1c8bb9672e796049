"""Offers in the store, on SQLite and PostgreSQL: drafted from stored usage under consent, idempotently; approved
before anything is sent; stopped by a withdrawn consent; acceptance measured per type."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
import sqlalchemy as sa
from billingtest_support import DAY, FEB, JAN, contract, customer, usage
from cloudtest_support import TENANT

from cloud.consent.erasure import erase_customer
from cloud.consent.export import export_customer
from cloud.consent.ledger import Purpose, append, has_consent, history
from cloud.consent.recording import set_consent
from cloud.errors import NotFoundError, TransitionError
from cloud.offers import review
from cloud.offers.catalogue import PlanSpec, add_plan
from cloud.offers.delivery import deliver, deliver_approved
from cloud.offers.drafting import draft_offers
from cloud.offers.metrics import acceptance_rates
from cloud.store.account_tables import AuditRow
from cloud.store.database import Database
from cloud.store.notify_tables import NotificationRow, NotificationStatus
from cloud.store.offer_tables import CatalogueKind, OfferKind, OfferRow, OfferStatus
from cloud.store.schema import ensure_schema
from cloud.store.scope import Scope
from cloud.store.tables import AssetRow
from cloud.store.usage import insert_usage

NOW = FEB + 5 * DAY  # drafting looks at January 2027
D = Decimal
ALL_PURPOSES = (Purpose.PERSONALISED_OFFERS, Purpose.USAGE_ANALYTICS, Purpose.MAINTENANCE)


@pytest.fixture
def db(sql_url: str) -> Iterator[Database]:
    database = Database(sql_url)
    try:
        ensure_schema(database)
        yield database
    finally:
        database.close()


def heavy_customer(db: Database, name: str = "Hydro Works", device: str = "pump-1", hours: float = 200) -> int:
    """A customer on the test terms (2.50/h, 0.12/kWh, minimum 100) who ran `hours` h and 1000 kWh in January."""
    customer_id = customer(db, name)
    contract(db, customer_id, (device,))
    with db.session() as session:
        session.add(AssetRow(device_id=device, tenant=TENANT, first_seen=JAN - DAY, last_seen=NOW))
        session.flush()
        insert_usage(session, usage(device, 1, JAN - DAY, JAN, operating_hours=0, energy_kwh=0), JAN)
        insert_usage(session, usage(device, 2, JAN, JAN + 30 * DAY, operating_hours=hours, energy_kwh=1000),
                     JAN + 30 * DAY)
        session.commit()
    return customer_id


def catalogue(db: Database) -> None:
    with db.session() as session:
        add_plan(session, TENANT, PlanSpec("Heavy user", CatalogueKind.PLAN, "EUR", D("2.00"), None, D("0.10"),
                                           D("300.00")), NOW)
        add_plan(session, TENANT, PlanSpec("Small", CatalogueKind.PLAN, "EUR", D("3.00"), None, D("0.15"),
                                           D("20.00")), NOW)
        session.commit()


def consent(db: Database, customer_id: int, *purposes: Purpose, granted: bool = True) -> list[int]:
    """Record the answers; the offers a withdrawal stopped."""
    stopped = []
    with db.session() as session:
        for purpose in purposes:
            _row, changes = set_consent(session, Scope(TENANT), customer_id, purpose, granted, "web form",
                                        f"I agree to {purpose.value}", "user:pia", NOW)
            stopped += [int(c.object_id) for c in changes if c.object_type == "offer"]
        session.commit()
    return stopped


def draft(db: Database) -> list[OfferRow]:
    with db.session() as session:
        rows = draft_offers(session, TENANT, NOW)
        session.commit()
        return rows


def offer(db: Database, offer_id: int) -> OfferRow:
    with db.session() as session:
        row = session.get(OfferRow, offer_id)
        assert row is not None
        return row


def offer_messages(db: Database) -> list[NotificationRow]:
    with db.session() as session:
        return list(session.scalars(sa.select(NotificationRow).where(NotificationRow.kind == "offer")).all())


def test_no_offer_is_drafted_without_consent_and_with_it_one_worth_the_hand_computed_saving(db: Database) -> None:
    hydro = heavy_customer(db)
    catalogue(db)
    assert draft(db) == []  # never asked: no consent
    consent(db, hydro, Purpose.USAGE_ANALYTICS)
    assert draft(db) == []  # usage analytics alone does not allow offers
    consent(db, hydro, Purpose.PERSONALISED_OFFERS)
    [row] = draft(db)
    # January: 200 h x 2.50 + 1000 kWh x 0.12 = 620.00; Heavy user: 400.00 + 100.00 = 500.00 -> 120.00 a month.
    assert (row.kind, row.status, row.expected_value, row.currency) == (
        OfferKind.CHEAPER_PLAN.value, OfferStatus.DRAFT.value, D("120.00"), "EUR")
    assert row.data_used["period"] == "2027-01" and len(row.data_used["report_ids"]) == 2
    assert draft(db) == []  # idempotent: the same proposal is not drafted twice
    with db.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(OfferRow)) == 1
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditRow).where(
            AuditRow.action == "offer.draft")) == 1


def test_without_usage_consent_the_usage_is_not_used(db: Database) -> None:
    hydro = heavy_customer(db)
    catalogue(db)
    consent(db, hydro, Purpose.PERSONALISED_OFFERS, Purpose.MAINTENANCE)
    assert draft(db) == []


def test_a_draft_is_sent_only_after_approval_and_then_on_the_preferred_channel(db: Database) -> None:
    hydro = heavy_customer(db)
    catalogue(db)
    consent(db, hydro, *ALL_PURPOSES)
    [row] = draft(db)
    with db.session() as session:
        assert deliver_approved(session, TENANT, NOW) == []  # the job sends nothing unapproved
        with pytest.raises(TransitionError):
            deliver(session, session.get_one(OfferRow, row.id), NOW)
        with pytest.raises(TransitionError):  # a customer cannot answer a draft (and does not even see it)
            review.respond(session, Scope(TENANT), row.id, True, None, NOW)
        with pytest.raises(NotFoundError):
            review.get_offer(session, Scope(TENANT, hydro), row.id)
    assert offer_messages(db) == []
    with db.session() as session:
        approved, _change = review.approve(session, Scope(TENANT), row.id, "user:pia", None, NOW)
        deliver(session, approved, NOW)
        session.commit()
    [message] = offer_messages(db)
    assert (message.recipient_id, message.status, message.facts["offer_id"]) == (
        hydro, NotificationStatus.NO_CONTACT.value, row.id)  # no contact point yet: waits, visible in the outbox
    assert offer(db, row.id).status == OfferStatus.SENT.value
    with db.session() as session:
        assert review.get_offer(session, Scope(TENANT, hydro), row.id).id == row.id
        review.respond(session, Scope(TENANT, hydro), row.id, True, "yes please", NOW)
        session.commit()
    with db.session() as session:
        rates = {r.kind: r for r in acceptance_rates(session, TENANT)}
    assert (rates[OfferKind.CHEAPER_PLAN].offered, rates[OfferKind.CHEAPER_PLAN].rate) == (1, 1.0)
    assert (rates[OfferKind.SMALLER_PLAN].offered, rates[OfferKind.SMALLER_PLAN].rate) == (0, None)


def test_withdrawal_stops_drafts_approved_and_waiting_offers_at_once(db: Database) -> None:
    a, b, c = heavy_customer(db, "A", "pump-a"), heavy_customer(db, "B", "pump-b"), heavy_customer(db, "C", "pump-c")
    catalogue(db)
    for who in (a, b, c):
        consent(db, who, *ALL_PURPOSES)
    drafts = {row.customer_id: row.id for row in draft(db)}
    with db.session() as session:
        review.approve(session, Scope(TENANT), drafts[b], "user:pia", None, NOW)  # approved, not yet delivered
        approved, _ = review.approve(session, Scope(TENANT), drafts[c], "user:pia", None, NOW)
        deliver(session, approved, NOW)  # queued, the message still waiting
        session.commit()
    stopped = [*consent(db, a, Purpose.PERSONALISED_OFFERS, granted=False),
               *consent(db, b, Purpose.USAGE_ANALYTICS, granted=False),
               *consent(db, c, Purpose.PERSONALISED_OFFERS, granted=False)]
    assert sorted(stopped) == sorted(drafts.values())
    assert {offer(db, i).status for i in drafts.values()} == {OfferStatus.WITHDRAWN.value}
    assert offer_messages(db) == []  # c's waiting message was recalled
    with db.session() as session:
        assert deliver_approved(session, TENANT, NOW) == []
        assert not has_consent(session, a, Purpose.PERSONALISED_OFFERS)
        assert [e.granted for e in history(session, a) if e.purpose == "personalised_offers"] == [True, False]
    assert draft(db) == []  # nothing drafted again for the withdrawn customers


def test_consent_withdrawn_between_approval_and_delivery_withdraws_instead_of_sending(db: Database) -> None:
    hydro = heavy_customer(db)
    catalogue(db)
    consent(db, hydro, *ALL_PURPOSES)
    [row] = draft(db)
    with db.session() as session:
        approved, _ = review.approve(session, Scope(TENANT), row.id, "user:pia", None, NOW)
        # The ledger alone, as another transaction might have left it: no offer was stopped with it.
        append(session, TENANT, hydro, Purpose.USAGE_ANALYTICS, False, "phone", "stop", "user:pia", NOW)
        change = deliver(session, approved, NOW)
        session.commit()
    assert change.action == "offer.withdraw"
    assert offer(db, row.id).status == OfferStatus.WITHDRAWN.value and offer_messages(db) == []


def test_a_rejected_offer_is_never_sent_and_a_decided_one_cannot_be_decided_again(db: Database) -> None:
    hydro = heavy_customer(db)
    catalogue(db)
    consent(db, hydro, *ALL_PURPOSES)
    [row] = draft(db)
    with db.session() as session:
        review.reject(session, Scope(TENANT), row.id, "user:pia", "customer just renegotiated", NOW)
        session.commit()
    with db.session() as session:
        for attempt in (lambda: review.approve(session, Scope(TENANT), row.id, "user:pia", None, NOW),
                        lambda: review.reject(session, Scope(TENANT), row.id, "user:pia", "again", NOW)):
            with pytest.raises(TransitionError):
                attempt()
        assert deliver_approved(session, TENANT, NOW) == []
        with pytest.raises(NotFoundError):
            review.get_offer(session, Scope("globex"), row.id)
    assert offer_messages(db) == [] and offer(db, row.id).reason == "customer just renegotiated"


def test_export_and_erasure_work_on_both_stores(db: Database) -> None:
    hydro = heavy_customer(db)
    catalogue(db)
    consent(db, hydro, *ALL_PURPOSES)
    [row] = draft(db)
    with db.session() as session:
        document = export_customer(session, Scope(TENANT), hydro, NOW)
    tables = document["tables"]
    assert [r["name"] for r in tables["customers"]] == ["Hydro Works"]
    assert [r["id"] for r in tables["offers"]] == [row.id] and len(tables["usage_reports"]) == 2
    assert len(tables["contract_versions"]) == 1 and tables["offers"][0]["expected_value"] == "120.00"
    with db.session() as session:
        report, changes = erase_customer(session, Scope(TENANT), hydro, "user:root", NOW)
        session.commit()
    assert report.anonymised == {"consents": 7, "offers": 1}  # 3 grants + 4 withdrawals; the draft withdrawn
    assert changes[-1].action == "customer.erase" and "statements" in report.kept
    with db.session() as session:
        after = export_customer(session, Scope(TENANT), hydro, NOW)["tables"]
    assert {r["text"] for r in after["consents"]} == {"[erased]"} and after["offers"][0]["status"] == "withdrawn"
    assert len(after["usage_reports"]) == 2 and after["customers"][0]["name"] == "Hydro Works"
