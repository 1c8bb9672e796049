"""Staged rollouts: a model version to a group of devices, stage by stage, halted by a failure budget.

Stages are cumulative: a float is a fraction of the devices, an integer a count
(`[1, 0.25, 1.0]`: one canary, then a quarter, then all). Each device of a stage is
sent `set_desired_state` (cloud.registry.device_state) and is then, by what it reports:

- applied: it runs the version and its agent reports no update in progress;
- failed: its agent reports `failed:<reason>` or `rolled_back` about this version;
- stuck: neither within `device_deadline_s` of the command. A stuck device no longer
  blocks its stage, but counts against the budget (and may still turn applied later).

The rollout moves to the next stage once no device of the current ones is pending,
and halts (no more commands) as soon as failed + stuck devices exceed the budget.
`advance` is idempotent; the service calls it periodically (cloud.registry.rollout_ticker)
and `POST /rollouts/{id}/advance` calls it at once.

A failure is believed only from a state message stamped after the command was sent
(device clocks are NTP-synced; a device whose clock is behind is merely seen as stuck,
which the budget counts too), so a stale failure of an earlier attempt is not counted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.errors import CloudError, InvalidDesiredStateError, NotFoundError
from cloud.registry.desired_state import CommandSender
from cloud.registry.device_state import (
    APPLIED,
    DesiredChange,
    check_model_fits,
    current_desired,
    reported_state,
    resend_desired,
    set_desired,
)
from cloud.registry.store import get_model
from cloud.store.scope import Scope
from cloud.store.tables import AssetRow, RolloutDeviceRow, RolloutRow

ACTIVE = ("pending", "stuck")  # devices whose outcome may still change


@dataclass(frozen=True)
class RolloutPlan:
    tenant: str
    model_id: str
    model_version: str
    devices: Sequence[str] | None
    group: str | None
    stages: Sequence[int | float]
    failure_budget: int
    device_deadline_s: float
    requested_by: str


def requester(rollout_id: int) -> str:
    """Who the desired states a rollout sets are requested by."""
    return f"rollout:{rollout_id}"


def send_to(session: Session, asset: AssetRow, rollout: RolloutRow, now: float, sender: CommandSender) -> bool:
    """Set the device's desired state; whether the broker acknowledged the command.

    Sent again (the broker did not take it), the wish this rollout already stored is re-sent with the same signed
    manifest and counter: a new counter per attempt would order a retry after anything asked in between.
    """
    current = current_desired(session, asset.device_id)
    if (current is not None and current.requested_by == requester(rollout.id) and sender.can_resend(current)
            and (current.model_id, current.model_version) == (rollout.model_id, rollout.model_version)):
        return resend_desired(session, asset, current, sender, now)
    change = DesiredChange(rollout.model_id, rollout.model_version, requester(rollout.id),
                           f"rollout {rollout.id} by {rollout.requested_by}")
    row = set_desired(session, asset, change, sender, now)
    return row.command_published_at is not None


def stage_sizes(stages: Sequence[int | float], devices: int) -> list[int]:
    """Cumulative device counts per stage; `InvalidDesiredStateError` for a plan that cannot be followed."""
    sizes = []
    for stage in stages:
        if isinstance(stage, float) and not (0.0 < stage <= 1.0 and math.isfinite(stage)):
            raise InvalidDesiredStateError(f"stage {stage!r}: a fraction must be in (0, 1]")
        if isinstance(stage, int) and stage < 1:
            raise InvalidDesiredStateError(f"stage {stage!r}: a device count must be at least 1")
        size = max(1, math.ceil(stage * devices)) if isinstance(stage, float) else stage
        sizes.append(min(size, devices))
    if sizes != sorted(sizes):
        raise InvalidDesiredStateError(f"stages {list(stages)} must not shrink (they are cumulative)")
    if sizes[-1] != devices:
        raise InvalidDesiredStateError(f"the last stage covers {sizes[-1]} of {devices} devices; end with 1.0")
    return sizes


def select_devices(session: Session, tenant: str, devices: Sequence[str] | None, group: str | None) -> list[AssetRow]:
    """The tenant's devices named, or whose id starts with `group`; another tenant's device is as unknown as none."""
    if (devices is None) == (group is None):
        raise InvalidDesiredStateError("give either devices (a list of ids) or group (a device-id prefix)")
    mine = sa.select(AssetRow).where(AssetRow.tenant == tenant)
    if devices is not None:
        wanted = list(dict.fromkeys(devices))
        found = {a.device_id: a for a in session.scalars(mine.where(AssetRow.device_id.in_(wanted)))}
        missing = [d for d in wanted if d not in found]
        if missing:
            raise InvalidDesiredStateError(f"unknown devices: {', '.join(missing[:20])}")
        return [found[d] for d in wanted]
    escaped = (group or "").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = mine.where(AssetRow.device_id.like(f"{escaped}%", escape="\\"))
    assets = list(session.scalars(query.order_by(AssetRow.device_id)))
    if not assets:
        raise InvalidDesiredStateError(f"no device id starts with {group!r}")
    return assets


def create_rollout(
    session: Session, plan: RolloutPlan, now: float, sender: CommandSender,
    on_created: Callable[[RolloutRow], None] | None = None,
) -> RolloutRow:
    """Validate the plan against every device (404/422 before anything is stored), store it, start stage 0.

    `on_created` sees the stored rollout before anything is committed (the API writes its audit entry there).
    """
    model = get_model(session, Scope(plan.tenant), plan.model_id, plan.model_version)
    assets = select_devices(session, plan.tenant, plan.devices, plan.group)
    for asset in assets:
        check_model_fits(asset, model)
    sizes = stage_sizes(plan.stages, len(assets))
    rollout = RolloutRow(
        tenant=plan.tenant, model_id=model.model_id, model_version=model.version, status="running", current_stage=0,
        plan={"stages": sizes, "asked": list(plan.stages), "group": plan.group}, failure_budget=plan.failure_budget,
        device_deadline_s=plan.device_deadline_s, requested_by=plan.requested_by, created_at=now, updated_at=now,
    )
    session.add(rollout)
    session.flush()
    for position, asset in enumerate(assets):
        stage = next(i for i, size in enumerate(sizes) if position < size)
        session.add(RolloutDeviceRow(rollout_id=rollout.id, device_id=asset.device_id, position=position,
                                     stage=stage, status="waiting", detail=""))
    session.flush()
    if on_created is not None:
        on_created(rollout)
    _start_stage(session, rollout, now, sender)
    advance(session, rollout, now, sender)
    return rollout


def get_rollout(session: Session, scope: Scope, rollout_id: int) -> RolloutRow:
    rollout = session.get(RolloutRow, rollout_id)
    if rollout is None or not scope.owns(rollout.tenant):
        raise NotFoundError(f"rollout {rollout_id} does not exist")
    return rollout


def list_rollouts(session: Session, scope: Scope, limit: int = 100) -> list[RolloutRow]:
    query = sa.select(RolloutRow).where(scope.tenant_clause(RolloutRow.tenant))
    return list(session.scalars(query.order_by(RolloutRow.id.desc()).limit(limit)))


def rollout_devices(session: Session, rollout_id: int) -> list[RolloutDeviceRow]:
    query = sa.select(RolloutDeviceRow).where(RolloutDeviceRow.rollout_id == rollout_id)
    return list(session.scalars(query.order_by(RolloutDeviceRow.position)))


def failures(devices: Sequence[RolloutDeviceRow]) -> int:
    return sum(1 for d in devices if d.status in ("failed", "stuck"))


def advance(session: Session, rollout: RolloutRow, now: float, sender: CommandSender) -> None:
    """Judge the sent devices by what they report; halt, complete, or start the next stage(s)."""
    if rollout.status != "running":
        return
    devices = rollout_devices(session, rollout.id)
    while True:
        for device in devices:
            if device.stage <= rollout.current_stage and device.status in ACTIVE:
                _judge(session, rollout, device, now, sender)
        if failures(devices) > rollout.failure_budget:
            _halt(rollout, devices, now)
            break
        if any(d.stage <= rollout.current_stage and d.status == "pending" for d in devices):
            break
        if rollout.current_stage == len(rollout.plan["stages"]) - 1:
            rollout.status = "completed"
            break
        rollout.current_stage += 1
        _start_stage(session, rollout, now, sender)
    rollout.updated_at = now
    session.commit()


def advance_running(session: Session, now: float, sender: CommandSender) -> int:
    """Advance every running rollout; how many there were."""
    running = list(session.scalars(sa.select(RolloutRow).where(RolloutRow.status == "running")))
    for rollout in running:
        advance(session, rollout, now, sender)
    return len(running)


def _start_stage(session: Session, rollout: RolloutRow, now: float, sender: CommandSender) -> None:
    for device in rollout_devices(session, rollout.id):
        if device.stage == rollout.current_stage and device.status == "waiting":
            device.status, device.sent_at = "pending", now
            _send(session, rollout, device, now, sender)


def _send(session: Session, rollout: RolloutRow, device: RolloutDeviceRow, now: float, sender: CommandSender) -> None:
    asset = session.get(AssetRow, device.device_id)
    try:
        if asset is None:
            raise InvalidDesiredStateError(f"device {device.device_id} no longer exists")
        device.command_published = send_to(session, asset, rollout, now, sender)
    except CloudError as exc:  # the device cannot take it (its kind became known since): one failure, not a crash
        device.status, device.detail, device.finished_at = "failed", str(exc)[:500], now


def _judge(session: Session, rollout: RolloutRow, device: RolloutDeviceRow, now: float, sender: CommandSender) -> None:
    asset = session.get(AssetRow, device.device_id)
    if asset is None:
        return
    reported, target = reported_state(asset), (rollout.model_id, rollout.model_version)
    fresh = asset.state_ts is not None and device.sent_at is not None and asset.state_ts >= device.sent_at
    status = reported.update_status or ""
    if reported.runs(*target) and (status in ("", APPLIED) or not reported.about(*target)):
        device.status, device.detail, device.finished_at = "applied", "", now
    elif fresh and reported.update_target == "@".join(target) and (status.startswith("failed") or
                                                                   status == "rolled_back"):
        device.status, device.finished_at = "failed", now
        device.detail = f"{status}: {reported.update_detail or ''}".rstrip(": ")[:500]
    elif device.status == "pending" and now - (device.sent_at or now) >= rollout.device_deadline_s:
        device.status, device.finished_at = "stuck", now
        device.detail = f"no applied report within {rollout.device_deadline_s:g} s (last: {status or 'none'})"
    elif device.status == "pending" and not device.command_published and now > (device.sent_at or now):
        _send(session, rollout, device, now, sender)  # the broker did not take it last time: try again


def _halt(rollout: RolloutRow, devices: Sequence[RolloutDeviceRow], now: float) -> None:
    bad = [f"{d.device_id} ({d.status}: {d.detail})" for d in devices if d.status in ("failed", "stuck")]
    rollout.status = "halted"
    rollout.halted_reason = (
        f"{len(bad)} devices failed or stuck, over the failure budget of {rollout.failure_budget}: "
        + "; ".join(bad[:10])
    )[:4000]
    rollout.updated_at = now
