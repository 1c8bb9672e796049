"""Metering for billing: use per contract and period from the stored cumulative reports, and downtime for the SLA.

Reports go in through the ingest's handler (late, twice, out of order, missing, reset); every
expected number is worked out by hand in the test. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from billingtest_support import DAY, FEB, JAN, contract, customer, usage
from cloudtest_support import TENANT, Stores, raw

from cloud.billing.metering import MeterUse, billable_use, downtime, period_bounds
from cloud.billing.plans import contract_assets
from cloud.errors import InvalidContractError
from cloud.store.asset_state_log import log_state
from cloud.store.database import Database
from cloud.store.tables import AssetRow, FindingRow, WorkOrderRow, WorkOrderTransitionRow
from contract.wire import DeviceState, DeviceStatus

HOUR = 3600.0


@pytest.fixture
def db(stores: Stores) -> Iterator[Database]:
    yield stores.database


def hours(uses: tuple[MeterUse, ...], device: str) -> MeterUse:
    [use] = [u for u in uses if u.device_id == device and u.meter == "operating_hours"]
    return use


# One device's reports, by hand (hours are cumulative; each covers (period_start, period_end]):
#   r1 (Dec 22, Dec 27]  100  first report: its whole value, all in December
#   r2 (Dec 27, Jan 2]   112  +12 over 6 days: 1 day in January -> 2
#   r3 (Jan 2, Jan 11]   142  +30 -> 30
#   (a report for Jan 16 is missing: the next difference spans the gap)
#   r5 (Jan 11, Jan 21]  160  +18 -> 18
#   r6 (Jan 21, Jan 26]    5  new install "b", counter went down: a reset, 5 since it -> 5
#   r7 (Jan 26, Feb 3]    11  +6 over 8 days: 6 days in January -> 4.5
# January: 2 + 30 + 18 + 5 + 4.5 = 59.5; December 100 + 10 = 110; February 1.5; all together 171.
def reports(device: str) -> list[tuple[str, bytes]]:
    r1 = usage(device, 1, JAN - 10 * DAY, JAN - 5 * DAY, operating_hours=100, energy_kwh=40)
    r2 = usage(device, 2, JAN - 5 * DAY, JAN + 1 * DAY, operating_hours=112, energy_kwh=46)
    r3 = usage(device, 3, JAN + 1 * DAY, JAN + 10 * DAY, operating_hours=142, energy_kwh=61)
    r5 = usage(device, 5, JAN + 10 * DAY, JAN + 20 * DAY, operating_hours=160, energy_kwh=70)
    r6 = usage(device, 1, JAN + 20 * DAY, JAN + 25 * DAY, install="b", operating_hours=5, energy_kwh=2)
    r7 = usage(device, 2, JAN + 25 * DAY, FEB + 2 * DAY, install="b", operating_hours=11, energy_kwh=5)
    return [raw(r) for r in (r1, r2, r3, r5, r6, r7)]


def test_a_month_of_late_duplicate_missing_and_reset_reports_bills_the_hand_computed_use(
    stores: Stores, db: Database
) -> None:
    on_time, scrambled = reports("pump-1"), reports("pump-2")
    stores.handler.apply(on_time)
    # pump-2: the same counters arriving backwards, r3 twice, and r5 again under another message id (a re-send).
    resent_r5 = raw(usage("pump-2", 5, JAN + 10 * DAY, JAN + 20 * DAY, operating_hours=160, energy_kwh=70))
    stores.handler.apply([*reversed(scrambled), scrambled[2], resent_r5])
    agreement = contract(db, customer(db), ("pump-1", "pump-2"))
    start, end = period_bounds("2027-01")
    with db.session() as session:
        january = billable_use(session, agreement, start, end)
        december = billable_use(session, agreement, *period_bounds("2026-12"))
        february = billable_use(session, agreement, *period_bounds("2027-02"))
        again = billable_use(session, agreement, start, end)
    for device in ("pump-1", "pump-2"):
        use = hours(january.uses, device)
        assert use.quantity == Decimal("59.5")
        assert use.unit == "h"
        assert len(use.report_ids) == 6  # r2 .. r7, r1 as the base of r2's difference
        assert use.resets == ("operating_hours counter reset at 2027-01-26T00:00Z (new install): 160.0 -> 5.0",)
        assert hours(december.uses, device).quantity == Decimal(110)
        assert hours(february.uses, device).quantity == Decimal("1.5")
    kwh = next(u for u in january.uses if u.meter == "energy_kwh" and u.device_id == "pump-1")
    # 46-40 over 6 days -> 1; +15; +9; reset 2; +3 over 8 days -> 2.25: 29.25 kWh.
    assert kwh.quantity == Decimal("29.25") and kwh.unit == "kWh"
    assert again == january  # reproducible from storage alone
    assert (january.contract_id, january.start, january.end) == (agreement, JAN, FEB)


def test_use_without_a_report_after_it_is_not_guessed_and_a_late_report_completes_the_month(
    stores: Stores, db: Database
) -> None:
    first, second = (usage("pump-1", 1, JAN, JAN + 10 * DAY, operating_hours=10),
                     usage("pump-1", 2, JAN + 10 * DAY, JAN + 30 * DAY, operating_hours=50))
    agreement = contract(db, customer(db), ("pump-1",))
    stores.handler.apply([raw(first)])
    start, end = period_bounds("2027-01")
    with db.session() as session:
        assert hours(billable_use(session, agreement, start, end).uses, "pump-1").quantity == 10
    stores.handler.apply([raw(second)])  # late
    with db.session() as session:
        assert hours(billable_use(session, agreement, start, end).uses, "pump-1").quantity == 50


def test_an_asset_moved_between_contracts_bills_to_each_for_its_own_time(stores: Stores, db: Database) -> None:
    # (Dec 31, Jan 1] 10 (before the month); (Jan 1, Jan 11] +10; (Jan 11, Jan 21] +20, moved at Jan 16 (half).
    stores.handler.apply([raw(usage("pump-1", 1, JAN - DAY, JAN, operating_hours=10)),
                          raw(usage("pump-1", 2, JAN, JAN + 10 * DAY, operating_hours=20)),
                          raw(usage("pump-1", 3, JAN + 10 * DAY, JAN + 20 * DAY, operating_hours=40))])
    owner = customer(db)
    first = contract(db, owner, ("pump-1",))
    second = contract(db, owner, ("pump-1",), from_ts=JAN + 15 * DAY)
    with db.session() as session:
        assert contract_assets(session, first, JAN, FEB) == ["pump-1"]
        assert contract_assets(session, second, JAN, FEB) == ["pump-1"]
        assert contract_assets(session, second, JAN, JAN + 15 * DAY) == []
        assert hours(billable_use(session, first, JAN, FEB).uses, "pump-1").quantity == 20
        assert hours(billable_use(session, second, JAN, FEB).uses, "pump-1").quantity == 10


def test_a_period_is_a_utc_calendar_month() -> None:
    assert period_bounds("2027-01") == (JAN, FEB)
    assert period_bounds("2028-02")[1] - period_bounds("2028-02")[0] == 29 * DAY  # a leap year
    assert period_bounds("2027-12")[1] == period_bounds("2028-01")[0]
    for wrong in ("2027-13", "2027-1", "27-01", "2027-01-01", ""):
        with pytest.raises(InvalidContractError):
            period_bounds(wrong)


def _order(db: Database, rule: str, moves: list[tuple[str, float]], finding: str | None) -> None:
    """A work order of pump-1 that went through `moves` (status, at), with the technician's finding."""
    with db.session() as session:
        order = WorkOrderRow(device_id="pump-1", tenant=TENANT, status=moves[-1][0], rule=rule, reason="test",
                             evidence={}, created_at=moves[0][1], updated_at=moves[-1][1])
        session.add(order)
        session.flush()
        previous = None
        for status, at in moves:
            session.add(WorkOrderTransitionRow(work_order_id=order.id, tenant=TENANT, from_status=previous,
                                               to_status=status, action="test", actor="user:t", at=at))
            previous = status
        if finding is not None:
            session.add(FindingRow(work_order_id=order.id, device_id="pump-1", model_id="m", model_version="1",
                                   finding=finding, technician="tech", recorded_at=moves[-1][1]))


