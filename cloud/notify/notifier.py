"""The `Notifier` interface: one message, delivered over one channel, or a `DeliveryError` saying why not.

A notifier is told everything the message needs (`OutgoingMessage`); it reads no
database and keeps no state, so the outbox (cloud.notify.outbox) alone decides what is
sent when, and a road of retries never depends on which notifier failed. Implementations:
e-mail over SMTP (cloud.notify.email) and signed webhooks (cloud.notify.webhook).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cloud.store.notify_tables import Channel


@dataclass(frozen=True)
class OutgoingMessage:
    """What one attempt sends: the same `delivery_id` on every attempt, so a receiver can drop a repeat."""

    delivery_id: str
    channel: Channel
    address: str  # an e-mail address, or the webhook's URL
    subject: str
    text: str
    payload: Mapping[str, Any] = field(default_factory=dict)  # the webhook's JSON body
    secret: str | None = field(default=None, repr=False)  # the webhook's HMAC key


class Notifier(Protocol):
    """Delivers a message; returns once the server or receiver accepted it."""

    def send(self, message: OutgoingMessage) -> None:
        """Raise `cloud.errors.DeliveryError` (with `permanent` when retrying cannot help) if it was not accepted."""
        ...
