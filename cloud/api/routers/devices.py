"""A device's desired and reported state: read it, and set the desired model (and sample rate) as an operator."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.deps import ContextDep, LinksDep, NowDep, SessionDep, SignerDep
from cloud.api.device_schemas import DesiredStateChange, DesiredStateView, DeviceStateView, ReportedStateView
from cloud.api.params import DeviceIdPath
from cloud.api.timestamps import optional_utc, utc
from cloud.audit.trail import Change
from cloud.auth.roles import Permission
from cloud.registry.desired_state import CommandSender
from cloud.registry.device_state import DesiredChange, DeviceState, current_desired, device_state, set_desired
from cloud.store.assets import get_asset
from cloud.store.tables import DesiredStateRow

router = APIRouter(prefix="/devices", tags=["devices"])


@router.get("/{device_id}/state", dependencies=[allow(Permission.DEVICES_READ)], responses={404: {}})
def read_device_state(device_id: DeviceIdPath, session: SessionDep, principal: PrincipalDep) -> DeviceStateView:
    """What the device should run, what it reports running (and how its last update went), and whether they agree."""
    return state_view(device_state(session, get_asset(session, device_id, principal.scope)))


@router.put("/{device_id}/state", dependencies=[allow(Permission.DEVICES_WRITE)],
            responses={404: {}, 422: {"description": "the model does not fit the device"}})
def write_device_state(
    device_id: DeviceIdPath, change: DesiredStateChange, context: ContextDep, session: SessionDep, auditor: AuditDep,
    links: LinksDep, signer: SignerDep, now: NowDep,
) -> DeviceStateView:
    """Set the device's desired model (a registered version of its tenant) and sample rate; pushed as
    `set_desired_state` with a manifest signed under the device's next counter and a signed, expiring artifact
    link."""
    asset = get_asset(session, device_id, auditor.principal.scope)
    before = _desired_fields(current_desired(session, device_id))
    desired = DesiredChange(change.model_id, change.model_version, auditor.principal.label, change.explanation,
                            change.sample_rate_hz)
    # set_desired commits the wish before publishing; the audit entry goes in the same transaction.
    auditor.record(Change("set_desired_state", "device", asset.device_id, asset.tenant, before, {
        "model_id": change.model_id, "model_version": change.model_version, "sample_rate_hz": change.sample_rate_hz,
        "explanation": change.explanation}))
    set_desired(session, asset, desired, CommandSender(links, signer, context.publish_command), now)
    return state_view(device_state(session, asset))


def _desired_fields(row: DesiredStateRow | None) -> dict[str, object] | None:
    if row is None:
        return None
    return {"model_id": row.model_id, "model_version": row.model_version, "sample_rate_hz": row.sample_rate_hz,
            "requested_by": row.requested_by}


def state_view(state: DeviceState) -> DeviceStateView:
    desired, reported = state.desired, state.reported
    return DeviceStateView(
        device_id=state.device_id,
        desired=None if desired is None else DesiredStateView(
            model_id=desired.model_id, model_version=desired.model_version, sample_rate_hz=desired.sample_rate_hz,
            requested_by=desired.requested_by, requested_at=utc(desired.requested_at),
            explanation=desired.explanation, command_published=desired.command_published_at is not None,
        ),
        reported=ReportedStateView(
            model_id=reported.model_id, model_version=reported.model_version, update_status=reported.update_status,
            update_target=reported.update_target, update_detail=reported.update_detail,
            at=optional_utc(reported.at), online=reported.online, sample_rate_hz=reported.sample_rate_hz,
        ),
        in_sync=state.in_sync,
    )
