"""405 with an `Allow` header that lists every method the path has.

Starlette answers a method a path does not have from the first route whose path matched,
so `OPTIONS /api/v1/users` said `Allow: GET` although the path also takes POST (GET and
POST are two routes). This handler lists the methods of all the app's routes on that path.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.status import HTTP_405_METHOD_NOT_ALLOWED


async def http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's own HTTPException handler, with the `Allow` header of a 405 completed."""
    assert isinstance(exc, HTTPException)  # registered for HTTPException only
    if exc.status_code == HTTP_405_METHOD_NOT_ALLOWED:
        methods = allowed_methods(request)
        if methods:
            exc = HTTPException(exc.status_code, exc.detail, headers={**(exc.headers or {}), "Allow": methods})
    return await http_exception_handler(request, exc)


def allowed_methods(request: Request) -> str:
    path = request.scope["path"]
    methods = {method for context in iter_route_contexts(request.app.routes)
               if (regex := getattr(context, "path_regex", None)) is not None and regex.match(path)
               for method in (context.methods or ())}
    return ", ".join(sorted(methods))
