"""The cloud's TLS connection to the broker for security work: send commands, watch device states.

It logs in as the cloud user on the broker's cloud listener (`security_login`: the settings of
`cloud serve`, PAAS_BROKER_USERNAME/_PASSWORD_FILE/_CA_FILE, else the security directory's cloud
password and CA), verifies the broker's certificate (hostname included), and runs paho's own
network thread, which reconnects by itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cloud.broker.login import BrokerLogin
from cloud.errors import BrokerError, ConfigError
from cloud.security.broker_auth import CLOUD_USERNAME
from cloud.security.layout import SecurityLayout
from cloud.security.provisioning import cloud_password
from cloud.settings import CloudSettings
from contract.errors import ProtocolError
from contract.wire import Command, DeviceState, TopicKind, decode, encode, subscription, topic_of
from edge.errors import ConfigError as EdgeConfigError
from edge.settings import parse_broker_url, uses_tls

log = logging.getLogger("cloud.security")


def parse_mqtts_url(url: str) -> tuple[str, int]:
    """`mqtts://host[:port]` -> (host, port): the edge's URL parsing, TLS required."""
    try:
        host, port = parse_broker_url(url)
    except EdgeConfigError as exc:
        raise ConfigError(str(exc)) from None
    if not uses_tls(url):
        raise ConfigError(f"broker URL {url!r} is not mqtts://HOST:PORT")
    return host, port


def security_login(settings: CloudSettings, layout: SecurityLayout) -> BrokerLogin:
    """The cloud user's login: `cloud serve`'s settings where given, else the security directory's files."""
    if settings.broker_password_file is None:
        cloud_password(layout)  # created on first use
    return BrokerLogin(
        tls=True, ca_file=settings.broker_ca_file or layout.ca_cert,
        username=settings.broker_username or CLOUD_USERNAME,
        password_file=settings.broker_password_file or layout.cloud_password,
    )


class SecureCommandChannel:
    """Publish commands (QoS 1) and, given `on_state`, receive every device's state messages."""

    def __init__(self, url: str, login: BrokerLogin, *, client_id: str = "paas-cloud-security",
                 on_state: Callable[[DeviceState], None] | None = None) -> None:
        self.url = url
        self._host, self._port = parse_mqtts_url(url)
        self._on_state = on_state
        self._connected = threading.Event()
        self._refused = ""
        self._loop_thread: threading.Thread | None = None
        self._client = client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        login.apply(client)
        client.on_connect, client.on_message = self._handle_connect, self._handle_message

    def open(self, timeout_s: float = 10.0) -> None:
        try:
            self._client.connect(self._host, self._port, keepalive=30)
        except OSError as exc:  # refused, unreachable, TLS verification failed
            self._client.loop_stop()
            raise BrokerError(f"cannot reach the broker at {self.url}: {exc}") from exc
        self._client.loop_start()
        if not self._connected.wait(timeout_s):
            self.close()
            raise BrokerError(f"no connection to {self.url} within {timeout_s:g} s {self._refused}".strip())

    def send(self, command: Command, timeout_s: float = 10.0) -> None:
        """Publish a command and wait for the broker's PUBACK (not when called from a callback: it would deadlock)."""
        info = self._client.publish(topic_of(command), encode(command), qos=1)
        if threading.current_thread() is self._loop_thread:
            return  # paho sends it, and handles its PUBACK, as soon as this callback returns
        try:
            info.wait_for_publish(timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise BrokerError(f"command {command.name} to {command.device_id} not sent: {exc}") from exc
        if not info.is_published():
            raise BrokerError(f"command {command.name} to {command.device_id} not acknowledged in {timeout_s:g} s")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _handle_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._loop_thread = threading.current_thread()
        if reason.is_failure:
            self._refused = f"(refused: {reason})"
            log.error("event=security_channel_refused broker=%s reason=%r", self.url, str(reason))
            return
        if self._on_state is not None:
            client.subscribe(subscription(TopicKind.STATE), qos=1)
        self._connected.set()

    def _handle_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            state = decode(msg.topic, bytes(msg.payload))
        except ProtocolError as exc:
            log.warning("event=state_refused topic=%s reason=%r", msg.topic, str(exc))
            return
        if isinstance(state, DeviceState) and self._on_state is not None:
            self._on_state(state)
