"""The shipped Mosquitto configuration: one set of limits for the production and the dev/test broker, run for real."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cloudtest_support import Publisher, wait_until
from paho.mqtt.enums import CallbackAPIVersion
from security_testkit import secure_env

from cloud.__main__ import main
from cloud.broker import MosquittoBroker, free_port
from cloud.broker.config import GIB, LIMITS
from cloud.security.broker_config import PACKAGED_SETTINGS
from contract.wire import MAX_PAYLOAD_BYTES

pytestmark = pytest.mark.mosquitto
# Not the root warning: the tests run Mosquitto as whoever runs them (`user root` when that is root).
_HARMLESS = ("should not be run as root",)


def broker_config(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["broker-config", *args]) == 0
    return capsys.readouterr().out


def global_part(config: str) -> list[str]:
    """The settings before the first listener, without comments and the lines naming this host's paths/user."""
    head = config.split("\nlistener ", 1)[0]
    return [line for line in head.splitlines()
            if line and not line.startswith("#")
            and line.split()[0] not in ("user", "persistence_location", "log_dest", "pid_file")]


def listener_blocks(config: str) -> dict[str, list[str]]:
    """`listener PORT BIND` -> the lines under it."""
    blocks: dict[str, list[str]] = {}
    for block in config.split("\nlistener ")[1:]:
        first, *rest = block.splitlines()
        blocks[f"listener {first}"] = [line for line in rest if line and not line.startswith("#")]
    return blocks


def complaints(broker: MosquittoBroker) -> list[str]:
    """What Mosquitto said about its configuration: notes, warnings and errors, on stderr or in its log."""
    text = "".join(f.read_text() for f in (broker.stderr_file, broker.log_file) if f.exists())
    return [line for line in text.splitlines()
            if any(word in line for word in ("Note", "Warning", "Error", "deprecated"))
            and not any(ok in line for ok in _HARMLESS)]


