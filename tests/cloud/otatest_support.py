"""Shared by the device-state, rollout, detector and manifest tests: the API with a recording command publisher,
state messages, a device's view of its commands topic on a real Mosquitto, and checks of a signed manifest."""

from __future__ import annotations

import base64
import queue
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import paho.mqtt.client as mqtt
from cloudtest_support import PUMP, T0, TENANT, Publisher, Stores, raw, state
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from paho.mqtt.enums import CallbackAPIVersion
from registrytest_support import ServedApi, api_over, artifact

from contract.manifest import KEY_ID_PARAM, MANIFEST_PARAM, SIGNATURE_PARAM, ModelManifest, parse_manifest, signed_bytes
from contract.wire import Command, DeviceState, DeviceStatus, ModelRef, Reading, TelemetryBatch, decode
from firmware_sim.pump import PumpSimulator

OCTETS = {"content-type": "application/octet-stream"}
PUBLIC_URL = "http://cloud.example"  # PAAS_PUBLIC_API_URL: where devices are sent to fetch artifacts


@dataclass
class Commands:
    """Records published commands; `accept` False plays a broker that does not acknowledge."""

    sent: list[Command] = field(default_factory=list)
    accept: bool = True

    def publish(self, command: Command) -> bool:
        self.sent.append(command)
        return self.accept

    def to(self, device: str) -> list[Command]:
        return [c for c in self.sent if c.device_id == device]


@contextmanager
def api_with_commands(stores: Stores, db_url: str) -> Iterator[tuple[ServedApi, Commands]]:
    """The real HTTP API over `stores` (no MQTT), public at PUBLIC_URL; commands are recorded, not sent."""
    commands = Commands()
    with api_over(stores, db_url, publish_command=commands.publish, public_api_url=PUBLIC_URL) as api:
        yield api, commands


def register(client: httpx.Client, model_id: str = "pump-det", version: str = "1", seed: int = 0) -> dict[str, str]:
    response = client.post("/models", content=artifact(model_id, version, seed), headers=OCTETS)
    assert response.status_code in (200, 201), response.text
    body: dict[str, str] = response.json()
    return body


def report(stores: Stores, device: str, ts: float, model: tuple[str, str] | None = None, status: str = "",
           target: str = "", kind: str = "pump", rate: float | None = None) -> None:
    """The device's retained state as its agent sends it (update_* in the health), through the ingest."""
    health: dict[str, float | int | str] = {"queue_depth": 0}
    if status:
        health["update_status"] = status
    if target:
        health["update_target"] = target
    if rate is not None:
        health["sample_rate_hz"] = rate
    message = DeviceState(TENANT, device, ts, DeviceStatus.ONLINE, asset_kind=kind, agent_version="0.1.0",
                          model=None if model is None else ModelRef(*model), health=health)
    [outcome] = stores.handler.apply([raw(message)])
    assert outcome.accepted, outcome


@contextmanager
def device_commands(broker_url: str, tenant: str = TENANT) -> Iterator[queue.SimpleQueue[Command]]:
    """Every command the cloud publishes to the tenant's devices, decoded (a device's view of its commands topic)."""
    received: queue.SimpleQueue[Command] = queue.SimpleQueue()
    subscribed = queue.SimpleQueue[int]()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-device", protocol=mqtt.MQTTv311)

    def on_message(_c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        command = decode(message.topic, bytes(message.payload))
        assert isinstance(command, Command)
        received.put(command)

    client.on_message = on_message
    client.on_subscribe = lambda *_args: subscribed.put(1)
    url = urlsplit(broker_url)
    client.connect(url.hostname or "127.0.0.1", url.port or 1883)
    client.loop_start()
    client.subscribe(f"paas/v1/{tenant}/+/commands", qos=1)
    subscribed.get(timeout=10)
    try:
        yield received
    finally:
        client.disconnect()
        client.loop_stop()


def upload_calibration(publisher: Publisher, device: str, readings: int, seed: int = 7) -> None:
    """The device's first `readings` seconds of normal running, sent as telemetry in batches of 100."""
    pump = PumpSimulator(seed)
    rows = [Reading(seq, T0 + seq, pump.step(1.0)) for seq in range(readings)]
    publisher.message(state(device))
    for start in range(0, readings, 100):
        batch = tuple(rows[start : start + 100])
        publisher.message(TelemetryBatch(TENANT, device, PUMP, batch, sent_at=batch[-1].ts + 1))


def stored(api: httpx.Client, device: str) -> int:
    response = api.get(f"/assets/{device}")
    return int(response.json()["readings_stored"]) if response.status_code == 200 else 0


def verified_manifest(command: Command, public_key_pem: str) -> ModelManifest:
    """The command's manifest, after checking its signature with the public key as a device would (`cryptography`,
    not the cloud's code), and that it says what the command's other parameters say."""
    key = load_pem_public_key(public_key_pem.encode())
    assert isinstance(key, Ed25519PublicKey)
    text, signature = command.params[MANIFEST_PARAM], base64.b64decode(command.params[SIGNATURE_PARAM])
    key.verify(signature, signed_bytes(text))  # raises InvalidSignature
    for forged in (text.replace('"counter":', '"counter":1'), text + " "):
        try:
            key.verify(signature, signed_bytes(forged))
        except InvalidSignature:
            continue
        raise AssertionError(f"a changed manifest verified: {forged}")
    manifest = parse_manifest(text)
    assert (manifest.tenant, manifest.device_id) == (command.tenant, command.device_id)
    assert (manifest.model_id, manifest.version) == (command.params["model_id"], command.params["model_version"])
    assert manifest.sha256 == command.params["sha256"]
    rate = command.params.get("sample_rate_hz")
    assert manifest.settings == ({} if rate is None else {"sample_rate_hz": rate})
    assert command.params[KEY_ID_PARAM]
    return manifest
