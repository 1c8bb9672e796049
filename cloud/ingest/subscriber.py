"""The MQTT side of the ingest: a persistent QoS 1 session that acknowledges only stored messages.

The client uses a fixed client id and `clean_session=False`, so the broker queues
messages while the cloud is down; `manual_ack=True` holds each PUBACK until the
worker has committed the message, so a crash means redelivery, not loss. MQTT 3.1.1
is enough: nothing here needs v5.

Every paho call happens on the one network thread this class runs (paho writes to
the socket from whichever thread queues a packet when its own loop thread is not
used); acknowledgements and confirmations from the worker are handed over through one
queue, in order, so a batch's confirmations leave after its acknowledgements. The thread
also reconnects, with full-jitter back-off, whenever the connection drops.

Confirmations (`publish`) are best effort: at most `MAX_QUEUED_PUBLISHES` wait in paho
for the broker, the rest are dropped (the device re-sends, the cloud confirms again).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cloud.broker.login import BrokerLogin
from cloud.errors import BrokerError
from contract.backoff import Backoff
from contract.wire import TopicKind, subscription

log = logging.getLogger(__name__)

INGESTED_KINDS = (TopicKind.TELEMETRY, TopicKind.EVENTS, TopicKind.STATE, TopicKind.USAGE)
SUBSCRIPTIONS = [(subscription(kind), 1) for kind in INGESTED_KINDS]
LOOP_TICK_S = 0.02
DISCONNECT_GRACE_S = 3.0
MAX_QUEUED_PUBLISHES = 10_000


def ingest_subscriptions(share_group: str | None = None) -> list[tuple[str, int]]:
    """The ingest's topic filters at QoS 1; with `share_group`, as MQTT shared subscriptions (`$share/<group>/…`).

    The broker hands each message of a shared subscription to one member of the group (Mosquitto 2: round robin,
    for MQTT 3.1.1 and 5 alike), which is how several ingest workers split the load.
    """
    if share_group is None:
        return list(SUBSCRIPTIONS)
    return [(f"$share/{share_group}/{topic}", qos) for topic, qos in SUBSCRIPTIONS]


@dataclass(frozen=True)
class Delivery:
    """A received message and what is needed to acknowledge it on the connection that brought it."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    connection: int


@dataclass(frozen=True)
class _Publish:
    topic: str
    payload: bytes


