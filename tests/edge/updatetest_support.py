"""Shared by the over-the-air update tests: a small HTTP server with Range support and signed links, and a signer."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract.wire import Command
from edge.updates.signing_key import SIGNING_KEY_PATH


@dataclass
class ArtifactServer:
    """Serves `files` (path -> bytes) and the signing key; records each request's Range header.

    With `token` set it is the cloud behind a signed link: every request, the signing
    key's included, must carry `?token=<token>`, else it is answered `refuse_code`
    (401); `add` then hands out links with the token. `requests` records every
    request's path and query.
    """

    files: dict[str, bytes] = field(default_factory=dict)
    ranges: list[str | None] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    token: str | None = None
    refuse_code: int = 401
    cut_after: int | None = None  # the next response breaks off after this many body bytes
    ignore_range: bool = False
    signing_key: dict[str, Any] | None = None
    url: str = ""

    def add(self, name: str, content: bytes) -> str:
        self.files[f"/{name}"] = content
        return f"{self.url}/{name}" + (f"?token={self.token}" if self.token is not None else "")


def _handler(server: ArtifactServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:  # keep pytest's output clean
            return

        def do_GET(self) -> None:
            server.requests.append(self.path)
            path, _, query = self.path.partition("?")
            if server.token is not None and urllib.parse.parse_qs(query).get("token") != [server.token]:
                self._send(server.refuse_code, b"a valid token is required", {})
                return
            if path == SIGNING_KEY_PATH and server.signing_key is not None:
                self._send(200, json.dumps(server.signing_key).encode(), {})
                return
            content = server.files.get(path)
            if content is None:
                self._send(404, b"not found", {})
                return
            wanted = self.headers.get("Range")
            server.ranges.append(wanted)
            first = int(wanted.removeprefix("bytes=").rstrip("-")) if wanted and not server.ignore_range else 0
            if first >= len(content) and wanted:
                self._send(416, b"", {"Content-Range": f"bytes */{len(content)}"})
                return
            headers = {"Content-Range": f"bytes {first}-{len(content) - 1}/{len(content)}"} if first else {}
            self._send(206 if first else 200, content[first:], headers)

        def _send(self, code: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            cut, server.cut_after = server.cut_after, None
            self.wfile.write(body if cut is None else body[:cut])
            if cut is not None:
                self.close_connection = True

    return Handler


@contextmanager
def artifact_server() -> Iterator[ArtifactServer]:
    state = ArtifactServer()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


class CloudKey:
    """The cloud's side of signing (cryptography), as cloud.registry.signing does it."""

    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.public_raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = hashlib.sha256(self.public_raw).hexdigest()[:16]

    def sign(self, content: bytes) -> str:
        return base64.b64encode(self.key.sign(hashlib.sha256(content).digest())).decode()

    def endpoint_json(self) -> dict[str, Any]:
        return {"algorithm": "Ed25519", "key_id": self.key_id, "public_key": base64.b64encode(self.public_raw).decode()}

    def pem(self) -> str:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def write_pem(self, path: Path) -> Path:
        path.write_text(self.pem())
        return path


def desired_command(url: str, content: bytes, signer: CloudKey, model_id: str, version: str,
                    **extra: Any) -> Command:
    params = {
        "model_id": model_id, "model_version": version, "artifact_url": url,
        "sha256": hashlib.sha256(content).hexdigest(), "signature": signer.sign(content),
        "signing_key_id": signer.key_id, **extra,
    }
    return Command(tenant="demo", device_id="pump-001", ts=0.0, name="set_desired_state", params=params)
