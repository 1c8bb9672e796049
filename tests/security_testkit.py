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

from cloud.security.broker_auth import CLOUD_USERNAME
from cloud.security.credentials import CredentialStore
from cloud.security.dev_broker import SecureBroker, start_secure_broker
from cloud.security.provisioning import DeviceBundle, cloud_password, provision_device
from cloud.store.database import Database
from cloud.store.schema import ensure_schema
from contract.clock import Clock, SystemClock
from contract.wire import Topic, TopicKind
from edge.settings import parse_broker_url, uses_tls


class Probe:
    """Connect (paho reconnects it); `rc` is the last CONNACK's reason code value (0 accepted, 135/5 not
    authorised), `connects` counts accepted CONNACKs and `disconnects` lost or closed connections."""

    def __init__(self, url: str, *, ca_file: Path | None = None, username: str | None = None,
                 password: str | None = None, client_id: str = "", clean_session: bool = True) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.granted: list[int] = []
        self.rc: int | None = None
        self.connects = self.disconnects = 0
        self._event = threading.Event()
        self._suback = threading.Event()
        self.client = client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                           clean_session=clean_session, protocol=mqtt.MQTTv311)
        if uses_tls(url):
            client.tls_set(ca_certs=str(ca_file) if ca_file else None, cert_reqs=ssl.CERT_REQUIRED)
        if username is not None:
            client.username_pw_set(username, password)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
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
        if self.rc == 0:
            self.connects += 1
        self._event.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.disconnects += 1

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


REFUSED = (5, 135)
DAY_S = 86400.0  # "not authorised": MQTT 3.1.1 CONNACK 5, as paho 2 reports it (135)


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
                  timeout_s: float = 3.0, url: str | None = None) -> int | None:
    """Log in (on the device listener unless `url`) until the answer is one of `want` (the broker re-reads
    its files asynchronously after SIGHUP)."""
    deadline = time.monotonic() + timeout_s
    while True:
        rc = login_rc(url or env.broker.tls_url, env.broker.layout.ca_cert, username, password)
        if rc in want or time.monotonic() > deadline:
            return rc
        time.sleep(0.05)


def provision(env: SecureEnv, device_id: str, tmp_path: Path, tenant: str = "acme",
              rotate: bool = False) -> DeviceBundle:
    """A device's credentials and bundle, pointing at the device listener."""
    return provision_device(env.store, env.broker.layout, SystemClock(), tenant=tenant, device_id=device_id,
                            out_dir=tmp_path / "bundles" / device_id, broker_url=env.broker.tls_url,
                            valid_s=30 * DAY_S, rotate=rotate)


def device_probe(env: SecureEnv, bundle: DeviceBundle, client_id: str = "") -> Probe:
    """Logged in on the device listener with the bundle's credentials."""
    probe = Probe(env.broker.tls_url, ca_file=bundle.directory / "ca.pem", username=bundle.credential.username,
                  password=(bundle.directory / "password").read_text().strip(), client_id=client_id)
    assert probe.wait_connack() == 0
    return probe


def cloud_probe(env: SecureEnv, client_id: str = "", clean_session: bool = True) -> Probe:
    """Logged in on the cloud listener as the cloud user."""
    probe = Probe(env.broker.cloud_url, ca_file=env.broker.layout.ca_cert, username=CLOUD_USERNAME,
                  password=cloud_password(env.broker.layout), client_id=client_id, clean_session=clean_session)
    assert probe.wait_connack() == 0
    return probe


def topic(device_id: str, kind: TopicKind, tenant: str = "acme") -> str:
    return str(Topic(tenant, device_id, kind))
