"""The offer rules as pure functions: facts made by hand in, candidates with values worked out by hand out."""

from __future__ import annotations

from decimal import Decimal

from cloud.consent.ledger import Purpose
from cloud.notify.texts import TextContext, render
from cloud.offers.rules import (
    CatalogueEntry,
    CustomerFacts,
    FaultFacts,
    Prices,
    UsageFacts,
    WearFacts,
    propose,
)
from cloud.store.notify_tables import NotificationKind
from cloud.store.offer_tables import CatalogueKind, OfferKind

D = Decimal
JAN_31 = 1_801_353_600.0  # 2027-01-31T00:00Z
CURRENT = Prices("EUR", D("2.50"), None, D("0.12"), D("100.00"))
HEAVY = CatalogueEntry(11, "Heavy user", CatalogueKind.PLAN, Prices("EUR", D("2.00"), None, D("0.10"), D("300.00")))
SMALL = CatalogueEntry(12, "Small", CatalogueKind.PLAN, Prices("EUR", D("3.00"), None, D("0.15"), D("20.00")))
DOLLARS = CatalogueEntry(13, "Cheap in USD", CatalogueKind.PLAN, Prices("USD", D("0.01"), None, None, D("0")))
CARE = CatalogueEntry(21, "Care+", CatalogueKind.EXTENDED_CARE, Prices("EUR", None, None, None, D(0)),
                      D("50.00"), D("200.00"), "average failure cost x failure rate avoided")
TRAINING = CatalogueEntry(22, "Operator course", CatalogueKind.OPERATOR_TRAINING, Prices("EUR", None, None, None, D(0)),
                          D("30.00"), D("80.00"), "fewer stoppages after training")
CATALOGUE = (HEAVY, SMALL, DOLLARS, CARE, TRAINING)
EVERYTHING = frozenset(Purpose)


def usage(hours: str, kwh: str) -> UsageFacts:
    return UsageFacts(7, "2027-01", CURRENT, {"operating_hours": D(hours), "energy_kwh": D(kwh)}, (101, 102))


def test_heavy_use_gets_the_plan_cheaper_at_that_use_with_the_saving_worked_out_by_hand() -> None:
    # Now: 200 h x 2.50 = 500.00 + 1000 kWh x 0.12 = 120.00 -> 620.00 (above the minimum of 100).
    # Heavy user: 400.00 + 100.00 = 500.00 (minimum 300); Small: 600.00 + 150.00 = 750.00; USD ignored.
    [offer] = propose(CustomerFacts(1, "EUR", CATALOGUE, usage=(usage("200", "1000"),)), EVERYTHING)
    assert (offer.kind, offer.expected_value, offer.currency, offer.plan_id) == (
        OfferKind.CHEAPER_PLAN, D("120.00"), "EUR", 11)
    assert "620.00 EUR" in offer.explanation and "500.00 EUR" in offer.explanation
    assert "120.00 EUR less per month" in offer.explanation
    assert offer.data_used["report_ids"] == [101, 102]
    assert offer.data_used["use"] == {"energy_kwh": "1000", "operating_hours": "200"}
    assert set(offer.purposes) == {Purpose.PERSONALISED_OFFERS, Purpose.USAGE_ANALYTICS}


def test_under_use_gets_a_smaller_plan() -> None:
    # Now: 10 h = 25.00 + 20 kWh = 2.40 -> 27.40, below the minimum: pays 100.00.
    # Small: 30.00 + 3.00 = 33.00 (minimum 20) -> saves 67.00; Heavy: minimum 300.
    [offer] = propose(CustomerFacts(1, "EUR", CATALOGUE, usage=(usage("10", "20"),)), EVERYTHING)
    assert (offer.kind, offer.expected_value, offer.plan_id) == (OfferKind.SMALLER_PLAN, D("67.00"), 12)
    assert "below your plan's monthly minimum of 100.00 EUR" in offer.explanation


def test_no_plan_offer_when_the_saving_is_under_five_percent_or_nothing_is_cheaper() -> None:
    # Now: 110 h -> 275.00 + 0 -> 275.00. Heavy: 220.00 -> minimum 300.00; Small: 330.00. Nothing cheaper.
    assert propose(CustomerFacts(1, "EUR", CATALOGUE, usage=(usage("110", "0"),)), EVERYTHING) == []
    # Now 41 h -> 102.50; Small 123.00; Heavy 300.00: nothing.
    assert propose(CustomerFacts(1, "EUR", CATALOGUE, usage=(usage("41", "0"),)), EVERYTHING) == []


