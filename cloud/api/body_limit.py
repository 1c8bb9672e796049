"""Refuse request bodies over the configured size (413) before a route reads them.

Binary bodies (model artifacts as `application/octet-stream`, technicians' photos as
`image/jpeg`, `image/png` or `image/webp`) may be as large as the larger of
`PAAS_MAX_ARTIFACT_BYTES` and `PAAS_MAX_ATTACHMENT_BYTES` (each route then holds its own
limit); everything else (JSON, forms) as `PAAS_MAX_REQUEST_BYTES`. A declared Content-Length over
the limit is refused at once; a chunked body is counted as it streams.
"""

from __future__ import annotations

import contextlib
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BINARY_TYPES = frozenset({"application/octet-stream", "image/jpeg", "image/png", "image/webp"})


class BodyTooLargeError(Exception):
    """Raised inside the app's receive() when the body passes the limit."""


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, max_binary_bytes: int) -> None:
        self.app, self.max_bytes, self.max_binary_bytes = app, max_bytes, max_binary_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        binary = headers.get("content-type", "").split(";")[0].strip().lower() in BINARY_TYPES
        limit = self.max_binary_bytes if binary else self.max_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(send, limit)
            return
        seen = 0
        started = refused = False

        async def counting_receive() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = True
                    raise BodyTooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # FastAPI answers a body it failed to read with its own 400; the caller gets the 413 below
            started = started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(BodyTooLargeError):  # raised through when a route read the body itself
            await self.app(scope, counting_receive, tracking_send)
        if refused and not started:
            await _refuse(send, limit)


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"the request body is over {limit} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
