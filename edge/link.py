"""The MQTT link: one paho-mqtt 2.x client, QoS 1 publishes mapped back to queue rows by PUBACK.

Protocol MQTT 3.1.1 (works on every broker the platform supports), callback API v2.

Reconnecting: we drive paho's network loop ourselves (`Client.loop()` in our own
thread) instead of `loop_start()`, so paho's built-in reconnect delay (exponential,
no jitter) never runs; after a lost or refused connection the thread waits
`contract.backoff.Backoff` (full jitter, so a fleet does not reconnect in lock-step
after a broker restart) and calls `reconnect()`. A no-op `on_socket_register_write`
keeps `publish()` from writing the socket from the caller's thread: only the loop
thread touches the socket, as in paho's own threaded mode.

Delivery: every publish is QoS 1 and carries an opaque token (the queue rows it
holds); when the broker's PUBACK arrives, `on_ack(token)` runs on the loop thread.
A message in flight when the connection drops stays in paho's session and is re-sent
(DUP) after the reconnect, so its token is still acknowledged; messages in flight
when the process dies are re-sent from the durable queue at the next start. Either
way a message can arrive twice; the cloud dedupes by (device, install, seq) and by
message_id. A PUBACK only says the broker took it: the rows stay queued until the
cloud's Confirm (`edge.queue`). The number in flight is bounded (`max_inflight`).

Presence: the last will is a retained DeviceState(offline), registered afresh at
each connect; a retained birth DeviceState(online) is published on every connect;
`close()` publishes offline itself, since a clean DISCONNECT suppresses the will.

Security: an `mqtts://` URL turns TLS on (stdlib `ssl` through paho's `tls_set`), verifying the
broker's certificate against `ca_file` (or the system's CAs) including its host name. Credentials
go in clear over plain `mqtt://` to this host only (`LinkError` otherwise). They are sent at
every connect; `use_credentials()` (a rotation) replaces them and makes the loop reconnect at
once (not when they are the ones in use: a rotation sent again). A refused login ("not
authorised": a wrong, revoked or expired password) is retried with backoff like any other
refusal, and reported as what it is: at start, a `LinkError` that says what to do (the device's
credentials, not the broker's address). The password is never logged.

Commands and confirmations: given a `command_topic` (and a `confirm_topic`), the
link subscribes to them (QoS 1) at every connect and hands each valid `Command` to
`on_command` and each valid `Confirm` (what the cloud has stored, `edge.queue`) to
`on_confirm`, on its loop thread; an invalid message is logged with the reason
(`event=command_refused` / `event=confirm_refused`) and skipped. `on_reconnect` runs
after each reconnect (what was published to the device meanwhile is lost when its
session is clean).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from contract.backoff import Backoff
from contract.errors import ProtocolError
from contract.wire import Command, Confirm, DeviceState, Message, TopicKind, decode, encode, topic_of
from edge.credentials import Credentials
from edge.errors import LinkError
from edge.settings import is_loopback, parse_broker_url, uses_tls
from edge.tls import client_tls_context

log = logging.getLogger("edge.link")

_LOOP_TIMEOUT_S = 0.1  # how long one select() may block: bounds how late the loop notices close()
_STATE_HEADROOM = 4  # paho slots beyond max_inflight, so birth/heartbeat/offline are never refused
# CONNACK codes of a refused login: MQTT 3.1.1 4 (bad user name or password) and 5 (not authorised),
# as paho 2 reports them in MQTT 5 terms (134, 135) or as they are.
_LOGIN_REFUSED = frozenset({4, 5, 134, 135})


class MqttLink:
    """A QoS 1 publisher to one broker, reconnecting on its own until `close()`."""

    def __init__(
        self,
        url: str,
        client_id: str,
        *,
        birth: Callable[[], DeviceState],
        will: Callable[[], DeviceState],
        on_ack: Callable[[object], None],
        backoff: Backoff | None = None,
        max_inflight: int = 20,
        clean_session: bool = True,
        keepalive_s: int = 30,
        command_topic: str | None = None,
        on_command: Callable[[Command], None] | None = None,
        confirm_topic: str | None = None,
        on_confirm: Callable[[Confirm], None] | None = None,
        on_reconnect: Callable[[], None] | None = None,
        ca_file: str | None = None,
        credentials: Credentials | None = None,
    ) -> None:
        self.url = url
        self._host, self._port = parse_broker_url(url)
        self._birth, self._will, self._on_ack = birth, will, on_ack
        self._backoff = backoff or Backoff(base_s=0.5, cap_s=30.0)
        self.max_inflight = max_inflight
        self._client = client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                            clean_session=clean_session, protocol=mqtt.MQTTv311)
        client.max_inflight_messages_set(max_inflight + _STATE_HEADROOM)
        self._on_command, self._on_confirm, self._on_reconnect = on_command, on_confirm, on_reconnect
        self._topics = [(t, 1) for t in (command_topic, confirm_topic) if t is not None]
        client.on_connect, client.on_disconnect = self._handle_connect, self._handle_disconnect
        client.on_publish, client.on_message = self._handle_publish, self._handle_message
        client.on_socket_register_write = client.on_socket_unregister_write = _ignore_socket
        if uses_tls(url):
            client.tls_set_context(client_tls_context(ca_file))
        elif credentials is not None and not is_loopback(url):
            raise LinkError(f"refusing to send the broker password in clear text to {url}: use its mqtts:// URL")
        self.username: str | None = None  # the login of the current (or last) connection
        self.login_refused = False  # the last CONNACK refused the credentials (not the connection)
        self._login: str | None = None  # the login of the next CONNECT
        self._reconnect_requested = threading.Event()
        if credentials is not None:
            self._set_credentials(credentials)
        # Only records where to connect; every attempt, the first included, is a reconnect() in our loop.
        self._client.connect_async(self._host, self._port, keepalive=keepalive_s)
        self._client_id = client_id
        self._connected, self._closing = threading.Event(), threading.Event()
        self._pending: dict[int, object | None] = {}  # mid -> token of a message awaiting PUBACK
        self._early: set[int] = set()  # PUBACKs that beat publish() returning its mid
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._ever_connected = False
        self.last_error = "no connection attempt yet"
        self.reconnects = 0

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def inflight(self) -> int:
        """Messages handed to the broker and not yet acknowledged."""
        with self._cond:
            return len(self._pending)

    def capacity(self) -> int:
        """How many more messages may be put in flight now (0 while disconnected)."""
        return max(0, self.max_inflight - self.inflight) if self.connected else 0

    def use_credentials(self, credentials: Credentials) -> None:
        """Log in with `credentials` from now on: the loop disconnects and reconnects with them at once (unless
        they are already the ones in use: the cloud sends a rotation again until it sees it in use)."""
        if self.connected and credentials.username == self.username == self._login:
            return
        self._set_credentials(credentials)
        self._reconnect_requested.set()

    def _set_credentials(self, credentials: Credentials) -> None:
        # paho sends these at the next CONNECT; the current connection keeps its login until then.
        self._client.username_pw_set(credentials.username, credentials.password)
        self._login = credentials.username

    def start(self, connect_timeout_s: float) -> None:
        """Start the network thread; `LinkError` if the broker is not reached within the timeout."""
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{self._client_id}", daemon=True)
        self._thread.start()
        if not self._connected.wait(connect_timeout_s):
            self._stop_thread(timeout_s=2.0)
            if self.login_refused:
                raise LinkError(
                    f"the broker at {self.url} refused the login of user {self._login!r}: not authorised (a wrong, "
                    "revoked or expired password). The broker is reachable; the device's credentials are not "
                    "valid: they come from the state directory's credentials.json (a rotation) or from the "
                    "provisioning bundle (PAAS_EDGE_USERNAME, PAAS_EDGE_PASSWORD_FILE). If the device was "
                    "re-provisioned, install its new bundle; otherwise ask the operator to re-provision it "
                    "(`python -m cloud provision-device --rotate`, see docs/security.md)"
                )
            raise LinkError(
                f"cannot connect to the broker at {self.url} within {connect_timeout_s:g} s "
                f"({self.last_error}); check --broker and that the broker is running"
            )

    def publish(self, msg: Message, *, token: object | None = None, retain: bool = False, force: bool = False) -> bool:
        """Publish a message at QoS 1; False (nothing sent) when disconnected or at the in-flight bound."""
        return self.publish_raw(topic_of(msg), encode(msg), token=token, retain=retain, force=force)

    def publish_raw(
        self, topic: str, payload: bytes, *, token: object | None = None, retain: bool = False, force: bool = False
    ) -> bool:
        """Publish an already encoded payload (a queued event keeps its exact bytes and message_id)."""
        if not force and self.capacity() <= 0:
            return False
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        # NO_CONN: the connection dropped just now; paho keeps the message and sends it after reconnect.
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.warning("event=publish_refused topic=%s rc=%s", topic, mqtt.error_string(info.rc))
            return False
        with self._cond:
            if info.mid in self._early:
                self._early.discard(info.mid)
                acked = True
            else:
                self._pending[info.mid] = token
                acked = False
        if acked and token is not None:
            self._on_ack(token)
        return True

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until nothing is in flight; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending, timeout=timeout_s)

    def close(self, final_state: DeviceState | None = None, timeout_s: float = 5.0) -> None:
        """Publish `final_state` (retained) if connected, wait briefly for it, disconnect cleanly."""
        if final_state is not None and self.connected and self.publish(final_state, retain=True, force=True):
            self.wait_idle(timeout_s)
        self._stop_thread(timeout_s)

    def _stop_thread(self, timeout_s: float) -> None:
        self._closing.set()
        if self._thread is not None:
            self._thread.join(timeout_s + 1.0)
            self._thread = None

    def _run(self) -> None:
        socket_up = False
        while not self._closing.is_set():
            if not socket_up:
                socket_up = self._open_socket()
                if not socket_up:
                    self._closing.wait(self._backoff.next_delay())
                    continue
            rc = self._client.loop(timeout=_LOOP_TIMEOUT_S)
            if self._reconnect_requested.is_set() and not self._closing.is_set():
                self._reconnect_requested.clear()
                log.info("event=reconnecting broker=%s reason=%r", self.url, "new credentials")
                self._disconnect_cleanly()
                socket_up = False
                continue
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS and not self._closing.is_set():
                socket_up = False
                self._connected.clear()
                self.last_error = f"connection lost: {mqtt.error_string(rc)}"
                delay = self._backoff.next_delay()
                log.warning("event=disconnected broker=%s reason=%r retry_in_s=%.2f", self.url, self.last_error, delay)
                self._closing.wait(delay)
        if socket_up:
            self._disconnect_cleanly()
        # paho offers no public call to close the wake-up socket pair that loop() opened.
        reset_sockets = getattr(self._client, "_reset_sockets", None)
        if reset_sockets is not None:
            reset_sockets()

    def _open_socket(self) -> bool:
        """Open TCP and send CONNECT (the CONNACK arrives in the loop); False if the socket cannot open."""
        will = self._will()
        self._client.will_set(topic_of(will), encode(will), qos=1, retain=True)
        try:
            self._client.reconnect()
            return True
        except (OSError, ValueError) as exc:  # refused, unreachable, DNS failure, timeout
            self.last_error = f"{type(exc).__name__}: {exc}"
            return False

    def _disconnect_cleanly(self) -> None:
        self._client.disconnect()
        for _ in range(20):  # flush the DISCONNECT packet; the loop reports NO_CONN once the socket closed
            if self._client.loop(timeout=_LOOP_TIMEOUT_S) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
        self._connected.clear()

    def _handle_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {reason}"
            self.login_refused = int(reason.value) in _LOGIN_REFUSED
            hint = "the device's credentials are not valid (re-provision it)" if self.login_refused else ""
            log.error("event=connect_refused broker=%s username=%s reason=%r hint=%r", self.url, self._login,
                      str(reason), hint)
            return
        self.login_refused = False
        reconnected = self._ever_connected
        if reconnected:
            self.reconnects += 1
        self._ever_connected = True
        self._backoff.reset()
        self.username = self._login
        self._connected.set()
        log.info("event=connected broker=%s session_present=%s", self.url, flags.session_present)
        self.publish(self._birth(), retain=True, force=True)
        if self._topics:
            client.subscribe(self._topics)
        if reconnected and self._on_reconnect is not None:
            self._on_reconnect()

    def _handle_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._connected.clear()

    def _handle_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            message = decode(msg.topic, bytes(msg.payload))
        except ProtocolError as exc:
            kind = "confirm" if msg.topic.endswith(f"/{TopicKind.CONFIRM.value}") else "command"
            log.warning("event=%s_refused topic=%s reason=%r", kind, msg.topic, str(exc))
            return
        if isinstance(message, Command) and self._on_command is not None:
            self._on_command(message)
        elif isinstance(message, Confirm) and self._on_confirm is not None:
            self._on_confirm(message)

    def _handle_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        # Runs on the loop thread with paho's message lock held: never call back into paho from here.
        with self._cond:
            if mid not in self._pending:
                self._early.add(mid)
                return
            token = self._pending.pop(mid)
            self._cond.notify_all()
        if token is not None:
            self._on_ack(token)


def _ignore_socket(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    """Registered so paho never writes from a publishing thread (see the module docstring)."""
