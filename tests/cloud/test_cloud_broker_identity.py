"""Client ids bound to identities, on a real Mosquitto running the production profile.

A client id names a session: connecting with one takes that session over (and, with a clean
session, wipes it with its queue). The device listener makes each device's client id its own
username; the cloud logs in on a listener of its own that no device credential opens.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from security_testkit import (
    REFUSED,
    SecureEnv,
    cloud_probe,
    device_probe,
    eventually_rc,
    login_rc,
    provision,
    secure_env,
    topic,
)

from cloud.__main__ import main
from cloud.security.broker_auth import CLOUD_USERNAME
from cloud.security.provisioning import DeviceBundle, cloud_password
from cloud.settings import CloudSettings
from contract.wire import TopicKind

pytestmark = pytest.mark.mosquitto
INGEST_ID = CloudSettings.model_fields["ingest_client_id"].default  # "paas-cloud-ingest"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SecureEnv]:
    with secure_env(tmp_path) as opened:
        yield opened


def provisioned(env: SecureEnv, device_id: str, tmp_path: Path) -> DeviceBundle:
    bundle = provision(env, device_id, tmp_path)
    assert eventually_rc(env, bundle.credential.username, bundle.credential.password, (0,)) == 0
    return bundle


def test_a_device_using_the_ingests_client_id_neither_takes_over_nor_wipes_its_session(
    env: SecureEnv, tmp_path: Path
) -> None:
    intruder, sender = provisioned(env, "pump-001", tmp_path), provisioned(env, "pump-002", tmp_path)
    ingest = cloud_probe(env, client_id=INGEST_ID, clean_session=False)
    ingest.subscribe("paas/v1/+/+/telemetry")
    device = device_probe(env, sender)
    attempt = device_probe(env, intruder, client_id=INGEST_ID)  # accepted, but as its own username
    try:
        device.publish(topic("pump-002", TopicKind.TELEMETRY), b"while-connected")
        assert ingest.wait_for(1, 3.0), "the ingest lost its subscription"
        assert ingest.disconnects == 0, "a device credential took the ingest's session over"
        attempt.close()
        ingest.close()  # the ingest is down; its persistent session queues for it
        for n in range(3):
            device.publish(topic("pump-002", TopicKind.TELEMETRY), f"queued-{n}".encode())
        # A clean-session login with the ingest's id would discard that session and its queue.
        device_probe(env, intruder, client_id=INGEST_ID).close()
    finally:
        attempt.close()
        device.close()
    back = cloud_probe(env, client_id=INGEST_ID, clean_session=False)  # no new subscription: the old session's
    try:
        assert back.wait_for(3, 5.0), "the ingest's queued messages were lost"
        assert [p for _, p in back.messages] == [b"queued-0", b"queued-1", b"queued-2"]
    finally:
        back.close()


def test_each_listener_takes_only_its_own_credentials(env: SecureEnv, tmp_path: Path) -> None:
    device = provisioned(env, "pump-001", tmp_path)
    ca = env.broker.layout.ca_cert
    assert login_rc(env.broker.cloud_url, ca, device.credential.username, device.credential.password) in REFUSED
    cloud = cloud_password(env.broker.layout)
    assert login_rc(env.broker.cloud_url, ca, CLOUD_USERNAME, cloud) == 0
    assert login_rc(env.broker.tls_url, ca, CLOUD_USERNAME, cloud) in REFUSED


def test_a_device_cannot_kick_another_off_with_its_client_id(env: SecureEnv, tmp_path: Path) -> None:
    a, b = provisioned(env, "pump-001", tmp_path), provisioned(env, "pump-002", tmp_path)
    agent_id = "edge-acme-pump-002"  # the id B's agent asks for (edge.agent): predictable
    victim, cloud = device_probe(env, b, client_id=agent_id), cloud_probe(env)
    victim.subscribe(topic("pump-002", TopicKind.COMMANDS))
    try:
        for n, stolen_id in enumerate((agent_id, b.credential.username)):
            attacker = device_probe(env, a, client_id=stolen_id)  # accepted, as A's own session
            try:
                cloud.publish(topic("pump-002", TopicKind.COMMANDS), f"for-b-{n}".encode())
                assert victim.wait_for(n + 1, 3.0), "B no longer receives its commands"
                assert victim.disconnects == 0, f"A's login with client id {stolen_id!r} disconnected B"
                assert attacker.client.is_connected()
            finally:
                attacker.close()
    finally:
        victim.close()
        cloud.close()


def test_a_device_reads_its_own_confirm_topic_and_no_other(env: SecureEnv, tmp_path: Path) -> None:
    a, b = provisioned(env, "pump-001", tmp_path), provisioned(env, "pump-002", tmp_path)
    dev_a, dev_b, cloud = device_probe(env, a), device_probe(env, b), cloud_probe(env)
    try:
        dev_a.subscribe(topic("pump-001", TopicKind.CONFIRM))
        dev_a.subscribe(topic("pump-002", TopicKind.CONFIRM))  # granted, but filtered per message
        dev_b.subscribe(topic("pump-002", TopicKind.CONFIRM))
        cloud.publish(topic("pump-002", TopicKind.CONFIRM), b"for-b")  # the cloud writes every device's confirm
        cloud.publish(topic("pump-001", TopicKind.CONFIRM), b"for-a")
        assert dev_b.wait_for(1, 3.0) and dev_a.wait_for(1, 3.0)
        assert dev_a.messages == [(topic("pump-001", TopicKind.CONFIRM), b"for-a")]  # B's came first, if at all
        assert dev_b.messages == [(topic("pump-002", TopicKind.CONFIRM), b"for-b")]
    finally:
        for probe in (dev_a, dev_b, cloud):
            probe.close()


def test_rotate_credentials_logs_in_on_the_cloud_listener(
    env: SecureEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    device = provisioned(env, "pump-001", tmp_path)
    args = ["rotate-credentials", "--device-id", "pump-001", "--security-dir", str(env.broker.layout.root),
            "--db", f"sqlite:///{tmp_path / 'cloud.db'}", "--wait", "0.2"]
    assert main([*args, "--broker", env.broker.cloud_url]) == 0  # PAAS_BROKER, as `cloud serve` uses
    assert "rotated: pump-001" in capsys.readouterr().out
    assert env.store.current("pump-001").username != device.credential.username