class MqttSubscriber:
    """Subscribes to telemetry, events, state and usage of every device; hands each message to `on_delivery`."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        on_delivery: Callable[[Delivery], None],
        keepalive_s: int = 30,
        backoff: Backoff | None = None,
        login: BrokerLogin | None = None,
        subscriptions: list[tuple[str, int]] | None = None,
    ) -> None:
        self._host, self._port, self._keepalive = host, port, keepalive_s
        self._subscriptions = subscriptions or list(SUBSCRIPTIONS)
        self._on_delivery = on_delivery
        self._backoff = backoff or Backoff(base_s=0.5, cap_s=30.0)
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        self._client.max_queued_messages_set(MAX_QUEUED_PUBLISHES)
        (login or BrokerLogin()).apply(self._client)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect
        self._outbox: queue.SimpleQueue[Delivery | _Publish] = queue.SimpleQueue()
        self._connection = 0
        self._subscribe_mid: int | None = None
        self._subscribed = threading.Event()
        self._refused: str | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self._host}:{self._port}"

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    def start(self, timeout_s: float = 10.0) -> None:
        """Connect and subscribe; returns once the broker confirmed the subscriptions."""
        try:
            self._client.connect(self._host, self._port, keepalive=self._keepalive)
        except OSError as exc:
            raise BrokerError(
                f"cannot reach the MQTT broker at {self.url} ({exc}). Start one there "
                f"(e.g. 'mosquitto -p {self._port}') or point PAAS_BROKER / --broker at a running broker."
            ) from None
        self._thread = threading.Thread(target=self._run, name="cloud-mqtt", daemon=True)
        self._thread.start()
        if not self._subscribed.wait(timeout_s) or self._refused:
            why = self._refused or f"no subscription confirmed within {timeout_s:.0f} s"
            self.stop()
            raise BrokerError(f"the MQTT broker at {self.url} did not accept the ingest: {why}")
        log.info("ingest subscribed at %s: %s", self.url, ", ".join(topic for topic, _ in self._subscriptions))

    def ack(self, delivery: Delivery) -> None:
        """Acknowledge a stored message (from any thread); sent by the network thread."""
        self._outbox.put(delivery)

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1, best effort (from any thread; after the acknowledgements queued before it)."""
        self._outbox.put(_Publish(topic, payload))

    def stop(self) -> None:
        """Disconnect cleanly; unacknowledged messages stay queued at the broker for the next start."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=DISCONNECT_GRACE_S + 5)
        sock = self._client.socket()
        if sock is not None:
            sock.close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                rc = self._client.loop(timeout=LOOP_TICK_S)
                self._send_outbox()
            except Exception:  # this thread is the ingest's only link: log, reconnect, never die
                log.exception("the MQTT network loop failed")
                rc = mqtt.MQTT_ERR_UNKNOWN
            if rc != mqtt.MQTT_ERR_SUCCESS and not self._stopping.is_set():
                self._reconnect(mqtt.error_string(rc))
        self._disconnect()

    def _send_outbox(self) -> None:
        while True:
            try:
                item = self._outbox.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Publish):
                info = self._client.publish(item.topic, item.payload, qos=1)
                if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
                    log.warning("dropped a confirmation on %s: %d already wait for the broker", item.topic,
                                MAX_QUEUED_PUBLISHES)
            # A message from an earlier connection will be redelivered on this one under its own id.
            elif item.connection == self._connection and item.qos > 0:
                self._client.ack(item.mid, item.qos)

    def _reconnect(self, why: str) -> None:
        delay = self._backoff.next_delay()
        log.warning("lost the MQTT broker at %s (%s); reconnecting in %.1f s", self.url, why, delay)
        if self._stopping.wait(delay):
            return
        try:
            self._client.reconnect()
        except (OSError, ValueError) as exc:
            log.warning("reconnecting to %s failed: %s", self.url, exc)

    def _disconnect(self) -> None:
        self._send_outbox()
        if not self._client.is_connected():
            return
        self._client.disconnect()
        for _ in range(int(DISCONNECT_GRACE_S / LOOP_TICK_S)):
            if self._client.loop(timeout=LOOP_TICK_S) != mqtt.MQTT_ERR_SUCCESS:
                return

    def _on_connect(self, client: mqtt.Client, _userdata: Any, flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            self._refused = f"connection refused: {reason}"
            log.error("the MQTT broker at %s refused the ingest: %s", self.url, reason)
            self._subscribed.set()
            return
        self._refused = None
        self._connection += 1
        self._backoff.reset()
        # Subscribing again is harmless when the session survived, and needed when the broker lost it.
        self._subscribe_mid = client.subscribe(self._subscriptions)[1]
        log.info("connected to %s (session present: %s)", self.url, getattr(flags, "session_present", "?"))

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, mid: int, reasons: Any, _props: Any) -> None:
        if mid != self._subscribe_mid:
            return
        failed = [str(r) for r in reasons if r.is_failure]
        if failed:
            self._refused = f"subscription refused: {', '.join(failed)}"
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            # Not a topic anyone can publish to on a conforming broker; acknowledged so it is not redelivered.
            log.warning("dropped a message whose topic is not UTF-8: %r", message._topic[:200])
            client.ack(message.mid, message.qos)
            return
        self._on_delivery(Delivery(topic, bytes(message.payload), message.mid, message.qos, self._connection))

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if not self._stopping.is_set():
            log.warning("disconnected from %s: %s", self.url, reason)
