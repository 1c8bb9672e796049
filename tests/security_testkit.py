"""Security test kit: a secure Mosquitto with a credential store, and an MQTT probe that logs in over TLS."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import ssl
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from service_support import missing_service

from cloud.security.broker_auth import CLOUD_USERNAME
from cloud.security.credentials import CredentialStore
from cloud.security.dev_broker import SecureBroker, start_secure_broker
from cloud.security.provisioning import DeviceBundle, cloud_password, provision_device
from cloud.security.rotation_service import RotationService
from cloud.settings import CloudSettings
from cloud.store.database import Database
from cloud.store.schema import ensure_schema
from contract.clock import Clock, SystemClock
from contract.wire import Topic, TopicKind
from edge.settings import AgentSettings, parse_broker_url, uses_tls


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
    db_url: str

    def cloud_settings(self, **overrides: Any) -> CloudSettings:
        """`cloud serve`'s settings on this broker: its cloud listener as the cloud user, its credential store."""
        layout = self.broker.layout
        cloud_password(layout)  # created on first use
        values: dict[str, Any] = {
            "broker_url": self.broker.cloud_url, "broker_username": CLOUD_USERNAME,
            "broker_password_file": layout.cloud_password, "broker_ca_file": layout.ca_cert,
            "security_dir": layout.root, "db_url": self.db_url,
            "tsdb_url": f"sqlite:///{layout.root.parent / 'timeseries.db'}", "port": 0, **overrides,
        }
        return CloudSettings(**values)

    def rotation(self, clock: Clock | None = None, **overrides: Any) -> RotationService:
        """What `rotate-credentials` runs (not started: drive it with `rotate_now`, `settle`, `rotator.sweep`)."""
        service = RotationService.for_command_line(self.cloud_settings(**overrides), self.db, clock or SystemClock())
        service.open()
        return service


@contextmanager
def secure_env(root: Path, clock: Clock | None = None) -> Iterator[SecureEnv]:
    if not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail("required service missing under CI=true: mosquitto", pytrace=False)
        pytest.skip("the mosquitto binary is not installed")
    db_url = f"sqlite:///{root / 'cloud.db'}"
    db = Database(db_url)
    ensure_schema(db)
    store = CredentialStore(db, clock or SystemClock())
    broker = start_secure_broker(root, store, clock or SystemClock())
    try:
        yield SecureEnv(broker, store, db, db_url)
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


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str,
               tick: Callable[[], object] | None = None) -> None:
    """Poll `condition` (calling `tick`, e.g. to move a test clock, every 0.2 s) until true or the timeout."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        if tick is not None:
            tick()
        time.sleep(0.2 if tick is not None else 0.05)


def agent_settings(bundle_dir: Path, state_dir: Path, **overrides: Any) -> AgentSettings:
    """What the systemd unit does: PAAS_EDGE_* from the bundle's edge.env, a few quick options on top."""
    lines = (bundle_dir / "edge.env").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    options: dict[str, Any] = {"state_dir": state_dir, "rate_hz": 50.0, "publish_interval_s": 0.1,
                               "model_path": "none", "connect_timeout_s": 5.0, "heartbeat_s": 0.3, **overrides}
    return AgentSettings.from_options(options, env)


# Debian's packaged /etc/mosquitto/mosquitto.conf (mosquitto 2.0.11-1), with the paths under a private root.
DEBIAN_MAIN_CONF = """# Place your local configuration in /etc/mosquitto/conf.d/
#
# A full description of the configuration file is at
# /usr/share/doc/mosquitto/examples/mosquitto.conf.example

pid_file {root}/run/mosquitto/mosquitto.pid

persistence true
persistence_location {root}/var/lib/mosquitto/

log_dest file {root}/var/log/mosquitto/mosquitto.log

include_dir {root}/etc/mosquitto/conf.d
"""


class DebianMosquitto:
    """Mosquitto as Debian runs it, under a private `root`: the packaged mosquitto.conf (its own pid file,
    persistence, log, `include_dir conf.d`), started as root by the unit's ExecStartPre and ExecStart, so it
    drops to the `mosquitto` user before it reads any certificate, password or ACL file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = root / "etc/mosquitto/mosquitto.conf"
        self.conf_d = root / "etc/mosquitto/conf.d"
        self.pid_file = root / "run/mosquitto/mosquitto.pid"
        self.log_file = root / "var/log/mosquitto/mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.conf_d.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(DEBIAN_MAIN_CONF.format(root=root))
        lib = root / "var/lib/mosquitto"
        lib.mkdir(parents=True, exist_ok=True)
        shutil.chown(lib, "mosquitto", "mosquitto")  # the package's postinst

    def start(self, port: int, timeout_s: float = 10.0) -> None:
        """ExecStartPre (log and run folders for the mosquitto user), then ExecStart; wait for `port`."""
        for folder in (self.log_file.parent, self.pid_file.parent):
            folder.mkdir(mode=0o740, parents=True, exist_ok=True)
            shutil.chown(folder, "mosquitto")
        stderr = (self.root / "mosquitto.stderr").open("ab")
        self._proc = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                      stderr=stderr)
        stderr.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise AssertionError(f"mosquitto exited at start: {self.complaints()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
            time.sleep(0.05)
        raise AssertionError(f"mosquitto does not listen on {port}: {self.complaints()}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)

    def complaints(self) -> str:
        return "".join(f.read_text(errors="replace") for f in (self.root / "mosquitto.stderr", self.log_file)
                       if f.exists())


@contextmanager
def debian_root() -> Iterator[Path]:
    """A private root for a Debian-style broker: outside pytest's 0700 tmp folders, so that the `mosquitto` user
    can reach its files (as it reaches /etc/mosquitto and /etc/paas)."""
    debian_prerequisites()
    root = Path(tempfile.mkdtemp(prefix="paas-debian-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def debian_prerequisites() -> None:
    """Root, Debian's mosquitto binary and its `mosquitto` user (skipped locally without them, failed in CI)."""
    if os.geteuid() != 0:
        missing_service("a broker started the Debian way needs root (it starts as root and drops to mosquitto)")
    try:
        pwd.getpwnam("mosquitto")
    except KeyError:
        missing_service("no `mosquitto` user (apt-get install mosquitto)")
    if not Path("/usr/sbin/mosquitto").exists():
        missing_service("/usr/sbin/mosquitto is not installed (apt-get install mosquitto)")


def owners(paths: Iterable[Path]) -> dict[str, tuple[str, int]]:
    """Each file's owner and mode, by name."""
    return {p.name: (pwd.getpwuid(p.stat().st_uid).pw_name, stat.S_IMODE(p.stat().st_mode)) for p in paths}