def test_wear_offers_extended_care_and_many_anomalies_offer_training_each_worth_saving_minus_fee() -> None:
    wear = WearFacts("p-1", JAN_31 - 30 * 86400, JAN_31, anomalies=6, rul_first=900.0, rul_last=420.0,
                     horizon_cycles=500.0, event_ids=(1, 2, 3))
    offers = {o.kind: o for o in propose(CustomerFacts(1, "EUR", CATALOGUE, wear=(wear,)), EVERYTHING)}
    assert set(offers) == {OfferKind.EXTENDED_CARE, OfferKind.OPERATOR_TRAINING}
    care, training = offers[OfferKind.EXTENDED_CARE], offers[OfferKind.OPERATOR_TRAINING]
    assert (care.expected_value, care.device_id, care.plan_id) == (D("150.00"), "p-1", 21)
    assert "fallen to 420 cycles" in care.explanation and "horizon of 500 cycles" in care.explanation
    assert (training.expected_value, training.plan_id) == (D("50.00"), 22)
    assert care.data_used["event_ids"] == [1, 2, 3]
    healthy = WearFacts("p-1", JAN_31 - 30 * 86400, JAN_31, 4, 900.0, 800.0, 500.0, ())
    assert propose(CustomerFacts(1, "EUR", CATALOGUE, wear=(healthy,)), EVERYTHING) == []


def test_recurring_operational_faults_get_free_advice_and_other_faults_do_not() -> None:
    faults = FaultFacts("p-1", JAN_31 - 90 * 86400, JAN_31, {5: "flow", 6: "discharge_pressure", 7: "cavitation",
                                                           8: "bearing_temp"})
    [offer] = propose(CustomerFacts(1, "EUR", (), faults=(faults,)), EVERYTHING)
    assert (offer.kind, offer.expected_value, offer.data_used["work_order_ids"]) == (
        OfferKind.OPERATION_ADVICE, D("0.00"), [5, 6, 7])
    mechanical = FaultFacts("p-1", JAN_31 - 90 * 86400, JAN_31, {5: "flow", 8: "bearing_temp", 9: "accel1_rms"})
    assert propose(CustomerFacts(1, "EUR", (), faults=(mechanical,)), EVERYTHING) == []


def test_a_rule_without_all_its_consents_proposes_nothing() -> None:
    wear = WearFacts("p-1", 0.0, JAN_31, 6, 900.0, 420.0, 500.0, ())
    facts = CustomerFacts(1, "EUR", CATALOGUE, usage=(usage("200", "1000"),), wear=(wear,))
    assert {o.kind for o in propose(facts, frozenset({Purpose.PERSONALISED_OFFERS, Purpose.MAINTENANCE}))} == {
        OfferKind.EXTENDED_CARE, OfferKind.OPERATOR_TRAINING}
    assert {o.kind for o in propose(facts, frozenset({Purpose.PERSONALISED_OFFERS, Purpose.USAGE_ANALYTICS}))} == {
        OfferKind.CHEAPER_PLAN}
    assert propose(facts, frozenset({Purpose.USAGE_ANALYTICS, Purpose.MAINTENANCE})) == []


def test_an_offer_message_says_what_why_its_worth_where_to_answer_and_how_to_reach_a_person() -> None:
    facts = {"offer_id": 42, "title": "Plan Heavy user would cost you less at your use",
             "explanation": "In 2027-01 your assets ran 200 hours.", "expected_value": "120.00", "currency": "EUR",
             "name": "Hydro Works"}
    message = render(NotificationKind.OFFER, facts, "d-1", TextContext("https://paas.example", "help@paas.example"))
    assert message.subject == "An offer for you: Plan Heavy user would cost you less at your use"
    assert "Hello Hydro Works" in message.text and "120.00 EUR per month" in message.text
    assert "https://paas.example/api/v1/offers/42" in message.text
    assert "https://paas.example/api/v1/help-requests" in message.text  # always a way to a person
    assert (message.payload["event"], message.payload["offer_id"], message.payload["expected_value"]) == (
        "offer", 42, "120.00")
