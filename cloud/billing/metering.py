"""Billable use per contract and period, rebuilt from the stored cumulative usage reports alone.

The rules (docs/billing.md, "Contracts and metering"):

- A report says the counters' cumulative values at its `period_end` (device time). A device's
  reports are put in the counters' own order: `period_end`, then `ts`, `install`, `seq` (and
  the row id, so equal keys still sort the same every time). Arrival order plays no part, so a
  late or out-of-order report gives the same answer as one on time; a duplicate is never stored
  twice (cloud.store.usage), and a report repeating the same values adds nothing.
- Use between two consecutive reports carrying a counter is its growth, and it covers the time
  (previous `period_end`, this `period_end`]. A missing report (or one without that counter) just
  makes that interval longer.
- A counter going down is a reset (device or meter replaced, state lost): a new counter starts
  from 0, so the new report's value is the use since the reset, over the same interval. It is
  shown in `resets`. A new install whose counters did not go down is the same meter continuing
  (billing the difference under-bills, never double-bills); it is noted in `resets` too.
- The first report of a device counts its whole value over (its `period_start`, its `period_end`]:
  a new meter starts from 0.
- Use over an interval is given to a period in proportion to the interval's time inside it
  (pro rata by time); an interval of zero length goes to the period holding its end.
- An asset bills to a contract only for its own time under it (cloud.billing.plans.asset_windows).
- Each quantity is the exact decimal sum (counters read as decimal strings, never floats), rounded
  once at the end to `QUANTITY_PLACES` places with ROUND_HALF_EVEN.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.billing.downtime import Downtime, downtime
from cloud.billing.plans import asset_windows
from cloud.errors import InvalidContractError
from cloud.store.tables import UsageReportRow

__all__ = ["METER_UNITS", "Downtime", "MeterUse", "PeriodUse", "billable_use", "downtime", "meter_use",
           "period_bounds"]

# The meters a device counts (edge.metering) and their units; a counter by another name is not billed.
METER_UNITS = {"operating_hours": "h", "cycles": "1", "energy_kwh": "kWh"}
QUANTITY_PLACES = Decimal("0.000001")
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class MeterUse:
    """Billable use of one meter of one asset in a period, with the reports it comes from."""

    device_id: str
    meter: str
    unit: str
    quantity: Decimal
    report_ids: tuple[int, ...]  # the usage reports the quantity comes from (links on statements)
    resets: tuple[str, ...]  # human-readable notes, e.g. "counter reset at 2027-01-12T10:00Z (new install)"


@dataclass(frozen=True)
class PeriodUse:
    """A contract's billable use over [start, end): one entry per asset and meter with any report behind it."""

    contract_id: int
    start: float
    end: float
    uses: tuple[MeterUse, ...]


def period_bounds(period: str) -> tuple[float, float]:
    """"YYYY-MM" -> [start, end) in UTC epoch seconds; anything else is an InvalidContractError."""
    match = _PERIOD.match(period)
    if match is None:
        raise InvalidContractError(f"period must be YYYY-MM, not {period[:40]!r}")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1970 <= year <= 9998:  # epoch seconds, and a month whose end a datetime can still hold
        raise InvalidContractError(f"period {period!r} is outside 1970-01 to 9998-12")
    start = dt.datetime(year, month, 1, tzinfo=dt.UTC)
    days = calendar.monthrange(year, month)[1]
    return start.timestamp(), (start + dt.timedelta(days=days)).timestamp()


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%dT%H:%MZ")


@dataclass(frozen=True)
class _Step:
    """The growth of one counter between two consecutive reports, over (begin, end]."""

    begin: float
    end: float
    amount: Decimal
    report_ids: tuple[int, ...]
    reset: str | None = None


@dataclass
class _Tally:
    quantity: Decimal = Decimal(0)
    report_ids: set[int] = field(default_factory=set)
    resets: list[str] = field(default_factory=list)


def _ordered(reports: Sequence[UsageReportRow]) -> list[UsageReportRow]:
    return sorted(reports, key=lambda r: (r.period_end, r.ts, r.install, r.seq, r.id))


def _steps(reports: Sequence[UsageReportRow], meter: str) -> Iterator[_Step]:
    """Each report's growth of `meter` since the previous report that had it (rules in the module docstring)."""
    previous: UsageReportRow | None = None
    for report in _ordered(reports):
        if meter not in report.counters:
            continue
        value = Decimal(str(report.counters[meter]))
        if previous is None:
            yield _Step(report.period_start, report.period_end, value, (report.id,))
        else:
            before = Decimal(str(previous.counters[meter]))
            new_install = report.install != previous.install
            if value < before:
                cause = "new install" if new_install else "counter went down"
                reset = f"{meter} counter reset at {_when(report.period_end)} ({cause}): {before} -> {value}"
                yield _Step(previous.period_end, report.period_end, value, (previous.id, report.id), reset)
            else:
                went_on = f"{meter}: new install at {_when(report.period_end)}, counter continued"
                yield _Step(previous.period_end, report.period_end, value - before, (previous.id, report.id),
                            went_on if new_install else None)
        previous = report


