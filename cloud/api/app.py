"""The FastAPI application: routers, the access rule of every route, middleware and error translation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, status
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.middleware.trustedhost import TrustedHostMiddleware

from cloud.api.access import check_routes
from cloud.api.body_limit import BodyLimitMiddleware
from cloud.api.deps import ApiContext
from cloud.api.routers import (
    accounts,
    assets,
    audit,
    auth,
    contracts,
    dead_letters,
    detectors,
    devices,
    directory,
    events,
    health,
    models,
    profiles,
    rollouts,
    stats,
    usage,
    work_orders,
)
from cloud.errors import (
    AuthenticationError,
    CalibrationError,
    ConflictError,
    InvalidAccountError,
    InvalidArtifactError,
    InvalidDesiredStateError,
    InvalidProfileError,
    NotFoundError,
    PermissionDeniedError,
    ScopeRequiredError,
    StoreError,
    TooManyAttemptsError,
)
from cloud.maintenance.work_orders import TransitionError

API_PREFIX = "/api/v1"
_ROUTERS = (auth, accounts, directory, assets, usage, events, work_orders, stats, models, detectors, contracts, devices,
            rollouts, audit, profiles, dead_letters)
_STATUS_OF: tuple[tuple[type[Exception], int], ...] = (
    (NotFoundError, status.HTTP_404_NOT_FOUND),
    (TransitionError, status.HTTP_409_CONFLICT),
    (ConflictError, status.HTTP_409_CONFLICT),
    (InvalidArtifactError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (CalibrationError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (InvalidDesiredStateError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (InvalidAccountError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (InvalidProfileError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (ScopeRequiredError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (PermissionDeniedError, status.HTTP_403_FORBIDDEN),
    (StoreError, status.HTTP_503_SERVICE_UNAVAILABLE),
)


def create_app(context: ApiContext) -> FastAPI:
    settings = context.settings
    app = FastAPI(
        title="PaaS platform cloud API",
        version="1",
        summary="Assets, telemetry, anomaly events, maintenance work orders and the model registry.",
        description="Sign in with `POST /api/v1/auth/token` (OAuth2 password grant) or send an API key as "
        "`Authorization: Bearer paas_…`. Each operation's `x-permission` names what the caller's role must allow.",
    )
    app.state.context = context
    # Published on the routers' own routes before inclusion: the app builds its copies of them lazily.
    for module in (*_ROUTERS, health):
        check_routes(route for route in module.router.routes if isinstance(route, APIRoute))
    for router in (module.router for module in _ROUTERS):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(health.router)
    # Every route the app serves, also one added later straight to the app (included routers are lazy wrappers).
    served = (context.original_route for context in iter_route_contexts(app.routes))
    check_routes(route for route in served if isinstance(route, APIRoute))
    for error, code in _STATUS_OF:
        app.add_exception_handler(error, _error_response(code))
    app.add_exception_handler(AuthenticationError, _unauthenticated)
    app.add_exception_handler(TooManyAttemptsError, _too_many)
    # Added last = outermost: a wrong Host or an oversized body never reaches a route.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes,
                       max_binary_bytes=max(settings.max_request_bytes, settings.max_artifact_bytes + 1024))
    if settings.cors_origin_list:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origin_list, allow_credentials=False,
                           allow_methods=["GET", "POST", "PUT", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.trusted_hosts)
    return app


def _error_response(code: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=code, content={"detail": str(exc)})

    return handle


async def _unauthenticated(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(status_code=status.HTTP_401_UNAUTHORIZED, content={"detail": str(exc)},
                        headers={"WWW-Authenticate": "Bearer"})


async def _too_many(_request: Request, exc: Exception) -> JSONResponse:
    retry = exc.retry_after_s if isinstance(exc, TooManyAttemptsError) else 60.0
    return JSONResponse(status_code=status.HTTP_429_TOO_MANY_REQUESTS, content={"detail": str(exc)},
                        headers={"Retry-After": str(int(retry + 0.999))})
