"""Helpers of the billing tests: a database with the billing tables, customers, contracts, usage reports, states."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from cloudtest_support import TENANT

from cloud.billing.contracts import attach_asset, create_contract
from cloud.billing.plans import CreditTier, PlanTerms
from cloud.store.account_tables import CustomerRow
from cloud.store.contract_tables import ServiceContractRow
from cloud.store.database import Database
from contract.wire import Usage

UNITS = {"operating_hours": "h", "cycles": "1", "energy_kwh": "kWh"}
DAY = 86_400.0
# 2027-01-01T00:00Z and 2027-02-01T00:00Z: the month the tests bill.
JAN = dt.datetime(2027, 1, 1, tzinfo=dt.UTC).timestamp()
FEB = dt.datetime(2027, 2, 1, tzinfo=dt.UTC).timestamp()
TERMS = PlanTerms(
    currency="EUR", price_per_hour=Decimal("2.50"), price_per_cycle=None, price_per_kwh=Decimal("0.12"),
    monthly_minimum=Decimal("100.00"), included_maintenance=True, sla_uptime_pct=Decimal("99.5"),
    credit_tiers=(CreditTier(Decimal("99.5"), Decimal("10")), CreditTier(Decimal("95"), Decimal("25"))),
    maintenance_horizon_cycles=500.0, tax_rate_pct=Decimal("19"),
)


def customer(database: Database, name: str = "Hydro Works", tenant: str = TENANT) -> int:
    with database.session() as session:
        row = CustomerRow(tenant=tenant, name=name, created_at=JAN - 30 * DAY)
        session.add(row)
        session.flush()
        return row.id


def contract(database: Database, customer_id: int, devices: tuple[str, ...] = (), tenant: str = TENANT,
             starts_on: dt.date = dt.date(2026, 12, 1), from_ts: float | None = None,
             ends_on: dt.date | None = None) -> int:
    """A contract of the customer on TERMS, covering `devices` from `from_ts` (default: its start)."""
    with database.session() as session:
        row = create_contract(session, tenant, customer_id, "Pumps by the hour", starts_on, ends_on, TERMS,
                              now=JAN - 40 * DAY, actor="user:planner")
        start = dt.datetime(starts_on.year, starts_on.month, starts_on.day, tzinfo=dt.UTC).timestamp()
        for device in devices:
            attach_asset(session, row, device, start if from_ts is None else from_ts)
        return row.id


def contract_row(database: Database, contract_id: int) -> ServiceContractRow:
    with database.session() as session:
        row = session.get(ServiceContractRow, contract_id)
        assert row is not None
        return row


def usage(device: str, seq: int, start: float, end: float, install: str = "a", tenant: str = TENANT,
          **counters: float) -> Usage:
    """A usage report covering (start, end], sent at `end`."""
    return Usage(tenant, device, seq, end, start, end, dict(counters), {k: UNITS[k] for k in counters},
                 install=install)


def count(database: Database, table: sa.Table) -> int:
    with database.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
