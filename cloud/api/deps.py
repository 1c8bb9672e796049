"""Typed dependencies for the routers: the service's stores, settings and clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from cloud.ingest.stats import IngestStats
from cloud.settings import CloudSettings
from cloud.store.database import Database
from cloud.store.timeseries import TimeSeriesStore
from contract.clock import Clock


@dataclass(frozen=True)
class ApiContext:
    """What the API serves from; `create_app` puts it on `app.state.context`."""

    database: Database
    timeseries: TimeSeriesStore
    settings: CloudSettings
    clock: Clock
    ingest_stats: Callable[[], IngestStats] | None = None
    broker_connected: Callable[[], bool] | None = None


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
