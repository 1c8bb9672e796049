"""Work orders as the API shows them: to everyone who may read them, and as a technician's task (what it needs on
site: where, the evidence, the series around the first signal, the RUL band, the photos)."""

from __future__ import annotations

from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.api.schemas import Evidence, FindingOut, ModelOut, PartUsedOut, RulEvidence, RulOut, WorkOrderOut
from cloud.api.timestamps import optional_utc, utc
from cloud.api.work_order_schemas import AttachmentOut, SeriesLink, SiteOut, TaskOut
from cloud.maintenance.attachments import attachments_of
from cloud.maintenance.rul_rule import RULE_NAME as RUL_RULE_NAME
from cloud.maintenance.status import Priority, WorkOrderStatus
from cloud.maintenance.work_orders import signal_ids
from cloud.store.tables import AssetRow, AttachmentRow, EventRow, FindingRow, WorkOrderRow

# The telemetry link spans the first signal's window and this much either side.
SERIES_MARGIN_S = 600.0


def work_order_out(session: Session, row: WorkOrderRow, finding: FindingRow | None = None) -> WorkOrderOut:
    return WorkOrderOut.model_validate(_fields(session, row, finding))


def task_out(session: Session, row: WorkOrderRow, finding: FindingRow | None = None) -> TaskOut:
    asset = session.get(AssetRow, row.device_id)
    first = session.scalars(sa.select(EventRow).where(EventRow.work_order_id == row.id)
                            .order_by(EventRow.ts, EventRow.id).limit(1)).first()
    rul = row.evidence.get("rul") if row.rule == RUL_RULE_NAME else None
    return TaskOut.model_validate({
        **_fields(session, row, finding),
        "asset_kind": "" if asset is None else asset.asset_kind,
        "site": SiteOut(name=None, lat=None, lon=None) if asset is None else
        SiteOut(name=asset.site_name, lat=asset.site_lat, lon=asset.site_lon),
        "series": None if first is None else _series(row.device_id, first),
        "rul_band": None if not isinstance(rul, dict) else RulOut.model_validate(rul),
        "attachments": [attachment_out(a) for a in attachments_of(session, row.id)],
    })


def attachment_out(row: AttachmentRow) -> AttachmentOut:
    return AttachmentOut(id=row.id, work_order_id=row.work_order_id, content_type=row.content_type,
                         size_bytes=row.size_bytes, sha256=row.sha256, uploaded_by=row.uploaded_by,
                         uploaded_at=utc(row.uploaded_at))


def _series(device_id: str, first: EventRow) -> SeriesLink:
    start, end = utc(first.window_start - SERIES_MARGIN_S), utc(first.ts + SERIES_MARGIN_S)
    query = urlencode({"start": start.isoformat(), "end": end.isoformat()})
    return SeriesLink(href=f"/api/v1/assets/{device_id}/telemetry?{query}", start=start, end=end)


def _fields(session: Session, row: WorkOrderRow, finding: FindingRow | None) -> dict[str, object]:
    return {
        "id": row.id,
        "device_id": row.device_id,
        "tenant": row.tenant,
        "status": WorkOrderStatus(row.status),
        "rule": row.rule,
        "reason": row.reason,
        "created_at": utc(row.created_at),
        "updated_at": utc(row.updated_at),
        "decided_by": row.decided_by,
        "decided_at": optional_utc(row.decided_at),
        "decision_note": row.decision_note,
        "evidence": (RulEvidence if row.rule == RUL_RULE_NAME else Evidence).model_validate(row.evidence),
        "finding": None if finding is None else _finding_out(finding),
        "priority": Priority(row.priority or Priority.NORMAL.value),
        "due_at": optional_utc(row.due_at),
        "confidence": row.confidence,
        "required_skill": row.required_skill,
        "notes": row.notes,
        "approved_by_policy": row.approved_by_policy,
        "technician_id": row.technician_id,
        "planned_start": optional_utc(row.planned_start),
        "planned_end": optional_utc(row.planned_end),
        "declined_by": list(row.declined_by or []),
        "merged_into": row.merged_into,
        "signal_ids": signal_ids(session, row.id),
    }


def _finding_out(row: FindingRow) -> FindingOut:
    return FindingOut(
        finding=row.finding,  # type: ignore[arg-type]  # the table's check constraint allows only these
        technician=row.technician,
        notes=row.notes,
        parts_used=[PartUsedOut.model_validate(part) for part in row.parts_used or []],
        recorded_at=utc(row.recorded_at),
        model=ModelOut(id=row.model_id, version=row.model_version),
    )
