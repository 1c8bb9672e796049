"""Field-service fixtures in the store: assets with a site, work orders ready for dispatch, a schema at head.

The orders are written straight into the store (as the ingest and a planner's approval would
leave them) so a dispatch test starts from a known set; everything after that goes through the
code under test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from cloud.maintenance.status import Priority, WorkOrderStatus
from cloud.store.tables import AssetRow, WorkOrderRow

# Monday 2026-06-01 06:00 UTC = 08:00 in Berlin (summer time): the start of a working day.
MONDAY_8_BERLIN = datetime(2026, 6, 1, 6, 0, tzinfo=UTC).timestamp()
BERLIN = (52.52, 13.405)
POTSDAM = (52.39, 13.065)
HAMBURG = (53.551, 9.993)
OFFICE_HOURS = [{"weekday": day, "start": "08:00", "end": "17:00"} for day in range(5)]


def add_asset(session: Session, tenant: str, device_id: str, site: tuple[float, float] | None, now: float) -> None:
    session.add(AssetRow(device_id=device_id, tenant=tenant, asset_kind="pump", first_seen=now, last_seen=now,
                         site_name=None if site is None else f"site of {device_id}",
                         site_lat=None if site is None else site[0], site_lon=None if site is None else site[1]))


def anomaly_evidence(now: float, channel: str = "accel1_rms") -> dict[str, Any]:
    """The evidence the persistent-anomaly rule leaves on an order it proposes (cloud.maintenance.rules)."""
    return {
        "rule": {"name": "persistent_anomaly", "min_events": 3, "window_s": 120.0},
        "explanation": "3 anomalies within 120 s", "event_ids": [], "event_count": 3,
        "first_anomaly_ts": now - 60, "last_anomaly_ts": now - 10, "max_score": 0.9, "threshold": 0.5,
        "model": {"id": "pump-pca", "version": "1"}, "window": {"start": now - 90, "end": now - 10},
        "top_channels": [{"channel": channel, "contribution": 0.8, "value": None, "unit": "g"}],
        "attached_after_opening": 0,
    }


def add_order(session: Session, tenant: str, device_id: str, now: float, *, skill: str | None = None,
              priority: Priority = Priority.NORMAL, due_in_h: float | None = 48.0,
              status: WorkOrderStatus = WorkOrderStatus.APPROVED, evidence: dict[str, Any] | None = None,
              rule: str = "persistent_anomaly", technician_id: int | None = None,
              window: tuple[float, float] | None = None) -> int:
    order = WorkOrderRow(
        device_id=device_id, tenant=tenant, status=status.value, rule=rule, reason="test",
        evidence=evidence or anomaly_evidence(now),
        created_at=now, updated_at=now, priority=priority.value, required_skill=skill,
        due_at=None if due_in_h is None else now + due_in_h * 3600, technician_id=technician_id,
        planned_start=None if window is None else window[0], planned_end=None if window is None else window[1],
    )
    session.add(order)
    session.flush()
    return order.id
