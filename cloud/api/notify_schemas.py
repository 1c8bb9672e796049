"""What the API takes and shows of contact points and notifications.

A webhook's signing secret appears in one answer only: the one that made it (the first
webhook contact, or `rotate_secret`). Addresses are checked by the schema itself, so a
mail header or a request line can never be smuggled in through one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictBool

from cloud.store.notify_tables import EMAIL_LEN, URL_LEN, Channel, NotificationKind, NotificationStatus, RecipientKind

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$"
_URL_CHARS = r"A-Za-z0-9._~!$&'()*+,;=:@%/-"
WEBHOOK_URL_PATTERN = rf"^https?://[A-Za-z0-9.-]+(?::[0-9]{{1,5}})?(?:/[{_URL_CHARS}]*)?(?:\?[{_URL_CHARS}?]*)?$"

EmailAddress = Annotated[str, Field(max_length=EMAIL_LEN, pattern=EMAIL_PATTERN, examples=["tess@field.example"])]
WebhookUrl = Annotated[str, Field(max_length=URL_LEN, pattern=WEBHOOK_URL_PATTERN,
                                  examples=["https://hooks.initech.example/paas"])]


class TechnicianContactUpdate(BaseModel):
    """Where the technician is told of new assignments."""

    email: EmailAddress


class TechnicianContactPublic(BaseModel):
    technician_id: int
    email: str | None = Field(description="null: none set, and the technician is not told of assignments")
    updated_at: datetime | None


class CustomerEmailContact(BaseModel):
    """Tell the customer by e-mail."""

    channel: Literal["email"]
    email: EmailAddress


class CustomerWebhookContact(BaseModel):
    """Tell the customer by a POST signed with HMAC-SHA256 (docs/field.md, "Notifications")."""

    channel: Literal["webhook"]
    webhook_url: WebhookUrl
    rotate_secret: StrictBool = Field(default=False,
                                      description="make a new signing secret (the first one is made anyway)")


CustomerContactUpdate = Annotated[CustomerEmailContact | CustomerWebhookContact, Field(discriminator="channel")]


class CustomerContactPublic(BaseModel):
    customer_id: int
    channel: Channel | None = Field(description="null: none set, and the customer is not told of visits")
    email: str | None
    webhook_url: str | None
    webhook_secret: str | None = Field(
        default=None, description="only in the answer that made it: keep it now, it is not shown again")
    updated_at: datetime | None


class NotificationPublic(BaseModel):
    """One notification in the outbox and how sending it went."""

    id: int
    tenant: str
    kind: NotificationKind
    recipient_kind: RecipientKind
    recipient_id: int
    order_id: int | None
    channel: Channel | None = Field(description="null: the recipient had no contact point")
    address: str | None
    status: NotificationStatus
    attempts: int
    next_attempt_at: datetime | None = Field(description="when pending: the next attempt")
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
