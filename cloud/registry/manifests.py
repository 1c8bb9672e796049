"""The signed manifest of each desired state, and the per-device counter that orders them.

A device accepts a `set_desired_state` only with a manifest signed by the cloud's key whose
counter is not below the highest it accepted before (contract.manifest), so counters must
grow strictly per device, whoever asks: an operator, a detector fit, a rollout.

`manifest_counters` keeps each device's last counter. `next_counter` raises it with one
`INSERT … ON CONFLICT DO UPDATE … RETURNING` inside the caller's transaction. On PostgreSQL
that leaves the row locked until the transaction ends, so a second request for the same
device waits, then raises the committed value; SQLite has one writer at a time, and the
statement takes its write lock. Two requests can therefore never get the same counter; a
transaction that rolls back gives its counter back, together with the desired state it was
for (nothing was sent with it). A unique index on desired_state (device_id, manifest_counter)
backs this up.

The counter is taken before the desired-state row is inserted, while the lock is held, so
within one device the rows' ids grow with their counters: the newest row (the current wish)
carries the highest counter. The manifest is stored with its row, so a re-sent wish (a
rollout's retry, a device back online) carries the very same text and counter, which the
device takes for a re-delivery.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud.registry.signing import Signer
from cloud.store.tables import AssetRow, DesiredStateRow, ManifestCounterRow, ModelArtifactRow
from contract.manifest import KEY_ID_PARAM, MANIFEST_PARAM, SIGNATURE_PARAM, ModelManifest, manifest_text


@dataclass(frozen=True)
class SignedManifest:
    """A manifest text as signed, its counter, and the signature with the signing key's id."""

    counter: int
    text: str
    signature: str
    key_id: str

    def params(self) -> dict[str, str]:
        """What `set_desired_state` carries of it."""
        return {MANIFEST_PARAM: self.text, SIGNATURE_PARAM: self.signature, KEY_ID_PARAM: self.key_id}

    def store_in(self, row: DesiredStateRow) -> None:
        row.manifest_counter, row.manifest = self.counter, self.text
        row.manifest_signature, row.manifest_key_id = self.signature, self.key_id


def next_counter(session: Session, device_id: str) -> int:
    """The device's next counter, taken in the session's transaction (see above for why that is race-free)."""
    row = ManifestCounterRow
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(row)
        .values(device_id=device_id, last_counter=1)
        .on_conflict_do_update(index_elements=[row.device_id], set_={"last_counter": row.last_counter + 1})
        .returning(row.last_counter)
    )
    return int(session.execute(statement).scalar_one())


def sign_manifest(
    session: Session, asset: AssetRow, model: ModelArtifactRow, settings: dict[str, float], signer: Signer,
    now: float,
) -> SignedManifest:
    """A new manifest telling `asset` to run `model` with `settings`, under the device's next counter."""
    counter = next_counter(session, asset.device_id)
    text = manifest_text(ModelManifest(
        tenant=asset.tenant, device_id=asset.device_id, counter=counter, issued_at=now, model_id=model.model_id,
        version=model.version, sha256=model.sha256, size_bytes=model.size_bytes, settings=settings,
    ))
    return SignedManifest(counter, text, signer.sign_manifest(text), signer.public_key.key_id)


def stored_manifest(row: DesiredStateRow, signer: Signer) -> SignedManifest | None:
    """The manifest stored with `row`, if it has one signed by `signer`'s key (after a key change: None)."""
    if row.manifest_counter is None or row.manifest is None or row.manifest_signature is None:
        return None
    if row.manifest_key_id != signer.public_key.key_id:
        return None
    return SignedManifest(row.manifest_counter, row.manifest, row.manifest_signature, row.manifest_key_id)


def desired_settings(row: DesiredStateRow) -> dict[str, float]:
    """The settings a desired state asks for, as its manifest names them."""
    return {} if row.sample_rate_hz is None else {"sample_rate_hz": row.sample_rate_hz}

