"""Staged rollouts of a model version to a group of devices: start one, follow it, advance it now."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from sqlalchemy.orm import Session

from cloud.api.deps import ApiContext, ContextDep, NowDep, SessionDep
from cloud.api.device_schemas import RolloutCreate, RolloutDeviceView, RolloutView
from cloud.api.timestamps import optional_utc, utc
from cloud.registry.rollouts import (
    CommandSender,
    RolloutPlan,
    advance,
    create_rollout,
    failures,
    get_rollout,
    list_rollouts,
    rollout_devices,
)
from cloud.store.tables import RolloutRow

router = APIRouter(prefix="/rollouts", tags=["rollouts"])


@router.post("", status_code=status.HTTP_201_CREATED,
             responses={404: {"description": "unknown model"}, 422: {"description": "the plan does not fit"}})
def start_rollout(body: RolloutCreate, request: Request, context: ContextDep, session: SessionDep,
                  now: NowDep) -> RolloutView:
    """Start a rollout: its first stage's devices are sent `set_desired_state` now."""
    plan = RolloutPlan(body.model_id, body.model_version, body.devices, body.group, body.stages,
                       body.failure_budget, body.device_deadline_s, body.requested_by)
    rollout = create_rollout(session, plan, now, _sender(context, request))
    return rollout_view(session, rollout)


@router.get("")
def read_rollouts(session: SessionDep) -> list[RolloutView]:
    """Every rollout, newest first."""
    return [rollout_view(session, r) for r in list_rollouts(session)]


@router.get("/{rollout_id}", responses={404: {}})
def read_rollout(rollout_id: int, session: SessionDep) -> RolloutView:
    """A rollout with each device's stage and status (as of its last advance)."""
    return rollout_view(session, get_rollout(session, rollout_id))


@router.post("/{rollout_id}/advance", responses={404: {}})
def advance_rollout(rollout_id: int, request: Request, context: ContextDep, session: SessionDep,
                    now: NowDep) -> RolloutView:
    """Judge the devices by what they reported and move the rollout on now (the service also does it periodically)."""
    rollout = get_rollout(session, rollout_id)
    advance(session, rollout, now, _sender(context, request))
    return rollout_view(session, rollout)


def _sender(context: ApiContext, request: Request) -> CommandSender:
    return CommandSender(context.settings.public_api_url or str(request.base_url), context.publish_command)


def rollout_view(session: Session, rollout: RolloutRow) -> RolloutView:
    devices = rollout_devices(session, rollout.id)
    return RolloutView(
        id=rollout.id, model_id=rollout.model_id, model_version=rollout.model_version,
        status=rollout.status,  # type: ignore[arg-type]  # the table's check constraint admits only these
        halted_reason=rollout.halted_reason, stages=list(rollout.plan["stages"]), current_stage=rollout.current_stage,
        failure_budget=rollout.failure_budget, failures=failures(devices), device_deadline_s=rollout.device_deadline_s,
        requested_by=rollout.requested_by, created_at=utc(rollout.created_at), updated_at=utc(rollout.updated_at),
        devices=[
            RolloutDeviceView(device_id=d.device_id, stage=d.stage,
                              status=d.status,  # type: ignore[arg-type]  # checked by the table too
                              detail=d.detail, sent_at=optional_utc(d.sent_at), finished_at=optional_utc(d.finished_at))
            for d in devices
        ],
    )