@pytest.fixture
def dev_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    broker = MosquittoBroker(free_port(), tmp_path / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


def test_the_dev_profile_is_what_the_test_broker_runs(
    dev_broker: MosquittoBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    printed = broker_config(capsys, "--profile", "dev", "--port", str(dev_broker.port),
                            "--data-dir", str(dev_broker.data_dir))
    assert dev_broker.config_file.read_text() == printed
    assert listener_blocks(printed) == {f"listener {dev_broker.port} 127.0.0.1": ["allow_anonymous true"]}
    publisher = Publisher(dev_broker.url)  # it runs: a QoS 1 message is acknowledged
    try:
        publisher.send("paas/v1/acme/pump-001/telemetry", b"{}")
    finally:
        publisher.close()
    dev_broker.stop()  # graceful: the persistence file is written
    assert (dev_broker.data_dir / "mosquitto.db").exists()
    assert complaints(dev_broker) == []


def test_production_has_the_dev_profiles_limits_and_per_listener_logins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    security = tmp_path / "security"
    production = broker_config(capsys, "--profile", "production", "--security-dir", str(security),
                               "--db", f"sqlite:///{tmp_path / 'cloud.db'}")
    assert broker_config(capsys, "--security-dir", str(security),
                         "--db", f"sqlite:///{tmp_path / 'cloud.db'}") == production  # the default profile
    dev = broker_config(capsys, "--profile", "dev", "--port", "1883", "--data-dir", str(tmp_path / "data"))
    assert global_part(production) == global_part(dev)
    for line in LIMITS.lines():
        assert line in dev.splitlines() and line in production.splitlines()
    settings = dict(line.split(" ", 1) for line in global_part(production))
    assert settings["persistence"] == "true" and settings["autosave_on_changes"] == "false"
    assert settings["autosave_interval"] == "60"  # not 1: each save rewrites the whole database
    assert settings["max_queued_messages"] == "0" and settings["max_queued_bytes"] == str(GIB)
    assert int(settings["max_inflight_messages"]) >= 500  # a full ingest batch (PAAS_INGEST_BATCH_MAX)
    assert int(settings["max_packet_size"]) > MAX_PAYLOAD_BYTES
    assert settings["per_listener_settings"] == "true"
    # A conf.d drop-in: the packaged mosquitto.conf keeps these, and Mosquitto refuses them twice.
    assert not [line for line in production.splitlines() if line.split(" ")[0] in PACKAGED_SETTINGS]
    blocks = listener_blocks(production)
    assert list(blocks) == ["listener 8883 0.0.0.0", "listener 8884 127.0.0.1"]
    devices, cloud = blocks.values()
    assert "use_username_as_clientid true" in devices and "use_username_as_clientid true" not in cloud
    assert f"password_file {security / 'mosquitto.passwd'}" in devices
    assert f"password_file {security / 'cloud.passwd'}" in cloud
    for block in (devices, cloud):
        assert "allow_anonymous false" in block and "tls_version tlsv1.2" in block
    assert "paas-cloud:" in (security / "cloud.passwd").read_text()
    assert "paas-cloud:" not in (security / "mosquitto.passwd").read_text()


def test_production_listener_options_and_a_port_clash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--security-dir", str(tmp_path / "security"), "--db", f"sqlite:///{tmp_path / 'cloud.db'}"]
    printed = broker_config(capsys, *common, "--tls-port", "9883", "--bind", "10.0.0.5", "--cloud-port", "9884",
                            "--cloud-bind", "10.0.0.6")
    assert list(listener_blocks(printed)) == ["listener 9883 10.0.0.5", "listener 9884 10.0.0.6"]
    assert main(["broker-config", *common, "--tls-port", "8884"]) == 2
    assert "different ports" in capsys.readouterr().err


def test_the_production_profile_starts_without_a_configuration_warning(tmp_path: Path) -> None:
    with secure_env(tmp_path) as env:
        assert "use_username_as_clientid true" in env.broker.drop_in.read_text()
        env.broker.broker.stop()
        assert complaints(env.broker.broker) == []


def test_a_packet_over_the_limit_disconnects_its_sender_and_goes_nowhere(dev_broker: MosquittoBroker) -> None:
    received: list[int] = []
    dropped = threading.Event()
    reader = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="reader", protocol=mqtt.MQTTv311)
    reader.on_message = lambda _c, _u, msg: received.append(len(msg.payload))
    reader.connect("127.0.0.1", dev_broker.port)
    reader.subscribe("big/#", qos=1)
    reader.loop_start()
    sender = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sender", protocol=mqtt.MQTTv311)
    sender.on_disconnect = lambda *_args: dropped.set()
    sender.connect("127.0.0.1", dev_broker.port)
    sender.loop_start()
    marker = Publisher(dev_broker.url, client_id="marker")
    try:
        marker.send("big/ok", b"m")  # the reader's subscription is in place once this comes back
        wait_until(lambda: received == [1], what="the reader")
        sender.publish("big/ok", b"x" * MAX_PAYLOAD_BYTES, qos=1).wait_for_publish(10)
        sender.publish("big/too-big", b"x" * LIMITS.max_packet_size, qos=0)
        assert dropped.wait(10), "the broker kept a client that sent a packet over max_packet_size"
        marker.send("big/ok", b"end")
        wait_until(lambda: len(received) == 3, what="the marker")
        assert received == [1, MAX_PAYLOAD_BYTES, 3]
    finally:
        marker.close()
        for client in (sender, reader):
            client.disconnect()
            client.loop_stop()


def test_a_client_gets_at_most_the_in_flight_window_and_the_rest_waits_queued(dev_broker: MosquittoBroker) -> None:
    window, extra = LIMITS.max_inflight_messages, 100
    mids: list[int] = []
    subscribed, pinged = threading.Event(), threading.Event()

    def on_message(_client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.startswith("ping/"):
            pinged.set()
        else:
            mids.append(msg.mid)

    slow = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="slow", protocol=mqtt.MQTTv311, manual_ack=True)
    slow.on_message = on_message
    slow.on_subscribe = lambda *_args: subscribed.set()
    slow.connect("127.0.0.1", dev_broker.port)
    # QoS 0 is outside the in-flight window: a ping on the same connection marks what the broker had sent by then.
    slow.subscribe([("load/#", 1), ("ping/#", 0)])
    slow.loop_start()
    publisher = Publisher(dev_broker.url)
    try:
        assert subscribed.wait(10)
        for n in range(window + extra):
            publisher.send("load/x", str(n).encode())
        wait_until(lambda: len(mids) >= window, what=f"{window} deliveries")
        publisher.send("ping/x", b"")
        assert pinged.wait(10)
        assert len(mids) == window  # none beyond the window before an acknowledgement
        for mid in list(mids):
            slow.ack(mid, 1)
        wait_until(lambda: len(mids) == window + extra, what="the queued rest after the acknowledgements")
    finally:
        publisher.close()
        slow.disconnect()
        slow.loop_stop()
