"""Webhook notifications: a JSON POST signed with the customer's secret (HMAC-SHA256).

Headers a receiver checks:
- `X-Paas-Timestamp`: seconds since the epoch when this attempt was signed; refuse one far
  from your clock (e.g. over 5 minutes) so a captured request cannot be replayed later.
- `X-Paas-Signature: sha256=<hex>`: HMAC-SHA256 under the secret of `timestamp + "." + body`
  (the raw body bytes); compare in constant time.
- `X-Paas-Delivery-Id`: the same on every attempt of one notification; keep the ids seen
  (for longer than the retry horizon) and acknowledge a repeat without acting on it again.

Any 2xx accepts. 408, 429 and 5xx (and no answer) are retried; any other answer is a
permanent refusal. Redirects are not followed (the signature names no URL, and a
redirect to another host would hand it the body).

A webhook URL is set by a tenant's planner, so outside `PAAS_ENV=local` the notifier
refuses what would turn it into a way into the service's own network: plain `http://`,
and a host that resolves to a loopback, private, link-local or otherwise non-public
address (a cloud's metadata service, a database next door). The check resolves the name
before each attempt; a name that changes its answer between the check and the request
(DNS rebinding) is not caught: an egress proxy or firewall is the complete answer.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
from urllib.parse import urlsplit

import httpx

from cloud.errors import DeliveryError
from cloud.notify.notifier import OutgoingMessage
from contract.clock import Clock

TIMESTAMP_HEADER = "X-Paas-Timestamp"
SIGNATURE_HEADER = "X-Paas-Signature"
DELIVERY_HEADER = "X-Paas-Delivery-Id"
_RETRIED = frozenset({408, 429})


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Paas-Signature` value of `body` signed at `timestamp`."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def body_of(message: OutgoingMessage) -> bytes:
    """The exact bytes posted (compact, keys sorted: the same message always reads the same)."""
    return json.dumps(dict(message.payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookNotifier:
    """POSTs each message's payload to its URL, signed; `transport` lets a test or a proxy set-up route requests."""

    def __init__(self, clock: Clock, timeout_s: float = 10.0, transport: httpx.BaseTransport | None = None,
                 private_ok: bool = False) -> None:
        self._clock, self._timeout, self._transport, self._private_ok = clock, timeout_s, transport, private_ok

    def send(self, message: OutgoingMessage) -> None:
        if not message.secret:
            raise DeliveryError("the webhook has no signing secret (set the customer's contact again)",
                                permanent=True)
        body = body_of(message)
        timestamp = str(int(self._clock.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(message.secret, timestamp, body),
            DELIVERY_HEADER: message.delivery_id,
            "User-Agent": "paas-notify/1",
        }
        # Only scheme and host in messages: a URL's path or query may hold the receiver's own token.
        parts = urlsplit(message.address)
        where = f"webhook {parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        if not self._private_ok:
            _check_public(where, parts.scheme, parts.hostname or "", parts.port)
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport, follow_redirects=False) as client:
                response = client.post(message.address, content=body, headers=headers)
        except (httpx.HTTPError, ValueError) as exc:
            raise DeliveryError(f"{where}: {type(exc).__name__}") from exc
        if response.is_success:
            return
        retried = response.status_code in _RETRIED or response.status_code >= 500
        raise DeliveryError(f"{where} answered {response.status_code}", permanent=not retried)


def _check_public(where: str, scheme: str, host: str, port: int | None) -> None:
    """Refuse (permanently) plain HTTP and a host with any non-public address."""
    if scheme != "https":
        raise DeliveryError(f"{where}: only https:// webhooks are sent outside PAAS_ENV=local", permanent=True)
    try:
        answers = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise DeliveryError(f"{where}: cannot resolve the host: {exc}") from None
    for *_family, sockaddr in answers:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if not address.is_global:
            raise DeliveryError(f"{where}: resolves to {address}, not a public address; refused", permanent=True)
