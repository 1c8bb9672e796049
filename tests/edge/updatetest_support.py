"""Shared by the over-the-air update tests: a small HTTP server with Range support and signed links, and the cloud's
signer of manifests (as cloud.registry.manifests signs them: canonical text, domain prefix, per-device counter)."""

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

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract.channels import PUMP_CHANNELS
from contract.manifest import KEY_ID_PARAM, MANIFEST_PARAM, SIGNATURE_PARAM, ModelManifest, manifest_text, signed_bytes
from contract.wire import Command
from edge.runtime import OnnxModel
from edge.updates.signing_key import SIGNING_KEY_PATH

NAMES = tuple(c.name for c in PUMP_CHANNELS)
UNITS = tuple(c.unit for c in PUMP_CHANNELS)
TENANT, DEVICE = "demo", "pump-001"  # the tests' agents (AgentSettings' default tenant, fast_settings' device)


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
            # Taken before a byte is sent: once the client has the headers, the test may already set the next cut.
            cut, server.cut_after = server.cut_after, None
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
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


class FakeHost:
    """What the updater needs of an agent: the sensors, the current window, and the swap."""

    def __init__(self, model: OnnxModel | None, window: npt.NDArray[np.float32] | None = None,
                 paced: bool = False) -> None:
        self.model, self.window, self.announced = model, window, 0
        self.paced, self.rate_hz = paced, 0.0

    def sensor_layout(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return NAMES, UNITS

    def recent_window(self, size: int) -> npt.NDArray[np.floating[Any]] | None:
        return self.window if self.window is not None and self.window.shape[0] == size else None

    def active_model(self) -> OnnxModel | None:
        return self.model

    def swap_model(self, model: OnnxModel | None) -> OnnxModel | None:
        previous, self.model = self.model, model
        return previous

    def set_sample_rate(self, rate_hz: float) -> bool:
        if self.paced:
            return False
        self.rate_hz = rate_hz
        return True

    def announce(self) -> None:
        self.announced += 1


class CloudKey:
    """The cloud's side of signing (cryptography, as cloud.registry.signing): manifests under a per-device counter."""

    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.public_raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = hashlib.sha256(self.public_raw).hexdigest()[:16]
        self.counters: dict[str, int] = {}

    def sign_manifest(self, text: str) -> str:
        return base64.b64encode(self.key.sign(signed_bytes(text))).decode()

    def next_counter(self, device_id: str) -> int:
        self.counters[device_id] = self.counters.get(device_id, 0) + 1
        return self.counters[device_id]

    def manifest(self, *, device_id: str = DEVICE, tenant: str = TENANT, counter: int | None = None,
                 content: bytes | None = None, model_id: str = "", version: str = "",
                 settings: dict[str, Any] | None = None) -> str:
        """A manifest text (the next counter of the device unless `counter` is given)."""
        model: dict[str, Any] = {}
        if content is not None:
            model = {"model_id": model_id, "version": version, "sha256": hashlib.sha256(content).hexdigest(),
                     "size_bytes": len(content)}
        return manifest_text(ModelManifest(
            tenant=tenant, device_id=device_id, issued_at=1.8e9, settings=dict(settings or {}),
            counter=self.next_counter(device_id) if counter is None else counter, **model))

    def params(self, text: str) -> dict[str, Any]:
        return {MANIFEST_PARAM: text, SIGNATURE_PARAM: self.sign_manifest(text), KEY_ID_PARAM: self.key_id}

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
                    device_id: str = DEVICE, **settings: Any) -> Command:
    """A signed `set_desired_state` for a model (and `settings`), as the cloud sends it."""
    text = signer.manifest(device_id=device_id, content=content, model_id=model_id, version=version,
                           settings=settings)
    return command({"artifact_url": url, **signer.params(text)}, device_id)


def settings_command(signer: CloudKey, device_id: str = DEVICE, **settings: Any) -> Command:
    """A signed settings-only `set_desired_state` (e.g. `sample_rate_hz=20`)."""
    return command(signer.params(signer.manifest(device_id=device_id, settings=settings)), device_id)


def command(params: dict[str, Any], device_id: str = DEVICE) -> Command:
    return Command(tenant=TENANT, device_id=device_id, ts=0.0, name="set_desired_state", params=params)
