"""The FastAPI application: routers, the access rule of every route, middleware and error translation."""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from cloud.api.access import check_routes, rule_of
from cloud.api.body_limit import BodyLimitMiddleware
from cloud.api.deps import ApiContext
from cloud.api.method_not_allowed import http_error
from cloud.api.responses import document_errors
from cloud.api.routers import (
    accounts,
    assets,
    audit,
    auth,
    consents,
    contacts,
    contracts,
    customer_data,
    customer_records,
    dead_letters,
    detectors,
    devices,
    directory,
    dispatch,
    events,
    failure_skills,
    health,
    models,
    notifications,
    offers,
    profiles,
    rollouts,
    service_contracts,
    sites,
    statements,
    stats,
    support,
    tasks,
    trust,
    usage,
    work_orders,
)
from cloud.errors import (
    AuthenticationError,
    CalibrationError,
    ConflictError,
    InvalidAccountError,
    InvalidArtifactError,
    InvalidContractError,
    InvalidDesiredStateError,
    InvalidFieldDataError,
    InvalidHelpRequestError,
    InvalidProfileError,
    InvalidWorkOrderError,
    NotFoundError,
    PermissionDeniedError,
    RetryLaterError,
    ScopeRequiredError,
    StoreError,
    TransitionError,
)

API_PREFIX = "/api/v1"
_ROUTERS = (auth, accounts, directory, assets, usage, events, work_orders, tasks, stats, models, detectors, contracts,
            devices, rollouts, audit, profiles, dead_letters, sites, failure_skills, dispatch,
            contacts, notifications, support, trust, statements, consents, offers, service_contracts,
            customer_records, customer_data)
_STATUS_OF: tuple[tuple[type[Exception], int], ...] = (
    (NotFoundError, status.HTTP_404_NOT_FOUND),
    (TransitionError, status.HTTP_409_CONFLICT),
    (ConflictError, status.HTTP_409_CONFLICT),
    (InvalidArtifactError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (CalibrationError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (InvalidDesiredStateError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (InvalidAccountError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (InvalidProfileError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (InvalidWorkOrderError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (InvalidFieldDataError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (InvalidHelpRequestError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (InvalidContractError, status.HTTP_422_UNPROCESSABLE_CONTENT),
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
        routes = [route for route in module.router.routes if isinstance(route, APIRoute)]
        check_routes(iter(routes))
        for route in routes:
            document_errors(route, public=rule_of(route).permission is None)
    for router in (module.router for module in _ROUTERS):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(health.router)
    # Every route the app serves, also one added later straight to the app (included routers are lazy wrappers).
    served = (context.original_route for context in iter_route_contexts(app.routes))
    check_routes(route for route in served if isinstance(route, APIRoute))
    for error, code in _STATUS_OF:
        app.add_exception_handler(error, _error_response(code))
    app.add_exception_handler(AuthenticationError, _unauthenticated)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(RetryLaterError, _retry_later)
    # Added last = outermost: a wrong Host or an oversized body never reaches a route.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes,
                       max_binary_bytes=max(settings.max_request_bytes, settings.max_artifact_bytes + 1024,
                                            settings.max_attachment_bytes + 1024))
    if settings.cors_origin_list:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origin_list, allow_credentials=False,
                           allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
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


class _AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: renders even an unpaired surrogate a client sent."""

    def render(self, content: object) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


async def _invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    # FastAPI's own handler echoes the input as JSON, which cannot hold a lone surrogate or the NaN and Infinity
    # Python's JSON parser reads: each was a 500 instead of this 422.
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return _AsciiJSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
                              content={"detail": _finite(jsonable_encoder(errors))})


def _finite(value: object) -> object:
    """`value` with each float that JSON cannot write (NaN, ±Infinity) written as text instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


async def _retry_later(_request: Request, exc: Exception) -> JSONResponse:
    retry = exc.retry_after_s if isinstance(exc, RetryLaterError) else 60.0
    return JSONResponse(status_code=status.HTTP_429_TOO_MANY_REQUESTS, content={"detail": str(exc)},
                        headers={"Retry-After": str(int(retry + 0.999))})
