"""What each device should run: requested here, pushed as a `set_desired_state` command.

Rows are kept as history; the newest per device is the current wish. The device's
reported state and the over-the-air transfer belong to the edge agent.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from cloud.store.tables import AssetRow, DesiredStateRow, ModelArtifactRow
from contract.wire import Command

COMMAND_NAME = "set_desired_state"


def request_model(
    session: Session, asset: AssetRow, model: ModelArtifactRow, requested_by: str, now: float, explanation: str
) -> DesiredStateRow:
    """Record that `asset` should run `model` (who asked, when and why)."""
    row = DesiredStateRow(
        tenant=asset.tenant,
        device_id=asset.device_id,
        model_id=model.model_id,
        model_version=model.version,
        requested_by=requested_by,
        requested_at=now,
        explanation=explanation,
    )
    session.add(row)
    session.flush()
    return row


def desired_state_command(asset: AssetRow, model: ModelArtifactRow, artifact_url: str, now: float) -> Command:
    """The command telling the device where to fetch the model and how to check the bytes."""
    params = {
        "model_id": model.model_id,
        "model_version": model.version,
        "artifact_url": artifact_url,
        "sha256": model.sha256,
        "signature": model.signature,
        "signing_key_id": model.signing_key_id,
    }
    return Command(tenant=asset.tenant, device_id=asset.device_id, ts=now, name=COMMAND_NAME, params=params)


def mark_published(row: DesiredStateRow, command: Command, now: float) -> None:
    row.command_message_id = command.message_id
    row.command_published_at = now