def _share(step: _Step, start: float, end: float) -> Decimal | None:
    """The part of the step inside [start, end) (pro rata by time); None when none of it is."""
    if step.end <= step.begin:
        return step.amount if start < step.end <= end else None
    overlap = min(end, step.end) - max(start, step.begin)
    if overlap <= 0:
        return None
    if overlap >= step.end - step.begin:
        return step.amount
    return step.amount * Decimal(repr(overlap)) / Decimal(repr(step.end - step.begin))


def _reports_around(session: Session, device_id: str, start: float, end: float) -> list[UsageReportRow]:
    """The reports that can carry use into [start, end): those ending inside it, the last one before (the base
    of the first difference) and the first one at or after its end (use straddling the end)."""
    mine = sa.select(UsageReportRow).where(UsageReportRow.device_id == device_id)
    order = (UsageReportRow.period_end, UsageReportRow.ts, UsageReportRow.install, UsageReportRow.seq,
             UsageReportRow.id)
    before = session.scalars(
        mine.where(UsageReportRow.period_end <= start).order_by(*(c.desc() for c in order)).limit(1)
    ).first()
    inside = session.scalars(
        mine.where(UsageReportRow.period_end > start, UsageReportRow.period_end < end).order_by(*order)
    ).all()
    # Every report ending at or after `end` up to the first whose difference starts past it: a reset report may
    # cover back to its predecessor, so the first one after the end is enough.
    after = session.scalars(mine.where(UsageReportRow.period_end >= end).order_by(*order).limit(1)).first()
    return [r for r in (before, *inside, after) if r is not None]


def _base_for(session: Session, device_id: str, start: float, meter: str) -> UsageReportRow | None:
    """The last report ending at or before `start` that carries `meter` (rare: only when the newest one does not)."""
    earlier = session.scalars(
        sa.select(UsageReportRow).where(UsageReportRow.device_id == device_id, UsageReportRow.period_end <= start)
        .order_by(UsageReportRow.period_end.desc(), UsageReportRow.ts.desc(), UsageReportRow.install.desc(),
                  UsageReportRow.seq.desc(), UsageReportRow.id.desc()).execution_options(yield_per=100)
    )
    try:
        return next((report for report in earlier if meter in report.counters), None)
    finally:
        earlier.close()  # a server-side cursor on PostgreSQL: not left open when found early


def meter_use(session: Session, device_id: str, start: float, end: float) -> list[MeterUse]:
    """The device's billable use of each meter over [start, end), by meter name."""
    reports = _reports_around(session, device_id, start, end)
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    for meter in sorted({name for report in reports for name in report.counters if name in METER_UNITS}):
        mine = reports
        if reports[0].period_end <= start and meter not in reports[0].counters:
            # The report before the period lacks this meter: the difference starts from the last one that has it.
            base = _base_for(session, device_id, start, meter)
            mine = reports if base is None else [base, *reports]
        for step in _steps(mine, meter):
            share = _share(step, start, end)
            if share is None:
                continue
            tally = tallies[meter]
            tally.quantity += share
            tally.report_ids.update(step.report_ids)
            if step.reset is not None:
                tally.resets.append(step.reset)
    return [
        MeterUse(device_id=device_id, meter=meter, unit=METER_UNITS[meter],
                 quantity=tally.quantity.quantize(QUANTITY_PLACES, rounding=ROUND_HALF_EVEN),
                 report_ids=tuple(sorted(tally.report_ids)), resets=tuple(tally.resets))
        for meter, tally in sorted(tallies.items())
    ]


def billable_use(session: Session, contract_id: int, start: float, end: float) -> PeriodUse:
    """The contract's billable use over [start, end): each asset's meters over its own time under the contract."""
    tallies: dict[tuple[str, str], list[MeterUse]] = defaultdict(list)
    for window in asset_windows(session, contract_id, start, end):
        for use in meter_use(session, window.device_id, window.start, window.end):
            tallies[(use.device_id, use.meter)].append(use)
    uses = tuple(
        MeterUse(device_id=device_id, meter=meter, unit=parts[0].unit,
                 quantity=sum((p.quantity for p in parts), Decimal(0)),
                 report_ids=tuple(sorted({i for p in parts for i in p.report_ids})),
                 resets=tuple(note for p in parts for note in p.resets))
        for (device_id, meter), parts in sorted(tallies.items())
    )
    return PeriodUse(contract_id=contract_id, start=start, end=end, uses=uses)
