"""Downtime of one asset over a period, split into planned maintenance, failure and other offline time.

The rule (docs/billing.md, "Contracts and metering"), in the devices' own time:

- A work order stops the machine while it is `in_progress` (the technician on site): from each move
  into `in_progress` to the order's next move (done, cancelled, ...), or to the period's end while
  it is still there. This is read from the order's transitions, so it is rebuilt from storage.
- That time is *failure* when the order answers a fault: any rule but the RUL rule (which plans a
  replacement before failure), unless the technician's finding is `false_alarm`. It is *planned*
  when the order comes from the RUL rule or its finding is `false_alarm` (the maker stopped a
  healthy machine to look at it).
- *Offline* is the time the device said it was offline (cloud.store.asset_state_log; the state in
  force at the period's start is the last one before it, none known: online). Offline time inside
  a planned or failure window is counted there, not again.
- Planned time wins over failure time where both overlap (the maker had planned that stop).
- Uptime = 100 x (period - failure - offline) / period, planned time excluded from the penalty,
  rounded to `UPTIME_PLACES` with ROUND_HALF_EVEN.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.maintenance.rul_rule import RULE_NAME as RUL_RULE_NAME
from cloud.maintenance.status import WorkOrderStatus
from cloud.store.asset_state_log import states_between
from cloud.store.tables import FindingRow, WorkOrderRow, WorkOrderTransitionRow

UPTIME_PLACES = Decimal("0.0001")
Interval = tuple[float, float]


@dataclass(frozen=True)
class Downtime:
    """One asset's time over a period: its length, and the planned, failure and other offline time in it (s)."""

    device_id: str
    period_s: float
    planned_s: float
    failure_s: float
    offline_s: float  # offline time outside planned and failure windows

    @property
    def uptime_pct(self) -> Decimal:
        """100 x (period - failure - offline) / period; 100 for an empty period."""
        if self.period_s <= 0:
            return Decimal(100)
        up = Decimal(repr(self.period_s)) - Decimal(repr(self.failure_s)) - Decimal(repr(self.offline_s))
        return (Decimal(100) * up / Decimal(repr(self.period_s))).quantize(UPTIME_PLACES, rounding=ROUND_HALF_EVEN)


def _union(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for begin, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def _minus(intervals: list[Interval], taken: list[Interval]) -> list[Interval]:
    """`intervals` without any time in `taken` (both unions)."""
    left: list[Interval] = []
    for begin, end in intervals:
        cursor = begin
        for t_begin, t_end in taken:
            if t_end <= cursor or t_begin >= end:
                continue
            if t_begin > cursor:
                left.append((cursor, t_begin))
            cursor = max(cursor, t_end)
        if cursor < end:
            left.append((cursor, end))
    return left


def _length(intervals: list[Interval]) -> float:
    return sum(end - begin for begin, end in intervals)


def _stopped_windows(session: Session, device_id: str, start: float, end: float) -> tuple[list[Interval],
                                                                                        list[Interval]]:
    """(planned, failure) in-progress windows of the device's work orders, clipped to [start, end)."""
    in_progress = WorkOrderStatus.IN_PROGRESS.value
    rows = session.execute(
        sa.select(WorkOrderTransitionRow, WorkOrderRow.rule, FindingRow.finding)
        .join(WorkOrderRow, WorkOrderRow.id == WorkOrderTransitionRow.work_order_id)
        .outerjoin(FindingRow, FindingRow.work_order_id == WorkOrderRow.id)
        .where(WorkOrderRow.device_id == device_id, WorkOrderTransitionRow.at < end)
        .order_by(WorkOrderTransitionRow.work_order_id, WorkOrderTransitionRow.id)
    ).all()
    planned: list[Interval] = []
    failure: list[Interval] = []
    entered: dict[int, float] = {}
    kinds: dict[int, bool] = {}
    for move, rule, finding in rows:
        kinds[move.work_order_id] = rule == RUL_RULE_NAME or finding == "false_alarm"
        since = entered.pop(move.work_order_id, None)
        if since is not None:
            (planned if kinds[move.work_order_id] else failure).append((max(start, since), min(end, move.at)))
        if move.to_status == in_progress:
            entered[move.work_order_id] = move.at
    for order_id, since in entered.items():
        (planned if kinds[order_id] else failure).append((max(start, since), end))
    return _union(planned), _union(failure)


def _offline_windows(session: Session, device_id: str, start: float, end: float) -> list[Interval]:
    windows: list[Interval] = []
    down_since: float | None = None
    for state in states_between(session, device_id, start, end):
        at = max(start, state.ts)
        if not state.online and down_since is None:
            down_since = at
        elif state.online and down_since is not None:
            windows.append((down_since, at))
            down_since = None
    if down_since is not None:
        windows.append((down_since, end))
    return _union(windows)


def downtime(session: Session, device_id: str, start: float, end: float) -> Downtime:
    """The device's downtime over [start, end) by the rule in this module's docstring."""
    planned, failure = _stopped_windows(session, device_id, start, end)
    failure = _minus(failure, planned)
    offline = _minus(_minus(_offline_windows(session, device_id, start, end), planned), failure)
    return Downtime(device_id=device_id, period_s=max(0.0, end - start), planned_s=_length(planned),
                    failure_s=_length(failure), offline_s=_length(offline))