def _state(db: Database, at: float, online: bool) -> None:
    with db.session() as session:
        log_state(session, DeviceState(TENANT, "pump-1", at, DeviceStatus.ONLINE if online else DeviceStatus.OFFLINE),
                  received_at=at)


def test_a_month_with_a_failure_splits_downtime_as_worked_out_by_hand(db: Database) -> None:
    with db.session() as session:
        session.add(AssetRow(device_id="pump-1", tenant=TENANT, first_seen=JAN - DAY, last_seen=JAN))
    jan10, jan20, jan25, jan31 = (JAN + d * DAY for d in (9, 19, 24, 30))
    # A failure: persistent anomaly, a true fault, repaired on site 08:00-20:00 on Jan 10 (12 h of failure).
    _order(db, "persistent_anomaly", [("proposed", jan10 - DAY), ("approved", jan10 - DAY), ("assigned", jan10),
                                      ("in_progress", jan10 + 8 * HOUR), ("done", jan10 + 20 * HOUR)], "true_fault")
    # Planned: a RUL replacement, 09:00-13:00 on Jan 20 (4 h), and a false alarm looked at 10:00-11:00 on Jan 25.
    _order(db, "rul_below_horizon", [("proposed", jan20 - DAY), ("in_progress", jan20 + 9 * HOUR),
                                     ("done", jan20 + 13 * HOUR)], "true_fault")
    _order(db, "persistent_anomaly", [("proposed", jan25), ("in_progress", jan25 + 10 * HOUR),
                                      ("done", jan25 + 11 * HOUR)], "false_alarm")
    # Offline: from Dec 31 23:00 to Jan 1 01:00 (1 h in January), Jan 10 06:00-20:00 (2 h outside the repair),
    # Jan 20 09:00-13:00 (inside the planned stop: not again), and from Jan 31 22:00 to the month's end (2 h).
    for at, online in ((JAN - HOUR, False), (JAN + HOUR, True), (jan10 + 6 * HOUR, False), (jan10 + 20 * HOUR, True),
                       (jan20 + 9 * HOUR, False), (jan20 + 13 * HOUR, True), (jan31 + 22 * HOUR, False)):
        _state(db, at, online)
    _state(db, jan10 + 6 * HOUR, False)  # the same message id again would be ignored; another one changes nothing
    with db.session() as session:
        down = downtime(session, "pump-1", JAN, FEB)
    assert down.period_s == 31 * DAY
    assert down.failure_s == 12 * HOUR
    assert down.planned_s == 5 * HOUR
    assert down.offline_s == 5 * HOUR
    # 100 x (2,678,400 - 43,200 - 18,000) / 2,678,400 = 97.71505376...
    assert down.uptime_pct == Decimal("97.7151")


