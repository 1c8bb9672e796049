"""The FastAPI application: routers, error translation and the context they serve from."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from cloud.api.deps import ApiContext
from cloud.api.routers import (
    assets,
    contracts,
    detectors,
    devices,
    events,
    health,
    models,
    rollouts,
    stats,
    usage,
    work_orders,
)
from cloud.errors import (
    CalibrationError,
    ConflictError,
    InvalidArtifactError,
    InvalidDesiredStateError,
    NotFoundError,
    StoreError,
)
from cloud.maintenance.work_orders import TransitionError

API_PREFIX = "/api/v1"


def create_app(context: ApiContext) -> FastAPI:
    app = FastAPI(
        title="PaaS platform cloud API",
        version="1",
        summary="Assets, telemetry, anomaly events, maintenance work orders and the model registry.",
    )
    app.state.context = context
    routers = (assets, usage, events, work_orders, stats, models, detectors, contracts, devices, rollouts)
    for router in (module.router for module in routers):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(health.router)
    app.add_exception_handler(NotFoundError, _error_response(status.HTTP_404_NOT_FOUND))
    app.add_exception_handler(TransitionError, _error_response(status.HTTP_409_CONFLICT))
    app.add_exception_handler(ConflictError, _error_response(status.HTTP_409_CONFLICT))
    app.add_exception_handler(InvalidArtifactError, _error_response(status.HTTP_422_UNPROCESSABLE_CONTENT))
    app.add_exception_handler(CalibrationError, _error_response(status.HTTP_422_UNPROCESSABLE_CONTENT))
    app.add_exception_handler(InvalidDesiredStateError, _error_response(status.HTTP_422_UNPROCESSABLE_CONTENT))
    app.add_exception_handler(StoreError, _error_response(status.HTTP_503_SERVICE_UNAVAILABLE))
    return app


def _error_response(code: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=code, content={"detail": str(exc)})

    return handle
