"""What each device should run: requested here, pushed as a signed `set_desired_state` command.

Rows are kept as history; the newest per device is the current wish. Each row is stored
with the manifest that tells the device so, signed under the device's next counter
(cloud.registry.manifests); the command carries that manifest, plus the older parameters
(model id and version, a signed artifact link, sha256 and the digest's signature) for agents
that predate manifests. The device's reported state and the over-the-air transfer belong
to the edge agent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from cloud.registry.artifact_links import ArtifactLinks
from cloud.registry.manifests import desired_settings, sign_manifest, stored_manifest
from cloud.registry.signing import Signer
from cloud.store.tables import AssetRow, DesiredStateRow, ModelArtifactRow
from contract.wire import Command

COMMAND_NAME = "set_desired_state"
PublishCommand = Callable[[Command], bool]


def request_model(
    session: Session, asset: AssetRow, model: ModelArtifactRow, requested_by: str, now: float, explanation: str,
    signer: Signer, sample_rate_hz: float | None = None,
) -> DesiredStateRow:
    """Record that `asset` should run `model` (who asked, when and why), with its signed manifest."""
    row = DesiredStateRow(
        tenant=asset.tenant,
        device_id=asset.device_id,
        model_id=model.model_id,
        model_version=model.version,
        requested_by=requested_by,
        requested_at=now,
        explanation=explanation,
        sample_rate_hz=sample_rate_hz,
    )
    # The counter first: the row's id is then taken under the counter's lock, so ids and counters grow together.
    sign_manifest(session, asset, model, desired_settings(row), signer, now).store_in(row)
    session.add(row)
    session.flush()
    return row


def desired_state_command(
    asset: AssetRow, model: ModelArtifactRow, row: DesiredStateRow, artifact_url: str, signer: Signer, now: float
) -> Command:
    """The command for `row`: its stored manifest and signature, where to fetch the model and how to check it."""
    signed = stored_manifest(row, signer)
    if signed is None:
        raise ValueError(f"desired state {row.id} has no manifest signed by key {signer.public_key.key_id}")
    params: dict[str, Any] = {
        "model_id": model.model_id,
        "model_version": model.version,
        "artifact_url": artifact_url,
        "sha256": model.sha256,
        # Signed again with today's key, so that `signing_key_id` (the manifest's key) names its key too.
        "signature": signer.sign(model.sha256),
        **signed.params(),
    }
    if row.sample_rate_hz is not None:
        params["sample_rate_hz"] = row.sample_rate_hz
    return Command(tenant=asset.tenant, device_id=asset.device_id, ts=now, name=COMMAND_NAME, params=params)


def mark_published(row: DesiredStateRow, command: Command, now: float) -> None:
    row.command_message_id = command.message_id
    row.command_published_at = now


@dataclass(frozen=True)
class CommandSender:
    """How the cloud tells a device its desired state: signed artifact links, the signing key, the publisher."""

    links: ArtifactLinks
    signer: Signer
    publish: PublishCommand | None

    def can_resend(self, row: DesiredStateRow) -> bool:
        """Whether `row` holds a manifest this sender's key signed (else a new one must be signed)."""
        return stored_manifest(row, self.signer) is not None

    def push(self, session: Session, asset: AssetRow, model: ModelArtifactRow, row: DesiredStateRow,
             now: float) -> bool:
        """Publish `row`'s command (a fresh link); once the broker took it, mark the row published and commit."""
        command = desired_state_command(asset, model, row, self.links.link(asset, model), self.signer, now)
        if self.publish is None or not self.publish(command):
            return False
        mark_published(row, command, now)
        session.commit()
        return True
