"""The model registry: register signed ONNX artifacts, list and describe versions, download the bytes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.byte_ranges import UnsatisfiableRangeError, if_range_matches, parse_range
from cloud.api.deps import ArtifactBodyDep, NowDep, SessionDep, SignerDep
from cloud.api.model_schemas import (
    ChannelSpec,
    FieldPrecisionPublic,
    InputSchema,
    ModelKind,
    ModelPublic,
    SigningKeyPublic,
)
from cloud.api.params import NAME_PATTERN, ModelIdPath, VersionPath
from cloud.api.responses import RETRY_LATER
from cloud.api.timestamps import utc
from cloud.audit.trail import Change
from cloud.auth.principal import Principal
from cloud.auth.roles import Permission
from cloud.errors import NotFoundError
from cloud.maintenance.findings import field_precision
from cloud.registry.artifact_links import artifact_path
from cloud.registry.artifacts import describe_artifact
from cloud.registry.signing import ALGORITHM, SIGNED_MESSAGES
from cloud.registry.store import get_model, list_models, model_content, register_artifact
from cloud.store.scope import Scope
from cloud.store.tables import ModelArtifactRow

router = APIRouter(prefix="/models", tags=["models"])

_READ = allow(Permission.MODELS_READ)
_TENANT = Query(pattern=NAME_PATTERN, max_length=64,
                description="platform administrators: only this tenant's (others: their own)")
_UPLOAD = {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
_DOWNLOAD = {"content": {"application/octet-stream": {}}, "description": "the ONNX bytes, or the requested range"}


@router.post(
    "",
    dependencies=[allow(Permission.MODELS_WRITE)],
    status_code=status.HTTP_201_CREATED,
    openapi_extra={"requestBody": {**_UPLOAD, "required": True}},
    responses={
        200: {"description": "the same bytes were registered before (a retried upload)"},
        409: {"description": "this id and version hold other bytes (versions are immutable)"},
        413: {},
        415: {},
        422: {"description": "the artifact is refused; `detail` says why"},
        429: {**RETRY_LATER, "description": "too many uploads are being checked; try again after `Retry-After`"},
    },
)
def register_model(
    body: ArtifactBodyDep,
    session: SessionDep,
    auditor: AuditDep,
    signer: SignerDep,
    now: NowDep,
    response: Response,
    tenant: Annotated[str | None, Query(pattern=NAME_PATTERN, max_length=64,
                                        description="platform administrators only: whose")] = None,
) -> ModelPublic:
    """Register an ONNX artifact (raw bytes) in the caller's tenant: validated, hashed and signed here; id and
    version from its metadata."""
    principal = auditor.principal
    owner = principal.tenant_for(tenant)
    registration = register_artifact(session, owner, describe_artifact(body), signer, now, principal.label)
    if registration.created:
        row = registration.row
        auditor.record(Change("register", "model", f"{row.model_id}@{row.version}", owner, after={
            "kind": row.kind, "asset_kind": row.asset_kind, "sha256": row.sha256, "size_bytes": row.size_bytes}))
    session.commit()
    if not registration.created:
        response.status_code = status.HTTP_200_OK
    return model_public(registration.row)


@router.get("", dependencies=[_READ])
def read_models(
    session: SessionDep,
    principal: PrincipalDep,
    tenant: Annotated[str | None, _TENANT] = None,
    kind: ModelKind | None = None,
    asset_kind: Annotated[str | None, Query(pattern=NAME_PATTERN, max_length=64)] = None,
    device: Annotated[str | None, Query(pattern=NAME_PATTERN, max_length=64,
                                        description="models fitted for this asset (device id)")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[ModelPublic]:
    """Registered model versions, newest registration first."""
    scope = principal.narrowed(tenant)
    return [model_public(row) for row in list_models(session, scope, kind, asset_kind, device, limit)]


@router.get("/signing-key", dependencies=[allow(Permission.SIGNING_KEY_READ)])
def read_signing_key(signer: SignerDep) -> SigningKeyPublic:
    """The public key that `set_desired_state` manifests (and artifact digests) verify against.

    Devices get it from their provisioning bundle (`signing-key.pem`), not from here: this shows it, to compare.
    """
    key = signer.public_key
    return SigningKeyPublic(
        algorithm=ALGORITHM,
        key_id=key.key_id,
        public_key=key.raw_base64,
        public_key_pem=key.pem,
        signed_message=SIGNED_MESSAGES,
    )


@router.get("/field-precision", dependencies=[_READ])
def read_field_precision(session: SessionDep, principal: PrincipalDep) -> list[FieldPrecisionPublic]:
    """Per model version: work orders completed, what technicians found, and the precision that gives."""
    return [
        FieldPrecisionPublic(
            model_id=p.model_id,
            model_version=p.model_version,
            completed=p.completed,
            true_faults=p.true_faults,
            false_alarms=p.false_alarms,
            precision=p.precision,
        )
        for p in field_precision(session, principal.scope)
    ]


@router.get("/{model_id}/versions/{version}", dependencies=[_READ], responses={404: {}})
def read_model(
    model_id: ModelIdPath, version: VersionPath, session: SessionDep, principal: PrincipalDep,
    tenant: Annotated[str | None, _TENANT] = None,
) -> ModelPublic:
    """One model version: its input schema, threshold, metrics, digest and signature."""
    return model_public(get_model(session, principal.narrowed(tenant), model_id, version))


@router.get(
    "/{model_id}/versions/{version}/artifact",
    response_class=Response,
    dependencies=[allow(Permission.ARTIFACTS_DOWNLOAD)],
    responses={200: _DOWNLOAD, 206: _DOWNLOAD, 404: {},
               416: {"description": "the range lies outside the artifact",
                     "content": {"application/octet-stream": {}}}},
)
def download_artifact(
    model_id: ModelIdPath,
    version: VersionPath,
    session: SessionDep,
    principal: PrincipalDep,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_range: Annotated[str | None, Header(alias="If-Range")] = None,
    tenant: Annotated[str | None, _TENANT] = None,
) -> Response:
    """The ONNX bytes, with `X-Content-SHA256` and `X-Signature-Ed25519`; `Range: bytes=N-` resumes a download.

    Devices authenticate with the signed link they were sent (`?token=`), valid for that model version only.
    """
    row, content = model_content(session, _download_scope(principal, model_id, version, tenant), model_id, version)
    etag = f'"{row.sha256}"'
    headers = {
        "X-Content-SHA256": row.sha256,
        "X-Signature-Ed25519": row.signature,
        "X-Signing-Key-Id": row.signing_key_id,
        "ETag": etag,
        "Accept-Ranges": "bytes",
        # A version never changes, so any cache may keep it.
        "Cache-Control": "public, max-age=31536000, immutable",
    }
    media = "application/octet-stream"
    try:
        wanted = parse_range(range_header, len(content)) if if_range_matches(if_range, etag) else None
    except UnsatisfiableRangeError:
        headers["Content-Range"] = f"bytes */{len(content)}"
        return Response(status_code=status.HTTP_416_RANGE_NOT_SATISFIABLE, headers=headers, media_type=media)
    if wanted is None:
        return Response(content, headers=headers, media_type=media)
    headers["Content-Range"] = wanted.content_range(len(content))
    part = content[wanted.first : wanted.last + 1]
    return Response(part, status_code=status.HTTP_206_PARTIAL_CONTENT, headers=headers, media_type=media)


def _download_scope(principal: Principal, model_id: str, version: str, tenant: str | None) -> Scope:
    grant = principal.artifact
    if grant is not None and (grant.model_id, grant.version) != (model_id, version):
        raise NotFoundError(f"model {model_id!r} version {version!r} is not registered")
    return principal.narrowed(tenant)


def model_public(row: ModelArtifactRow) -> ModelPublic:
    return ModelPublic(
        tenant=row.tenant,
        id=row.model_id,
        version=row.version,
        kind=row.kind,  # type: ignore[arg-type]  # registration admits only these
        asset_kind=row.asset_kind,
        device_id=row.device_id,
        input=InputSchema(
            channels=[ChannelSpec(name=c["name"], unit=c["unit"]) for c in row.channels],
            window=row.window,
            normalisation=row.normalisation,
        ),
        threshold=row.threshold,
        training_fingerprint=row.training_fingerprint,
        metrics=row.metrics,
        created_at=row.created_at,
        registered_at=utc(row.registered_at),
        registered_by=row.registered_by,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        signature=row.signature,
        signing_key_id=row.signing_key_id,
        artifact_path=artifact_path(row.model_id, row.version),
    )
