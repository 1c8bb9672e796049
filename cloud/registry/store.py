"""The model registry's rows: register a validated artifact once, find and list versions.

A version is immutable: registering the same id and version again is harmless when
the bytes are identical (an upload retried over a weak link) and a `ConflictError`
when they differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, undefer

from cloud.errors import ConflictError, NotFoundError
from cloud.registry.artifacts import ArtifactDescription
from cloud.registry.signing import Signer
from cloud.store.scope import Scope
from cloud.store.tables import ModelArtifactRow


@dataclass(frozen=True)
class Registration:
    """A registered version, and whether this call added it (False: the same bytes were there already)."""

    row: ModelArtifactRow
    created: bool


def register_artifact(
    session: Session,
    tenant: str,
    artifact: ArtifactDescription,
    signer: Signer,
    now: float,
    registered_by: str,
    device_id: str | None = None,
) -> Registration:
    """Store `artifact` in `tenant`'s registry, signed by `signer`; `ConflictError` if its id+version holds other
    bytes."""
    existing = session.get(ModelArtifactRow, (tenant, artifact.model_id, artifact.version))
    if existing is not None:
        return Registration(_same_or_conflict(existing, artifact), created=False)
    row = _row(tenant, artifact, signer, now, registered_by, device_id)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        # Another request registered this version between the check and the insert; the caller may retry.
        raise ConflictError(
            f"model {artifact.model_id} version {artifact.version} was registered concurrently; retry to compare"
        ) from None
    return Registration(row, created=True)


def _row(
    tenant: str, artifact: ArtifactDescription, signer: Signer, now: float, registered_by: str, device_id: str | None
) -> ModelArtifactRow:
    return ModelArtifactRow(
        tenant=tenant,
        model_id=artifact.model_id,
        version=artifact.version,
        kind=artifact.kind,
        asset_kind=artifact.asset_kind,
        device_id=device_id,
        channels=[{"name": name, "unit": unit} for name, unit in artifact.channels],
        window=artifact.window,
        normalisation=artifact.normalisation,
        threshold=artifact.threshold,
        training_fingerprint=artifact.training_fingerprint,
        metrics=artifact.metrics,
        created_at=artifact.created_at,
        registered_at=now,
        registered_by=registered_by,
        size_bytes=len(artifact.content),
        sha256=artifact.sha256,
        signature=signer.sign(artifact.sha256),
        signing_key_id=signer.public_key.key_id,
        meta=artifact.metadata,
        content=artifact.content,
    )


def _same_or_conflict(existing: ModelArtifactRow, artifact: ArtifactDescription) -> ModelArtifactRow:
    if existing.sha256 != artifact.sha256:
        raise ConflictError(
            f"model {artifact.model_id} version {artifact.version} is registered with other bytes "
            f"(sha256 {existing.sha256[:12]}…, this upload {artifact.sha256[:12]}…); versions are immutable, "
            "register a new version"
        )
    return existing


def get_model(session: Session, scope: Scope, model_id: str, version: str) -> ModelArtifactRow:
    """The version in the scope's tenant (a platform administrator gets the first tenant's, by name)."""
    row = session.scalars(_version(scope, model_id, version)).first()
    if row is None:
        raise NotFoundError(f"model {model_id!r} version {version!r} is not registered")
    return row


def model_content(session: Session, scope: Scope, model_id: str, version: str) -> tuple[ModelArtifactRow, bytes]:
    """The version's row with its ONNX bytes (loaded only here: listings never read them)."""
    row = session.scalars(_version(scope, model_id, version).options(undefer(ModelArtifactRow.content))).first()
    if row is None:
        raise NotFoundError(f"model {model_id!r} version {version!r} is not registered")
    return row, row.content


def _version(scope: Scope, model_id: str, version: str) -> sa.Select[ModelArtifactRow]:
    return (
        sa.select(ModelArtifactRow)
        .where(scope.tenant_clause(ModelArtifactRow.tenant), ModelArtifactRow.model_id == model_id,
               ModelArtifactRow.version == version)
        .order_by(ModelArtifactRow.tenant)
        .limit(1)
    )


def list_models(
    session: Session,
    scope: Scope,
    kind: str | None = None,
    asset_kind: str | None = None,
    device_id: str | None = None,
    limit: int = 100,
) -> Sequence[ModelArtifactRow]:
    """Registered versions in the scope's tenant matching the filters, newest registration first."""
    query = sa.select(ModelArtifactRow).where(scope.tenant_clause(ModelArtifactRow.tenant))
    if kind is not None:
        query = query.where(ModelArtifactRow.kind == kind)
    if asset_kind is not None:
        query = query.where(ModelArtifactRow.asset_kind == asset_kind)
    if device_id is not None:
        query = query.where(ModelArtifactRow.device_id == device_id)
    order = (ModelArtifactRow.registered_at.desc(), ModelArtifactRow.model_id, ModelArtifactRow.version.desc())
    return session.scalars(query.order_by(*order).limit(limit)).all()


def next_version(session: Session, tenant: str, model_id: str) -> str:
    """The next whole-number version of `model_id` ("1" for a new one); other version styles are skipped."""
    versions = session.scalars(
        sa.select(ModelArtifactRow.version)
        .where(ModelArtifactRow.tenant == tenant, ModelArtifactRow.model_id == model_id)
    )
    numbers = [int(v) for v in versions if v.isdigit()]
    return str(max(numbers, default=0) + 1)
