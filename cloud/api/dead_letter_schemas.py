"""What the API shows of dead letters: the list item, the item with its payload, and a replay's result."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

DeadLetterStatus = Literal["pending", "replayed"]


class DeadLetterPublic(BaseModel):
    """A message the ingest kept instead of storing it."""

    id: int
    received_at: datetime
    topic: str
    reason: str = Field(description="why it was not stored, a short code (also counted in /stats ingest.rejected)")
    detail: str
    message_id: str | None = Field(description="the message's id, when its payload has a valid one")
    tenant: str | None = Field(description="from the topic; None when the topic names no tenant")
    device_id: str | None
    size: int = Field(description="payload bytes")
    status: DeadLetterStatus = Field(description="replayed once a replay stored it")
    replayed_at: datetime | None
    replay_result: str | None = Field(description="what the last replay did")


class DeadLetterDetail(DeadLetterPublic):
    payload: str = Field(description="the payload as received: text if it is UTF-8, else base64")
    payload_encoding: Literal["utf-8", "base64"]


class ReplayPublic(BaseModel):
    """A replay: whether the message is now stored, why not if not, and the dead letter as it stands."""

    stored: bool
    reason: str = Field(description="empty when stored")
    detail: str
    dead_letter: DeadLetterPublic
