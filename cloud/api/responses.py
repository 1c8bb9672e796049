"""Which refusals each route documents, decided in one place from what the route is.

A route's decorator names only what is particular to it (409 when a name is taken, 416
for a range outside the artifact). Everything that follows from its shape is added here,
so the OpenAPI document lists every status the route can answer:

- every route: 503 when a store does not answer (`StoreError`);
- a route with an access rule: 401 without a valid credential, 403 when the caller's role
  lacks the permission (`x-permission`);
- one that names an object (a path parameter, a `tenant`, an `…_id` in its body): 404 when
  it does not exist or belongs to another tenant;
- one that takes parameters or a body: 422 (the request breaks the schema, or the service
  refuses what it asks for: `detail` says why);
- one that takes a body: 400 (a body that cannot be decoded) and 413 (too large).

Each error status without a body of its own is given `ErrorOut`.
"""

from __future__ import annotations

from typing import Any, get_args

from fastapi.dependencies.utils import get_flat_params
from fastapi.params import Query
from fastapi.routing import APIRoute
from pydantic import BaseModel

from cloud.api.error_schemas import ErrorOut, Unprocessable

_BEARER_CHALLENGE = {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}}
STORE_DOWN: dict[str, Any] = {"description": "a store does not answer; try again later"}
UNAUTHENTICATED: dict[str, Any] = {"description": "no valid credential (access token or API key)",
                                   "headers": _BEARER_CHALLENGE}
FORBIDDEN: dict[str, Any] = {"description": "the caller's role lacks this operation's `x-permission`"}
NOT_FOUND: dict[str, Any] = {"description": "it does not exist, or belongs to another tenant"}
UNPROCESSABLE: dict[str, Any] = {"model": Unprocessable,
                                 "description": "the request does not fit the schema, or is refused: `detail` says why"}
UNREADABLE_BODY: dict[str, Any] = {"description": "the body cannot be decoded"}
TOO_LARGE: dict[str, Any] = {"description": "the body is over the size limit"}
# For a route's own `responses`: refused for now (`RetryLaterError`: sign-ins throttled, intake busy).
RETRY_LATER: dict[str, Any] = {"description": "too many at once; try again after `Retry-After` seconds",
                               "headers": {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}}


def document_errors(route: APIRoute, public: bool) -> None:
    """Add the statuses that follow from the route's shape to its `responses` (idempotent)."""
    declared = route.responses
    for error, common in _errors_of(route, public).items():
        declared[error] = {**common, **declared.get(error, {})}
    for code, response in declared.items():
        if int(code) >= 400 and "model" not in response and "content" not in response:
            declared[code] = {**response, "model": ErrorOut}


def _errors_of(route: APIRoute, public: bool) -> dict[int, dict[str, Any]]:
    params = get_flat_params(route.dependant)
    body = route.body_field is not None or "requestBody" in (route.openapi_extra or {})
    errors = {503: STORE_DOWN}
    if not public:
        errors |= {401: UNAUTHENTICATED, 403: FORBIDDEN}
        if _names_an_object(route, [p.alias for p in params if isinstance(p.field_info, Query)]):
            errors[404] = NOT_FOUND
    if params or body:
        errors[422] = UNPROCESSABLE
    if body:
        errors |= {400: UNREADABLE_BODY, 413: TOO_LARGE}
    return errors


def _names_an_object(route: APIRoute, queries: list[str]) -> bool:
    """Whether the request names something to look up: in its path, a `tenant` query, or a body field that is a
    tenant, an `…_id` or a list of devices."""
    body_fields = [name for model in _body_models(route) for name in model.model_fields]
    return bool(route.param_convertors) or "tenant" in queries or any(
        name == "tenant" or name.endswith("_id") or name == "devices" for name in body_fields)


def _body_models(route: APIRoute) -> list[type[BaseModel]]:
    annotation = None if route.body_field is None else route.body_field.field_info.annotation
    candidates = get_args(annotation) or (annotation,)  # an optional body is `Model | None`
    return [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
