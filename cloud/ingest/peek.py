"""What can be read of a message the ingest refuses: whose it is and which of the device's rows it carries.

A refused message is kept as a dead letter and, once kept, confirmed to its device so the
device stops re-sending it (it would be refused again). Confirming needs the device's own
ids: the decoded message has them; a payload that does not decode is read leniently here,
and only what is unambiguous is used: the topic's tenant and device (the broker's ACL
makes them the sender's), and the body's message id, install and reading seqs when its
`tenant` and `device_id` agree with the topic. Anything else yields no ids, so nothing is
confirmed and the device keeps the message (a bounded number of re-sends is the price).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from contract.errors import ProtocolError
from contract.fields import ID_PATTERN
from contract.wire import (
    MAX_BATCH_READINGS,
    MAX_PAYLOAD_BYTES,
    Event,
    Message,
    TelemetryBatch,
    Topic,
    TopicKind,
    Usage,
)

_MAX_SEQ = 2**63


@dataclass(frozen=True)
class Held:
    """Rows of one message a device may forget once confirmed: reading seqs, or an event's or usage report's id."""

    tenant: str
    device_id: str
    install: str = ""
    readings: tuple[int, ...] = ()
    events: tuple[str, ...] = ()
    usage: tuple[str, ...] = ()


@dataclass(frozen=True)
class Peek:
    """Whose a message is (from its topic) and what it holds for a confirmation (`held`; None: nothing sure)."""

    tenant: str | None = None
    device_id: str | None = None
    message_id: str | None = None
    held: Held | None = None


def held_of(message: Message) -> Held | None:
    """What a decoded telemetry batch, event or usage report hands over (None for state and the rest)."""
    if isinstance(message, TelemetryBatch):
        seqs = tuple(r.seq for r in message.readings)
        return Held(message.tenant, message.device_id, message.install, readings=seqs)
    if isinstance(message, Event):
        return Held(message.tenant, message.device_id, message.install, events=(message.message_id,))
    if isinstance(message, Usage):
        return Held(message.tenant, message.device_id, message.install, usage=(message.message_id,))
    return None


def peek_message(message: Message) -> Peek:
    return Peek(message.tenant, message.device_id, message.message_id, held_of(message))


def peek(topic: str, payload: bytes) -> Peek:
    """What can be read of a payload that did not decode (never raises)."""
    try:
        where = Topic.parse(topic)
    except ProtocolError:
        return Peek()
    body = _json_object(payload)
    message_id = _id(body.get("message_id"))
    same_device = body.get("tenant") == where.tenant and body.get("device_id") == where.device_id
    held = _held(where, body, message_id) if same_device else None
    return Peek(where.tenant, where.device_id, message_id, held)


def _held(where: Topic, body: dict[str, object], message_id: str | None) -> Held | None:
    raw_install = body.get("install")
    install = "" if not raw_install else _id(raw_install)
    if install is None:
        return None
    if where.kind is TopicKind.TELEMETRY:
        seqs = _seqs(body.get("readings"))
        return None if not seqs else Held(where.tenant, where.device_id, install, readings=seqs)
    if message_id is None:
        return None
    if where.kind is TopicKind.EVENTS:
        return Held(where.tenant, where.device_id, install, events=(message_id,))
    if where.kind is TopicKind.USAGE:
        return Held(where.tenant, where.device_id, install, usage=(message_id,))
    return None


def _json_object(payload: bytes) -> dict[str, object]:
    if len(payload) > 2 * MAX_PAYLOAD_BYTES:
        return {}
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


def _id(value: object) -> str | None:
    return value if isinstance(value, str) and ID_PATTERN.match(value) else None


def _seqs(readings: object) -> tuple[int, ...]:
    """The readings' seqs when every one is a valid seq (a partial list would confirm rows the cloud lacks)."""
    if not isinstance(readings, list) or not 0 < len(readings) <= MAX_BATCH_READINGS:
        return ()
    seqs = [r.get("seq") if isinstance(r, dict) else None for r in readings]
    if not all(type(s) is int and 0 <= s < _MAX_SEQ for s in seqs):
        return ()
    return tuple(s for s in seqs if isinstance(s, int))
