"""The TLS client context of MQTT connections (stdlib `ssl`, handed to paho with `tls_set_context`)."""

from __future__ import annotations

import ssl

from edge.errors import LinkError


class _ClosingSSLSocket(ssl.SSLSocket):
    """Closes itself when the handshake fails: paho drops such a socket unclosed (a leak at every retry)."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def client_tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Verification on, host name included; trusted: `ca_file`, else the system's CAs."""
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    except (OSError, ValueError) as exc:  # unreadable or malformed CA file
        raise LinkError(f"cannot use the CA file {ca_file}: {exc}") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.sslsocket_class = _ClosingSSLSocket
    return context
