"""Wire protocol v1: MQTT topics and JSON payloads between edge agents and the cloud.

This module is the single definition both sides import; `docs/protocol.md` describes
it for people. It works on MQTT 3.1.1 (no v5 feature is required).

Topics, per tenant and device (`{root}` is `paas/v1`):
    {root}/{tenant}/{device}/telemetry   device -> cloud, QoS 1, batches of readings
    {root}/{tenant}/{device}/events      device -> cloud, QoS 1, anomaly / RUL events
    {root}/{tenant}/{device}/state       device -> cloud, QoS 1, retained (birth, health, last will)
    {root}/{tenant}/{device}/usage       device -> cloud, QoS 1, cumulative usage counters (billing)
    {root}/{tenant}/{device}/commands    cloud -> device, QoS 1
    {root}/{tenant}/{device}/confirm     cloud -> device, QoS 1, what the cloud has committed (contract.confirm)

Readings, events and usage reports may carry `install`: the id of the device's outbox
that numbered their `seq` (a device whose state directory was lost starts a new one,
and its seqs again from 1), so the cloud keys them by (device, install, seq).

Every payload is a JSON object with `v` (schema version), `type`, `message_id`,
`tenant` and `device_id` (both must equal the topic's) and UTC timestamps written
as ISO-8601 with a `Z`. `decode` raises `ProtocolError` with a readable reason for
anything else; receivers log the reason and carry on with the next message.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from contract.confirm import Confirm as Confirm
from contract.confirm import confirm_body, decode_confirm
from contract.errors import ProtocolError
from contract.fields import (
    ID_PATTERN,
    Fields,
    check_id,
    check_version,
    is_health_value,
    is_number,
    optional_id,
    optional_version,
    reject_constant,
    seq_in_range,
)
from contract.telemetry import MAX_BATCH_READINGS as MAX_BATCH_READINGS
from contract.telemetry import MAX_CHANNELS, decode_telemetry, telemetry_body
from contract.telemetry import ChannelRef as ChannelRef
from contract.telemetry import Reading as Reading
from contract.telemetry import TelemetryBatch as TelemetryBatch
from contract.timestamps import format_ts as format_ts
from contract.timestamps import parse_ts as parse_ts
from contract.usage import Usage as Usage
from contract.usage import decode_usage, usage_body

SCHEMA_VERSION = 1
TOPIC_ROOT = "paas/v1"
MAX_PAYLOAD_BYTES = 256 * 1024


class TopicKind(StrEnum):
    """The last level of a topic: what flows on it."""

    TELEMETRY = "telemetry"
    EVENTS = "events"
    STATE = "state"
    COMMANDS = "commands"
    USAGE = "usage"
    CONFIRM = "confirm"


class EventKind(StrEnum):
    ANOMALY = "anomaly"
    RUL = "rul"


class DeviceStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(frozen=True)
class Topic:
    """A parsed topic: whose device it belongs to and what flows on it."""

    tenant: str
    device_id: str
    kind: TopicKind

    def __str__(self) -> str:
        return f"{TOPIC_ROOT}/{self.tenant}/{self.device_id}/{self.kind.value}"

    @classmethod
    def parse(cls, topic: str) -> Topic:
        parts = topic.split("/")
        if len(parts) != 5 or "/".join(parts[:2]) != TOPIC_ROOT:
            raise ProtocolError(f"topic {topic[:200]!r} is not {TOPIC_ROOT}/<tenant>/<device>/<kind>")
        tenant, device_id, kind = parts[2], parts[3], parts[4]
        check_id("tenant", tenant)
        check_id("device_id", device_id)
        try:
            return cls(tenant, device_id, TopicKind(kind))
        except ValueError:
            raise ProtocolError(f"unknown topic kind {kind[:40]!r}") from None


def subscription(kind: TopicKind, tenant: str = "+") -> str:
    """The topic filter for one kind of message from every device (of one tenant)."""
    return f"{TOPIC_ROOT}/{tenant}/+/{kind.value}"


def new_message_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class ModelRef:
    id: str
    version: str


@dataclass(frozen=True)
class RulEstimate:
    """Remaining useful life in cycles, with a pessimistic and an optimistic bound."""

    cycles: float
    lower: float
    upper: float


@dataclass(frozen=True)
class Event:
    """An anomaly or RUL estimate, with what explains it (contributions, model)."""

    tenant: str
    device_id: str
    seq: int
    ts: float
    kind: EventKind
    score: float
    threshold: float
    is_anomaly: bool
    contributions: dict[str, float]
    model: ModelRef
    window_start: float
    window_end: float
    window_samples: int
    rul: RulEstimate | None = None
    message_id: str = field(default_factory=new_message_id)
    install: str = ""


@dataclass(frozen=True)
class DeviceState:
    """Birth/online status with health (retained); the last will says offline."""

    tenant: str
    device_id: str
    ts: float
    status: DeviceStatus
    asset_kind: str = ""
    agent_version: str = ""
    model: ModelRef | None = None
    health: dict[str, float | int | str] = field(default_factory=dict)
    message_id: str = field(default_factory=new_message_id)


@dataclass(frozen=True)
class Command:
    tenant: str
    device_id: str
    ts: float
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    message_id: str = field(default_factory=new_message_id)


Message = TelemetryBatch | Event | DeviceState | Command | Usage | Confirm
_TYPES: dict[type[Any], tuple[str, TopicKind]] = {
    TelemetryBatch: ("telemetry", TopicKind.TELEMETRY),
    Event: ("event", TopicKind.EVENTS),
    DeviceState: ("state", TopicKind.STATE),
    Command: ("command", TopicKind.COMMANDS),
    Usage: ("usage", TopicKind.USAGE),
    Confirm: ("confirm", TopicKind.CONFIRM),
}


def topic_of(msg: Message) -> str:
    return str(Topic(msg.tenant, msg.device_id, _TYPES[type(msg)][1]))


def encode(msg: Message) -> bytes:
    """The JSON payload of a message."""
    type_name = _TYPES[type(msg)][0]
    body: dict[str, Any] = {
        "v": SCHEMA_VERSION,
        "type": type_name,
        "message_id": msg.message_id,
        "tenant": msg.tenant,
        "device_id": msg.device_id,
    }
    if isinstance(msg, TelemetryBatch | Event | Usage) and msg.install:
        body["install"] = msg.install
    if isinstance(msg, TelemetryBatch):
        body |= telemetry_body(msg)
    elif isinstance(msg, Event):
        body |= {
            "seq": msg.seq,
            "ts": format_ts(msg.ts),
            "kind": msg.kind.value,
            "score": msg.score,
            "threshold": msg.threshold,
            "is_anomaly": msg.is_anomaly,
            "contributions": msg.contributions,
            "model": {"id": msg.model.id, "version": msg.model.version},
            "window": {
                "start": format_ts(msg.window_start),
                "end": format_ts(msg.window_end),
                "samples": msg.window_samples,
            },
        }
        if msg.rul is not None:
            body["rul"] = {"cycles": msg.rul.cycles, "lower": msg.rul.lower, "upper": msg.rul.upper}
    elif isinstance(msg, DeviceState):
        body |= {
            "ts": format_ts(msg.ts),
            "status": msg.status.value,
            "asset_kind": msg.asset_kind,
            "agent_version": msg.agent_version,
            "model": None if msg.model is None else {"id": msg.model.id, "version": msg.model.version},
            "health": msg.health,
        }
    elif isinstance(msg, Usage):
        body |= usage_body(msg)
    elif isinstance(msg, Confirm):
        body |= confirm_body(msg)
    else:
        body |= {"ts": format_ts(msg.ts), "name": msg.name, "params": msg.params}
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def decode(topic: str, payload: bytes) -> Message:
    """Parse and validate a payload received on `topic`; `ProtocolError` says what is wrong."""
    where = Topic.parse(topic)
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ProtocolError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        raw = json.loads(payload, parse_constant=reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolError(f"payload is not valid JSON: {exc}") from None
    body = Fields(raw, "payload")
    if body.get("v", int) != SCHEMA_VERSION:
        raise ProtocolError(f"unsupported schema version {raw.get('v')!r} (this receiver speaks {SCHEMA_VERSION})")
    type_name = body.get("type", str)
    expected = {kind: name for name, kind in _TYPES.values()}[where.kind]
    if type_name != expected:
        raise ProtocolError(f"a {type_name!r} message on a {where.kind.value} topic (expected {expected!r})")
    for key, value in (("tenant", where.tenant), ("device_id", where.device_id)):
        if body.get(key, str) != value:
            raise ProtocolError(f"{key} {raw.get(key)!r} does not match the topic's {value!r}")
    message_id = body.get("message_id", str)
    check_id("message_id", message_id)
    common = {"tenant": where.tenant, "device_id": where.device_id, "message_id": message_id}
    decoders: dict[TopicKind, Callable[[Fields, dict[str, Any]], Message]] = {
        TopicKind.TELEMETRY: decode_telemetry,
        TopicKind.EVENTS: _decode_event,
        TopicKind.STATE: _decode_state,
        TopicKind.COMMANDS: _decode_command,
        TopicKind.USAGE: decode_usage,
        TopicKind.CONFIRM: decode_confirm,
    }
    if where.kind in (TopicKind.TELEMETRY, TopicKind.EVENTS, TopicKind.USAGE):
        common["install"] = optional_id(body, "install")
    return decoders[where.kind](body, common)


def _decode_event(body: Fields, common: dict[str, Any]) -> Event:
    contributions = body.get("contributions", dict)
    if len(contributions) > MAX_CHANNELS or not all(
        ID_PATTERN.match(k) and is_number(v) for k, v in contributions.items()
    ):
        raise ProtocolError("contributions: expected an object of channel name -> number")
    window = Fields(body.get("window", dict), "window")
    rul = None
    if body.raw.get("rul") is not None:
        r = Fields(body.get("rul", dict), "rul")
        rul = RulEstimate(r.number("cycles"), r.number("lower"), r.number("upper"))
    try:
        kind = EventKind(body.get("kind", str))
    except ValueError:
        raise ProtocolError(f"kind: {body.raw.get('kind')!r} is not one of {[k.value for k in EventKind]}") from None
    return Event(
        seq=seq_in_range(body.get("seq", int), "seq"),
        ts=parse_ts(body.get("ts", str)),
        kind=kind,
        score=body.number("score"),
        threshold=body.number("threshold"),
        is_anomaly=body.get("is_anomaly", bool),
        contributions={k: float(v) for k, v in contributions.items()},
        model=_model(body.get("model", dict)),
        window_start=parse_ts(window.get("start", str), "window.start"),
        window_end=parse_ts(window.get("end", str), "window.end"),
        window_samples=seq_in_range(window.get("samples", int), "window.samples"),
        rul=rul,
        **common,
    )


def _decode_state(body: Fields, common: dict[str, Any]) -> DeviceState:
    try:
        status = DeviceStatus(body.get("status", str))
    except ValueError:
        raise ProtocolError(f"status: {body.raw.get('status')!r} is not online/offline") from None
    health = body.raw.get("health") or {}
    if not isinstance(health, dict) or not all(is_health_value(v) for v in health.values()):
        raise ProtocolError("health: expected an object of name -> finite number or printable string")
    model = body.raw.get("model")
    return DeviceState(
        ts=parse_ts(body.get("ts", str)),
        status=status,
        asset_kind=optional_id(body, "asset_kind"),
        agent_version=optional_version(body),
        model=None if model is None else _model(model),
        health=health,
        **common,
    )


def _decode_command(body: Fields, common: dict[str, Any]) -> Command:
    return Command(
        ts=parse_ts(body.get("ts", str)),
        name=body.get("name", str),
        params=body.get("params", dict),
        **common,
    )


def _model(raw: object) -> ModelRef:
    fields = Fields(raw, "model")
    model_id, version = fields.get("id", str), fields.get("version", str)
    check_id("model.id", model_id)
    check_version("model.version", version)
    return ModelRef(model_id, version)
