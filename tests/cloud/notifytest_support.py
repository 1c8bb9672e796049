"""Real receivers for the notification tests: an SMTP server (aiosmtpd) and an HTTP webhook receiver, on free ports.

Both can be started late (the sender meets a server that is down first) and record what
they received as it arrived, raw, so the tests check headers and bodies themselves.
"""

from __future__ import annotations

import email
import email.policy
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from cloud.broker import free_port


@dataclass
class SmtpSink:
    """An SMTP server that keeps every message it accepted; `login` set: it requires that user and password."""

    port: int = field(default_factory=free_port)
    login: tuple[str, str] | None = None
    tls: ssl.SSLContext | None = None  # with `implicit_tls`: TLS from the first byte; else offered as STARTTLS
    implicit_tls: bool = False
    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    _controller: Controller | None = None

    async def handle_DATA(self, _server: Any, _session: Session, envelope: Envelope) -> str:  # noqa: N802 (aiosmtpd)
        content = envelope.original_content or b""
        self.messages.append(email.message_from_bytes(content, policy=email.policy.default))
        self.envelopes.append((str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos]))
        return "250 Message accepted for delivery"

    def _authenticate(self, _server: Any, _session: Session, _envelope: Envelope, mechanism: str,
                      data: Any) -> AuthResult:
        ok = (isinstance(data, LoginPassword) and self.login is not None
              and (data.login.decode(), data.password.decode()) == self.login)
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        kwargs: dict[str, Any] = {}
        if self.login is not None:
            # With STARTTLS a login is required after it; otherwise offered, and used when the client is configured
            # to (aiosmtpd does not count implicit TLS as TLS for AUTH, and warns when AUTH is required without).
            starttls = self.tls is not None and not self.implicit_tls
            kwargs = {"authenticator": self._authenticate, "auth_required": starttls, "auth_require_tls": starttls}
        if self.tls is not None:
            kwargs |= {"ssl_context": self.tls} if self.implicit_tls else {"tls_context": self.tls,
                                                                            "require_starttls": True}
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@contextmanager
def smtp_sink(started: bool = True, login: tuple[str, str] | None = None, tls: ssl.SSLContext | None = None,
              implicit_tls: bool = False) -> Iterator[SmtpSink]:
    sink = SmtpSink(login=login, tls=tls, implicit_tls=implicit_tls)
    if started:
        sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    """An HTTP server that records each POST and answers `status` (settable: a receiver failing for a while)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.status = 200
        self.received: list[Received] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/paas?token=receiver-own"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)


@contextmanager
def webhook_receiver(started: bool = True) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    if started:
        receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    """The SMTP server's side of TLS, with a certificate for localhost and 127.0.0.1."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
