"""A device's desired and reported state: read it, and set the desired model (and sample rate) as a planner."""

from __future__ import annotations

from fastapi import APIRouter, Request

from cloud.api.deps import ContextDep, NowDep, SessionDep
from cloud.api.device_schemas import DesiredStateChange, DesiredStateView, DeviceStateView, ReportedStateView
from cloud.api.routers.models import artifact_path
from cloud.api.timestamps import optional_utc, utc
from cloud.registry.device_state import DesiredChange, DeviceState, device_state, set_desired
from cloud.store.assets import get_asset

router = APIRouter(prefix="/devices", tags=["devices"])


@router.get("/{device_id}/state", responses={404: {}})
def read_device_state(device_id: str, session: SessionDep) -> DeviceStateView:
    """What the device should run, what it reports running (and how its last update went), and whether they agree."""
    return state_view(device_state(session, get_asset(session, device_id)))


@router.put("/{device_id}/state", responses={404: {}, 422: {"description": "the model does not fit the device"}})
def write_device_state(
    device_id: str, change: DesiredStateChange, request: Request, context: ContextDep, session: SessionDep,
    now: NowDep,
) -> DeviceStateView:
    """Set the device's desired model (a registered version) and sample rate; pushed as `set_desired_state`."""
    asset = get_asset(session, device_id)
    url = artifact_url(context.settings.public_api_url or str(request.base_url), change.model_id,
                       change.model_version)
    desired = DesiredChange(change.model_id, change.model_version, change.requested_by, change.explanation,
                            change.sample_rate_hz)
    set_desired(session, asset, desired, url, now, context.publish_command)
    return state_view(device_state(session, asset))


def artifact_url(base: str, model_id: str, version: str) -> str:
    return base.rstrip("/") + artifact_path(model_id, version)


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
