"""Shared by the over-the-air e2e tests: a model artifact to push, a tap on a device's commands, waiting.

The tap is a plain MQTT subscriber on the test's private broker: it sees the command the
cloud really published (with the signed artifact link the device receives), not a copy
the cloud kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cloud.broker import MosquittoBroker
from cloud.registry.signing import public_key_pem
from cloud.settings import CloudSettings
from contract.channels import PUMP_CHANNELS
from contract.wire import Command, Topic, TopicKind, decode
from models.anomaly.calibrated_detector import fit_detector

OCTETS = {"content-type": "application/octet-stream"}


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)


def pinned_key(settings: CloudSettings, directory: Path) -> Path:
    """The cloud's public model-signing key in a file, as the provisioning bundle gives it to a device."""
    path = directory / "signing-key.pem"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(public_key_pem(settings))
    return path


def pump_detector(model_id: str = "pump-det", version: str = "7") -> bytes:
    """A small ONNX detector for the simulated pump's channels, as `POST /models` takes it."""
    calibration = np.random.default_rng(0).normal(1.0, 0.1, size=(60, len(PUMP_CHANNELS)))
    return fit_detector(calibration, [c.name for c in PUMP_CHANNELS], [c.unit for c in PUMP_CHANNELS],
                        created_at="2027-01-15T08:00:00Z", model_id=model_id, version=version).artifact


class CommandTap:
    """The commands published to one device, as the broker delivers them."""

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self._lock = threading.Lock()

    def received(self, name: str) -> list[Command]:
        with self._lock:
            return [c for c in self.commands if c.name == name]

    def on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        decoded = decode(message.topic, bytes(message.payload))
        assert isinstance(decoded, Command)
        with self._lock:
            self.commands.append(decoded)


@contextmanager
def tap_commands(broker: MosquittoBroker, tenant: str, device_id: str) -> Iterator[CommandTap]:
    """Subscribed (SUBACK received) to the device's commands topic while the block runs."""
    tap, subscribed = CommandTap(), threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"tap-{device_id}", protocol=mqtt.MQTTv311)
    client.on_message = tap.on_message
    client.on_subscribe = lambda *_args: subscribed.set()
    client.on_connect = lambda c, *_args: c.subscribe(str(Topic(tenant, device_id, TopicKind.COMMANDS)), qos=1)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        assert subscribed.wait(10), "the command tap could not subscribe"
        yield tap
    finally:
        client.disconnect()
        client.loop_stop()
