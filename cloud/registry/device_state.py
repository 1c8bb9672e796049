"""A device's desired and reported state, and setting the desired one (planner or rollout) or sending it again.

Desired: the newest `desired_state` row (model, optional sample rate, who asked and
when). Reported: what the device's retained state says, as the ingest keeps it on
the asset row (model, and the agent's `update_status` / `update_target` /
`update_detail` health keys, see edge.updates). In sync: the device runs the desired
model and its agent does not report the update as still in progress or failed.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.errors import InvalidDesiredStateError
from cloud.registry.desired_state import CommandSender, request_model
from cloud.registry.store import get_model
from cloud.store.scope import Scope
from cloud.store.tables import AssetRow, DesiredStateRow, ModelArtifactRow

EDGE_MODEL_KINDS = ("anomaly", "rul")  # what edge agents run (edge.agent refuses other kinds)
APPLIED = "applied"


@dataclass(frozen=True)
class Reported:
    model_id: str
    model_version: str
    update_status: str | None
    update_target: str | None
    update_detail: str | None
    at: float | None
    online: bool
    sample_rate_hz: float | None = None

    def runs(self, model_id: str, version: str) -> bool:
        return (self.model_id, self.model_version) == (model_id, version)

    def about(self, model_id: str, version: str) -> bool:
        """Whether the update status speaks of this model (an older agent reports no target: assume so)."""
        return self.update_target in (None, f"{model_id}@{version}")


@dataclass(frozen=True)
class DeviceState:
    device_id: str
    desired: DesiredStateRow | None
    reported: Reported
    in_sync: bool


def reported_state(asset: AssetRow) -> Reported:
    health = asset.health or {}

    def text(key: str) -> str | None:
        value = health.get(key)
        return None if value is None else str(value)

    rate = health.get("sample_rate_hz")
    return Reported(asset.model_id, asset.model_version, text("update_status"), text("update_target"),
                    text("update_detail"), asset.state_ts, asset.online,
                    float(rate) if isinstance(rate, int | float) else None)


def current_desired(session: Session, device_id: str) -> DesiredStateRow | None:
    query = sa.select(DesiredStateRow).where(DesiredStateRow.device_id == device_id)
    return session.scalars(query.order_by(DesiredStateRow.id.desc()).limit(1)).first()


def device_state(session: Session, asset: AssetRow) -> DeviceState:
    desired, reported = current_desired(session, asset.device_id), reported_state(asset)
    return DeviceState(asset.device_id, desired, reported, in_sync(desired, reported))


def in_sync(desired: DesiredStateRow | None, reported: Reported) -> bool:
    if desired is None:
        return True  # nothing was asked for
    if not reported.runs(desired.model_id, desired.model_version):
        return False
    # An agent reports the rate it samples at; one too old to report it is taken at its word.
    rate = desired.sample_rate_hz
    if rate is not None and reported.sample_rate_hz is not None and abs(reported.sample_rate_hz - rate) > 1e-9:
        return False
    return reported.update_status in (None, APPLIED) or not reported.about(desired.model_id, desired.model_version)


def check_model_fits(asset: AssetRow, model: ModelArtifactRow) -> None:
    """`InvalidDesiredStateError` unless the device can run `model` (kind, asset kind, channels if known)."""
    where = f"model {model.model_id} version {model.version}"
    if model.kind not in EDGE_MODEL_KINDS:
        raise InvalidDesiredStateError(
            f"{where} is a {model.kind!r} model; edge agents run {' and '.join(EDGE_MODEL_KINDS)} models"
        )
    if asset.asset_kind and model.asset_kind != asset.asset_kind:
        raise InvalidDesiredStateError(
            f"{where} is for {model.asset_kind!r} assets; {asset.device_id} is a {asset.asset_kind!r}"
        )
    known = [(c["name"], c["unit"]) for c in asset.channels]
    wanted = [(c["name"], c["unit"]) for c in model.channels]
    if known and known != wanted:
        raise InvalidDesiredStateError(f"{where} expects channels {wanted}; {asset.device_id} sends {known}")


@dataclass(frozen=True)
class DesiredChange:
    model_id: str
    model_version: str
    requested_by: str
    explanation: str
    sample_rate_hz: float | None = None


def set_desired(
    session: Session, asset: AssetRow, change: DesiredChange, sender: CommandSender, now: float
) -> DesiredStateRow:
    """Record the wish under a newly signed manifest and publish `set_desired_state`; 404/422 errors before anything
    is stored.

    The model is looked up in the asset's own tenant: a device never runs another tenant's model.
    """
    model = get_model(session, Scope(asset.tenant), change.model_id, change.model_version)
    check_model_fits(asset, model)
    row = request_model(session, asset, model, change.requested_by, now, change.explanation, sender.signer,
                        change.sample_rate_hz)
    # Committed before the device hears of it, so what it is told to fetch is there to fetch.
    session.commit()
    sender.push(session, asset, model, row, now)
    return row


def resend_desired(session: Session, asset: AssetRow, row: DesiredStateRow, sender: CommandSender, now: float) -> bool:
    """Publish `row` again with the manifest stored with it (same text, same counter: a re-delivery to the device);
    whether the broker took it. The caller checks `sender.can_resend(row)` first."""
    model = get_model(session, Scope(asset.tenant), row.model_id, row.model_version)
    return sender.push(session, asset, model, row, now)