def test_a_repair_still_in_progress_at_the_months_end_counts_to_the_end_and_nothing_means_full_uptime(
    db: Database
) -> None:
    with db.session() as session:
        session.add(AssetRow(device_id="pump-1", tenant=TENANT, first_seen=JAN - DAY, last_seen=JAN))
    _order(db, "persistent_anomaly", [("proposed", FEB - 2 * DAY), ("in_progress", FEB - 6 * HOUR)], None)
    with db.session() as session:
        assert downtime(session, "pump-1", JAN, FEB).failure_s == 6 * HOUR
        assert downtime(session, "pump-1", FEB, FEB + 28 * DAY).failure_s == 28 * DAY
        quiet = downtime(session, "pump-2", JAN, FEB)
    assert (quiet.failure_s, quiet.planned_s, quiet.offline_s, quiet.uptime_pct) == (0, 0, 0, Decimal(100))


def test_a_counter_going_down_in_one_install_is_a_reset_and_a_new_install_going_up_continues(
    stores: Stores, db: Database
) -> None:
    # pump-1: 50 -> 3 in install "a" (meter replaced): 3 since the reset. pump-2: install "a" 50, then install "b"
    # at 58: the same meter kept counting (8), not 58 again.
    stores.handler.apply([raw(usage("pump-1", 1, JAN - DAY, JAN, operating_hours=50)),
                          raw(usage("pump-1", 2, JAN, JAN + DAY, operating_hours=3)),
                          raw(usage("pump-2", 1, JAN - DAY, JAN, operating_hours=50)),
                          raw(usage("pump-2", 1, JAN, JAN + DAY, install="b", operating_hours=58))])
    agreement = contract(db, customer(db), ("pump-1", "pump-2"))
    with db.session() as session:
        uses = billable_use(session, agreement, JAN, FEB).uses
    replaced, continued = hours(uses, "pump-1"), hours(uses, "pump-2")
    assert replaced.quantity == 3 and replaced.resets == (
        "operating_hours counter reset at 2027-01-02T00:00Z (counter went down): 50.0 -> 3.0",)
    assert continued.quantity == 8 and continued.resets == (
        "operating_hours: new install at 2027-01-02T00:00Z, counter continued",)


