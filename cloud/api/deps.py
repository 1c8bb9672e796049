"""Typed dependencies for the routers: the service's stores, settings, clock, signing key and command publisher."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session

from cloud.auth.sign_in import SignIn
from cloud.auth.tokens import TokenIssuer
from cloud.ingest.handler import Outcome
from cloud.ingest.stats import IngestStats
from cloud.registry.artifact_links import ArtifactLinks
from cloud.registry.signing import Signer
from cloud.settings import CloudSettings
from cloud.store.database import Database
from cloud.store.raw_readings import RawReadings
from cloud.store.timeseries import TimeSeriesStore
from contract.clock import Clock
from contract.wire import Command


@dataclass(frozen=True)
class ApiContext:
    """What the API serves from; `create_app` puts it on `app.state.context`."""

    database: Database
    timeseries: TimeSeriesStore
    settings: CloudSettings
    clock: Clock
    tokens: TokenIssuer
    sign_in: SignIn
    ingest_stats: Callable[[], IngestStats] | None = None
    broker_connected: Callable[[], bool] | None = None
    signer: Signer | None = None
    raw_readings: RawReadings | None = None
    # Publishes a command at QoS 1; False when the broker did not acknowledge it (None: no publisher).
    publish_command: Callable[[Command], bool] | None = None
    # Why the ingest cannot store messages now (None: it can); None: no ingest runs here.
    ingest_problem: Callable[[], str | None] | None = None
    # Feeds a dead letter's topic and payload through the ingest's handler again (None: no ingest here).
    replay: Callable[[str, bytes], Outcome] | None = None


def get_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


ContextDep = Annotated[ApiContext, Depends(get_context)]


def get_session(context: ContextDep) -> Iterator[Session]:
    with context.database.session() as session:
        yield session


def get_timeseries(context: ContextDep) -> TimeSeriesStore:
    return context.timeseries


def get_settings(context: ContextDep) -> CloudSettings:
    return context.settings


def get_now(context: ContextDep) -> float:
    """The request's time, from the service's clock (UTC epoch seconds)."""
    return context.clock.time()


SessionDep = Annotated[Session, Depends(get_session)]
TimeSeriesDep = Annotated[TimeSeriesStore, Depends(get_timeseries)]
SettingsDep = Annotated[CloudSettings, Depends(get_settings)]
NowDep = Annotated[float, Depends(get_now)]


def get_signer(context: ContextDep) -> Signer:
    if context.signer is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="this service has no model signing key")
    return context.signer


def get_replay(context: ContextDep) -> Callable[[str, bytes], Outcome]:
    if context.replay is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="this service runs no ingest to replay with")
    return context.replay


def get_raw_readings(context: ContextDep) -> RawReadings:
    if context.raw_readings is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail="this service cannot read stored readings")
    return context.raw_readings


async def read_artifact_body(request: Request, context: ContextDep) -> bytes:
    """The request body as raw ONNX bytes, refused early when too large or not application/octet-stream."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/octet-stream":
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail="send the ONNX file's bytes as application/octet-stream"
        )
    return await read_limited(request, context.settings.max_artifact_bytes, "artifacts")


async def read_limited(request: Request, limit: int, what: str) -> bytes:
    """The request body, refused (413) as soon as its declared or streamed size passes `limit`."""
    too_large = HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=f"{what} are limited to {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def get_links(request: Request, context: ContextDep) -> ArtifactLinks:
    """Artifact links under PAAS_PUBLIC_API_URL, or else the URL this request came to."""
    return ArtifactLinks(context.settings.public_api_url or str(request.base_url), context.tokens)


LinksDep = Annotated[ArtifactLinks, Depends(get_links)]
SignerDep = Annotated[Signer, Depends(get_signer)]
RawReadingsDep = Annotated[RawReadings, Depends(get_raw_readings)]
ReplayDep = Annotated[Callable[[str, bytes], Outcome], Depends(get_replay)]
ArtifactBodyDep = Annotated[bytes, Depends(read_artifact_body)]
