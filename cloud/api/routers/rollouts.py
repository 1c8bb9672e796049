"""Staged rollouts of a model version to a group of devices: start one, follow it, advance it now."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy.orm import Session

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.deps import ContextDep, LinksDep, NowDep, SessionDep, SignerDep
from cloud.api.device_schemas import RolloutCreate, RolloutDeviceView, RolloutView
from cloud.api.params import RowIdPath
from cloud.api.timestamps import optional_utc, utc
from cloud.audit.trail import Change
from cloud.auth.roles import Permission
from cloud.registry.desired_state import CommandSender
from cloud.registry.rollouts import (
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


_READ, _WRITE = allow(Permission.ROLLOUTS_READ), allow(Permission.ROLLOUTS_WRITE)


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[_WRITE],
             responses={404: {"description": "unknown model"}, 422: {"description": "the plan does not fit"}})
def start_rollout(body: RolloutCreate, context: ContextDep, session: SessionDep, auditor: AuditDep, links: LinksDep,
                  signer: SignerDep, now: NowDep) -> RolloutView:
    """Start a rollout to devices of the caller's tenant: its first stage's devices are sent `set_desired_state` now."""
    tenant = auditor.principal.tenant_for(body.tenant)
    plan = RolloutPlan(tenant, body.model_id, body.model_version, body.devices, body.group, body.stages,
                       body.failure_budget, body.device_deadline_s, auditor.principal.label)

    def audit_start(rollout: RolloutRow) -> None:
        # Called before the rollout's first commit, so the trail never misses a started rollout.
        auditor.record(Change("start", "rollout", str(rollout.id), tenant, after=body.model_dump(exclude={"tenant"})))

    sender = CommandSender(links, signer, context.publish_command)
    rollout = create_rollout(session, plan, now, sender, audit_start)
    return rollout_view(session, rollout)


@router.get("", dependencies=[_READ])
def read_rollouts(session: SessionDep, principal: PrincipalDep) -> list[RolloutView]:
    """Every rollout of the caller's tenant, newest first."""
    return [rollout_view(session, r) for r in list_rollouts(session, principal.scope)]


@router.get("/{rollout_id}", dependencies=[_READ], responses={404: {}})
def read_rollout(rollout_id: RowIdPath, session: SessionDep, principal: PrincipalDep) -> RolloutView:
    """A rollout with each device's stage and status (as of its last advance)."""
    return rollout_view(session, get_rollout(session, principal.scope, rollout_id))


@router.post("/{rollout_id}/advance", dependencies=[_WRITE], responses={404: {}})
def advance_rollout(rollout_id: RowIdPath, context: ContextDep, session: SessionDep, auditor: AuditDep, links: LinksDep,
                    signer: SignerDep, now: NowDep) -> RolloutView:
    """Judge the devices by what they reported and move the rollout on now (the service also does it periodically)."""
    rollout = get_rollout(session, auditor.principal.scope, rollout_id)
    before = {"status": rollout.status, "current_stage": rollout.current_stage}
    auditor.record(Change("advance", "rollout", str(rollout.id), rollout.tenant, before))
    advance(session, rollout, now, CommandSender(links, signer, context.publish_command))
    return rollout_view(session, rollout)


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
