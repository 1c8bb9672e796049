"""Per-device credentials, TLS and ACLs on a real Mosquitto configured by cloud.security."""

from __future__ import annotations

import contextlib
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from security_testkit import (
    DAY_S,
    REFUSED,
    Probe,
    SecureEnv,
    cloud_probe,
    device_probe,
    eventually_rc,
    provision,
    secure_env,
    topic,
)

from cloud.errors import ConflictError
from cloud.security.provisioning import sync_broker
from contract.wire import TopicKind

CONNACK = b"\x20"
# An MQTT 3.1.1 CONNECT: protocol "MQTT" level 4, clean session, keepalive 60 s, empty client id.
PLAIN_CONNECT = bytes([0x10, 12, 0, 4]) + b"MQTT" + bytes([4, 0x02, 0, 60, 0, 0])


def plain_text_answer(port: int) -> bytes:
    """What the broker sends back, until it closes the connection, to a CONNECT without TLS."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5.0) as sock:
        sock.sendall(PLAIN_CONNECT)
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(64):
                received += chunk
    return received


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SecureEnv]:
    with secure_env(tmp_path) as opened:
        yield opened


def test_a_provisioned_device_publishes_over_tls_and_the_cloud_receives_it(env: SecureEnv, tmp_path: Path) -> None:
    bundle = provision(env, "pump-001", tmp_path)
    assert bundle.broker_reloaded
    env_text = (bundle.directory / "edge.env").read_text()
    assert f"PAAS_EDGE_BROKER_URL={env.broker.tls_url}" in env_text
    assert f"PAAS_EDGE_USERNAME={bundle.credential.username}" in env_text
    assert bundle.credential.password not in env_text and bundle.credential.password not in repr(bundle)
    for name in ("edge.env", "password", "ca.pem"):
        assert stat.S_IMODE((bundle.directory / name).stat().st_mode) == 0o600
    assert eventually_rc(env, bundle.credential.username, bundle.credential.password, (0,)) == 0
    cloud, device = cloud_probe(env), device_probe(env, bundle)
    try:
        cloud.subscribe("paas/v1/+/+/telemetry")
        device.publish(topic("pump-001", TopicKind.TELEMETRY), b"{}")
        assert cloud.wait_for(1, 3.0)
        assert cloud.messages[0][0] == topic("pump-001", TopicKind.TELEMETRY)
    finally:
        device.close()
        cloud.close()


def test_another_devices_credentials_cannot_publish_or_subscribe_here(env: SecureEnv, tmp_path: Path) -> None:
    a, b = provision(env, "pump-001", tmp_path), provision(env, "pump-002", tmp_path)
    assert eventually_rc(env, b.credential.username, b.credential.password, (0,)) == 0
    cloud, dev_a, dev_b = cloud_probe(env), device_probe(env, a), device_probe(env, b)
    try:
        cloud.subscribe("paas/v1/+/+/#")
        dev_a.subscribe(topic("pump-001", TopicKind.COMMANDS))
        # Mosquitto 2.0 grants the SUBACK and filters each message by the ACL at delivery instead.
        dev_b.subscribe(topic("pump-001", TopicKind.COMMANDS))
        cloud.publish(topic("pump-001", TopicKind.COMMANDS), b"for-a")
        assert dev_a.wait_for(1, 3.0)
        assert not dev_b.wait_for(1, 0.3), "B read A's commands"
        # A denied publish is acknowledged (MQTT 3.1.1 has no way to say no) and dropped; Mosquitto 2.0
        # then closes B's connection. A's own message, sent after the PUBACK, marks the end.
        dev_b.publish(topic("pump-001", TopicKind.TELEMETRY), b"forged")
        dev_a.publish(topic("pump-001", TopicKind.TELEMETRY), b"marker")
        assert cloud.wait_for(1, 3.0)
        assert [p for _, p in cloud.messages] == [b"marker"]  # (the cloud may not read commands either)
    finally:
        for probe in (dev_a, dev_b, cloud):
            probe.close()


def test_devices_cannot_read_telemetry_or_write_commands(env: SecureEnv, tmp_path: Path) -> None:
    a = provision(env, "pump-001", tmp_path)
    # A second credential of the same device (as during a rotation's grace period): its own client id.
    second = env.store.issue("acme", "pump-001", DAY_S)
    sync_broker(env.store, env.broker.layout)
    assert eventually_rc(env, second.username, second.password, (0,)) == 0
    forger = Probe(env.broker.tls_url, ca_file=env.broker.layout.ca_cert, username=second.username,
                   password=second.password)
    assert forger.wait_connack() == 0
    reader, watcher, cloud = device_probe(env, a), cloud_probe(env), cloud_probe(env)
    try:
        reader.subscribe(topic("pump-001", TopicKind.COMMANDS))
        reader.subscribe("paas/v1/+/+/telemetry")
        watcher.subscribe("paas/v1/+/+/telemetry")
        forger.publish(topic("pump-001", TopicKind.COMMANDS), b"self-command")  # only the cloud writes commands
        cloud.publish(topic("pump-001", TopicKind.TELEMETRY), b"cloud-forged")  # the cloud writes no telemetry
        reader.publish(topic("pump-001", TopicKind.TELEMETRY), b"marker")
        assert watcher.wait_for(1, 3.0)
        assert [p for _, p in watcher.messages] == [b"marker"]
        assert not reader.wait_for(1, 0.2)  # neither the forged command nor any telemetry, its own included
    finally:
        for probe in (reader, forger, watcher, cloud):
            probe.close()


def test_wrong_password_anonymous_and_plain_text_are_refused(env: SecureEnv, tmp_path: Path) -> None:
    a = provision(env, "pump-001", tmp_path)
    assert eventually_rc(env, a.credential.username, a.credential.password, (0,)) == 0
    assert eventually_rc(env, a.credential.username, "wrong", REFUSED) in REFUSED
    assert eventually_rc(env, None, None, REFUSED) in REFUSED
    assert eventually_rc(env, None, None, REFUSED, url=env.broker.cloud_url) in REFUSED
    # The production profile has no plain-text listener: MQTT without TLS gets no CONNACK on either port.
    for port in (env.broker.tls_port, env.broker.cloud_port):
        assert not plain_text_answer(port).startswith(CONNACK)


def test_provisioning_again_needs_rotate_which_revokes_the_old_password(env: SecureEnv, tmp_path: Path) -> None:
    first = provision(env, "pump-001", tmp_path)
    with pytest.raises(ConflictError, match=r"already provisioned.*--rotate"):
        provision(env, "pump-001", tmp_path)
    with pytest.raises(ConflictError):
        provision(env, "pump-001", tmp_path, tenant="other", rotate=True)
    second = provision(env, "pump-001", tmp_path, rotate=True)
    assert second.credential.username != first.credential.username
    assert eventually_rc(env, second.credential.username, second.credential.password, (0,)) == 0
    assert eventually_rc(env, first.credential.username, first.credential.password, REFUSED) in REFUSED