def test_nothing_is_metered_outside_the_contracts_days(stores: Stores, db: Database) -> None:
    # 30 h over (Jan 1, Jan 31]: a contract from Jan 6 to Jan 15 (both included) bills 10 days of it, 10 h.
    stores.handler.apply([raw(usage("pump-1", 1, JAN - DAY, JAN, operating_hours=0)),
                          raw(usage("pump-1", 2, JAN, JAN + 30 * DAY, operating_hours=30))])
    agreement = contract(db, customer(db), ("pump-1",), starts_on=dt.date(2027, 1, 6), ends_on=dt.date(2027, 1, 15))
    with db.session() as session:
        assert hours(billable_use(session, agreement, JAN, FEB).uses, "pump-1").quantity == 10
        assert contract_assets(session, agreement, JAN + 15 * DAY, FEB) == []


def test_the_ingest_keeps_every_state_message_in_the_history_whatever_order_they_arrive_in(
    stores: Stores, db: Database
) -> None:
    offline = DeviceState(TENANT, "pump-1", JAN + 2 * HOUR, DeviceStatus.OFFLINE)
    online = DeviceState(TENANT, "pump-1", JAN + 5 * HOUR, DeviceStatus.ONLINE)
    born = DeviceState(TENANT, "pump-1", JAN, DeviceStatus.ONLINE)
    stores.handler.apply([raw(born), raw(online), raw(offline), raw(offline)])  # the offline one late, and twice
    with db.session() as session:
        assert downtime(session, "pump-1", JAN, FEB).offline_s == 3 * HOUR


def test_a_meter_missing_from_the_report_before_the_month_is_taken_from_the_last_report_that_has_it(
    stores: Stores, db: Database
) -> None:
    # kWh at 40 on Dec 30, a report without kWh on Dec 31, 45 on Jan 2: +5 over (Dec 30, Jan 2], one of its three
    # days in January: 5/3 = 1.666667 (6 places, half-even), not 45 counted as a new meter.
    stores.handler.apply([raw(usage("pump-1", 1, JAN - 3 * DAY, JAN - 2 * DAY, operating_hours=1, energy_kwh=40)),
                          raw(usage("pump-1", 2, JAN - 2 * DAY, JAN - DAY, operating_hours=2)),
                          raw(usage("pump-1", 3, JAN - DAY, JAN + DAY, operating_hours=4, energy_kwh=45))])
    agreement = contract(db, customer(db), ("pump-1",))
    with db.session() as session:
        uses = billable_use(session, agreement, JAN, FEB).uses
    kwh = next(u for u in uses if u.meter == "energy_kwh")
    assert kwh.quantity == Decimal("1.666667") and kwh.resets == ()
    assert hours(uses, "pump-1").quantity == 1  # +2 over (Dec 31, Jan 2]
