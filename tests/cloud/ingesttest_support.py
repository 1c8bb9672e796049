"""A device's side of end-to-end confirmation for the cloud tests: what the cloud confirms on a device's topic."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from contract.wire import Confirm, Topic, TopicKind, decode


class ConfirmListener:
    """Subscribed (QoS 1) to one device's confirm topic; collects every Confirm the cloud publishes there."""

    def __init__(self, broker_url: str, tenant: str, device_id: str) -> None:
        url = urlsplit(broker_url)
        self.topic = str(Topic(tenant, device_id, TopicKind.CONFIRM))
        self._lock = threading.Lock()
        self._confirms: list[Confirm] = []
        subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"confirms-{device_id}",
                                   protocol=mqtt.MQTTv311)
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_args: subscribed.set()
        self._client.connect(url.hostname or "127.0.0.1", url.port or 1883)
        self._client.loop_start()
        self._client.subscribe(self.topic, qos=1)
        assert subscribed.wait(10), f"no SUBACK for {self.topic}"

    @property
    def confirms(self) -> list[Confirm]:
        with self._lock:
            return list(self._confirms)

    def readings(self, install: str = "") -> list[int]:
        """Every seq confirmed for `install`, sorted, once each."""
        return sorted({seq for c in self.confirms if c.install == install for first, last in c.readings
                       for seq in range(first, last + 1)})

    def events(self, install: str = "") -> set[str]:
        return {i for c in self.confirms if c.install == install for i in c.events}

    def usage(self, install: str = "") -> set[str]:
        return {i for c in self.confirms if c.install == install for i in c.usage}

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        decoded = decode(message.topic, bytes(message.payload))
        assert isinstance(decoded, Confirm)
        with self._lock:
            self._confirms.append(decoded)
