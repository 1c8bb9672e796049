"""The bodies of the API's refusals, as documented in the OpenAPI schema.

Two shapes only: `ErrorOut` (`{"detail": "why"}`), what every refusal of the app's own
exception handlers and `HTTPException`s looks like, and `ValidationErrorOut`, FastAPI's
answer to a request that does not fit the schema (`{"detail": [{loc, msg, type}, …]}`).
A 422 is either: the request broke the schema, or it fits it and the service refuses it
for a reason the schema cannot state (an artifact that is not ONNX, start after end).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorOut(BaseModel):
    """A refusal: the status says what kind, `detail` says why in words."""

    detail: str


class ValidationIssue(BaseModel):
    """One part of the request that does not fit the schema."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int] = Field(description="where: body, query, path or header, then the field")
    msg: str
    type: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class ValidationErrorOut(BaseModel):
    """The request does not fit the schema (FastAPI's validation error)."""

    detail: list[ValidationIssue]


Unprocessable = ErrorOut | ValidationErrorOut
