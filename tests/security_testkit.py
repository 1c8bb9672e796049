"""Security test kit: a secure Mosquitto with a credential store, and an MQTT probe that logs in over TLS."""

from __future__ import annotations

import os
import shutil
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud.security.credentials import CredentialStore
from cloud.security.dev_broker import SecureBroker, start_secure_broker
from cloud.store.database import Database
from cloud.store.schema import ensure_schema
from contract.clock import Clock, SystemClock
from edge.settings import parse_broker_url, uses_tls


class Probe:
    """Connect once; `rc` is the CONNACK's reason code value (0 accepted, 135/5 not authorised)."""

    def __init__(self, url: str, *, ca_file: Path | None = None, username: str | None = None,
                 password: str | None = None, client_id: str = "") -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.granted: list[int] = []
        self.rc: int | None = None
        self._event = threading.Event()
        self._suback = threading.Event()
        self.client = client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        if uses_tls(url):
            client.tls_set(ca_certs=str(ca_file) if ca_file else None, cert_reqs=ssl.CERT_REQUIRED)
        if username is not None:
            client.username_pw_set(username, password)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        host, port = parse_broker_url(url)
        client.connect(host, port, keepalive=30)
        client.loop_start()

    def wait_connack(self, timeout_s: float = 5.0) -> int | None:
        self._event.wait(timeout_s)
        return self.rc

    def subscribe(self, topic: str, timeout_s: float = 5.0) -> list[int]:
        self._suback.clear()
        self.client.subscribe(topic, qos=1)
        self._suback.wait(timeout_s)
        return self.granted

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5.0)

    def wait_for(self, count: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return True
            time.sleep(0.02)
        return len(self.messages) >= count

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.rc = int(reason.value)
        self._event.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.messages.append((msg.topic, bytes(msg.payload)))

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        self.granted = [int(r.value) for r in reasons]
        self._suback.set()


def login_rc(url: str, ca_file: Path, username: str | None, password: str | None) -> int | None:
    """The CONNACK reason code of one login attempt."""
    probe = Probe(url, ca_file=ca_file, username=username, password=password)
    try:
        return probe.wait_connack()
    finally:
        probe.close()


REFUSED = (5, 135)  # "not authorised": MQTT 3.1.1 CONNACK 5, as paho 2 reports it (135)


@dataclass(frozen=True)
class SecureEnv:
    broker: SecureBroker
    store: CredentialStore
    db: Database


@contextmanager
def secure_env(root: Path, clock: Clock | None = None) -> Iterator[SecureEnv]:
    if not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("required service missing under CI=true: mosquitto", pytrace=False)
        pytest.skip("the mosquitto binary is not installed")
    db = Database(f"sqlite:///{root / 'cloud.db'}")
    ensure_schema(db)
    store = CredentialStore(db, clock or SystemClock())
    broker = start_secure_broker(root, store, clock or SystemClock())
    try:
        yield SecureEnv(broker, store, db)
    finally:
        broker.stop()
        db.close()


def eventually_rc(env: SecureEnv, username: str | None, password: str | None, want: tuple[int, ...],
                  timeout_s: float = 3.0) -> int | None:
    """Log in until the answer is one of `want` (the broker re-reads its files asynchronously after SIGHUP)."""
    deadline = time.monotonic() + timeout_s
    while True:
        rc = login_rc(env.broker.tls_url, env.broker.layout.ca_cert, username, password)
        if rc in want or time.monotonic() > deadline:
            return rc
        time.sleep(0.05)
