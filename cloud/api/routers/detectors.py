"""Per-asset detectors: fit one from the calibration an asset uploaded, register it, ask the device to run it."""

from __future__ import annotations

from fastapi import APIRouter, status

from cloud.api.access import AuditDep, allow
from cloud.api.deps import ContextDep, LinksDep, NowDep, RawReadingsDep, SessionDep, SignerDep
from cloud.api.model_schemas import CalibrationPublic, DesiredStatePublic, DetectorFitCreate, DetectorFitPublic
from cloud.api.params import DeviceIdPath
from cloud.api.responses import RETRY_LATER
from cloud.api.routers.models import model_public
from cloud.api.timestamps import epoch, utc
from cloud.audit.trail import Change
from cloud.auth.roles import Permission
from cloud.registry.artifact_links import ArtifactLinks
from cloud.registry.desired_state import CommandSender, request_model
from cloud.registry.detector_fit import CalibrationSelection, FittedModel, fit_asset_detector
from cloud.settings import CloudSettings
from cloud.store.assets import get_asset
from cloud.store.tables import DesiredStateRow

router = APIRouter(prefix="/assets", tags=["models"])


@router.post(
    "/{device_id}/detector",
    dependencies=[allow(Permission.MODELS_WRITE)],
    status_code=status.HTTP_201_CREATED,
    responses={404: {}, 422: {"description": "too few stored readings, or no detector for the asset's kind"},
               429: {**RETRY_LATER, "description": "too many models are being checked; try again after `Retry-After`"}},
)
def fit_detector_for_asset(
    device_id: DeviceIdPath,
    context: ContextDep,
    session: SessionDep,
    auditor: AuditDep,
    reader: RawReadingsDep,
    signer: SignerDep,
    links: LinksDep,
    now: NowDep,
    fit: DetectorFitCreate | None = None,
) -> DetectorFitPublic:
    """Fit the asset's anomaly detector on its stored calibration, register it and set it as the device's model.

    The device is told on its commands topic (`set_desired_state`, QoS 1, with a manifest signed under its next
    counter) where to fetch the artifact (a signed, expiring link) and which digest to check; the desired state is
    stored even if the broker is unreachable.
    """
    fit = fit or DetectorFitCreate()
    who = auditor.principal.label
    asset = get_asset(session, device_id, auditor.principal.scope)
    selection = _selection(fit, context.settings)
    fitted = fit_asset_detector(session, reader, signer, asset, selection, now, who)
    model = fitted.registration.row
    desired = request_model(session, asset, model, who, now, fitted.explanation, signer)
    auditor.record(Change("fit_detector", "model", f"{model.model_id}@{model.version}", asset.tenant, after={
        "device_id": asset.device_id, "sha256": model.sha256, "calibration_readings": fitted.rows}))
    auditor.record(Change("set_desired_state", "device", asset.device_id, asset.tenant, after={
        "model_id": model.model_id, "model_version": model.version}))
    # Committed before the device hears of it, so the artifact it is sent to fetch exists.
    session.commit()
    CommandSender(links, signer, context.publish_command).push(session, asset, model, desired, now)
    return DetectorFitPublic(
        model=model_public(model),
        calibration=_calibration(fitted),
        desired_state=_desired(desired, links),
        explanation=fitted.explanation,
    )


def _selection(fit: DetectorFitCreate, settings: CloudSettings) -> CalibrationSelection:
    if fit.start is not None and fit.end is not None:
        return CalibrationSelection(start=epoch(fit.start), end=epoch(fit.end))
    return CalibrationSelection(first_readings=fit.first_readings or settings.detector_calibration_readings)


def _calibration(fitted: FittedModel) -> CalibrationPublic:
    return CalibrationPublic(
        readings=fitted.rows,
        dropped_incomplete=fitted.dropped_rows,
        first_seq=fitted.first_seq,
        last_seq=fitted.last_seq,
        start=utc(fitted.start),
        end=utc(fitted.end),
    )


def _desired(row: DesiredStateRow, links: ArtifactLinks) -> DesiredStatePublic:
    return DesiredStatePublic(
        device_id=row.device_id,
        model_id=row.model_id,
        model_version=row.model_version,
        requested_by=row.requested_by,
        requested_at=utc(row.requested_at),
        explanation=row.explanation,
        artifact_url=links.plain_url(row.model_id, row.model_version),
        command_published=row.command_published_at is not None,
    )
