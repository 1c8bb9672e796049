"""Commands to devices: a small QoS 1 MQTT publisher of its own.

The ingest's client acknowledges by hand and runs its own network loop; commands
use a separate connection so a slow command never holds up an acknowledgement, and
the ingest never has to know about commands. paho's background loop reconnects.
"""

from __future__ import annotations

import logging

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cloud.broker.login import BrokerLogin
from cloud.errors import BrokerError
from contract.wire import Command, encode, topic_of

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 5.0


class CommandPublisher:
    """Publishes `Command`s on each device's commands topic at QoS 1 and waits for the broker's PUBACK."""

    def __init__(
        self, host: str, port: int, client_id: str, keepalive_s: int = 30, login: BrokerLogin | None = None
    ) -> None:
        self._host, self._port, self._keepalive = host, port, keepalive_s
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        (login or BrokerLogin()).apply(self._client)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._started = False

    @property
    def url(self) -> str:
        return f"mqtt://{self._host}:{self._port}"

    def start(self) -> None:
        try:
            self._client.connect(self._host, self._port, keepalive=self._keepalive)
        except OSError as exc:
            raise BrokerError(f"the command publisher cannot reach the MQTT broker at {self.url}: {exc}") from None
        self._client.loop_start()
        self._started = True

    def publish(self, command: Command, timeout_s: float = PUBLISH_TIMEOUT_S) -> bool:
        """Whether the broker acknowledged the command within `timeout_s` (False: the caller keeps it pending)."""
        if not self._started:
            return False
        info = self._client.publish(topic_of(command), encode(command), qos=1)
        try:
            info.wait_for_publish(timeout=timeout_s)
        except (RuntimeError, ValueError) as exc:
            log.warning("command %s to %s not published: %s", command.name, command.device_id, exc)
            return False
        return info.is_published()

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self._client.disconnect()
        self._client.loop_stop()
