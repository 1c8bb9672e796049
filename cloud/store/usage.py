"""Usage reports: stored once (per device and message id, and per device, install and seq), summarised over a range.

The counters are cumulative, so the use within a range is the difference between the
last report at or before its end and the first at or after its start; a lost or
redelivered report changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.store.database import insert_ignoring_duplicates
from cloud.store.tables import UsageReportRow
from contract.wire import Usage


@dataclass(frozen=True)
class UsageSummary:
    """The newest report of a device, and the first and last reports within a range (None: none there)."""

    latest: UsageReportRow | None
    first: UsageReportRow | None
    last: UsageReportRow | None
    reports_in_range: int

    def used(self) -> dict[str, float]:
        """Per counter present in both: its growth from the range's first report to its last."""
        if self.first is None or self.last is None:
            return {}
        before, after = self.first.counters, self.last.counters
        return {name: float(after[name]) - float(before[name]) for name in after if name in before}


def insert_usage(session: Session, usage: Usage, received_at: float) -> bool:
    """Store `usage`; False when the device stored it before (same message id, or same install and seq)."""
    values = {
        "message_id": usage.message_id, "device_id": usage.device_id, "tenant": usage.tenant,
        "install": usage.install, "seq": usage.seq,
        "ts": usage.ts, "period_start": usage.period_start, "period_end": usage.period_end,
        "received_at": received_at, "counters": dict(usage.counters), "units": dict(usage.units),
    }
    # The ORM must see the asset row first, or the foreign key check runs before it is written.
    session.flush()
    table = cast(sa.Table, UsageReportRow.__table__)
    insert = insert_ignoring_duplicates(session.get_bind().dialect.name, table).returning(table.c.id)
    return session.execute(insert, values).scalar() is not None


def usage_summary(session: Session, device_id: str, start: float, end: float | None) -> UsageSummary:
    """The device's newest report and its reports with `start <= ts <= end` (first and last by ts, then seq).

    `end` None: no upper bound (a device clock ahead of the cloud's must not hide its reports).
    """
    mine = sa.select(UsageReportRow).where(UsageReportRow.device_id == device_id)
    latest = session.scalars(mine.order_by(UsageReportRow.ts.desc(), UsageReportRow.seq.desc()).limit(1)).first()
    within = mine.where(UsageReportRow.ts >= start)
    if end is not None:
        within = within.where(UsageReportRow.ts <= end)
    first = session.scalars(within.order_by(UsageReportRow.ts, UsageReportRow.seq).limit(1)).first()
    last = session.scalars(within.order_by(UsageReportRow.ts.desc(), UsageReportRow.seq.desc()).limit(1)).first()
    count = session.scalar(sa.select(sa.func.count()).select_from(within.subquery())) or 0
    return UsageSummary(latest=latest, first=first, last=last, reports_in_range=int(count))
