"""The agent over TLS with provisioned credentials, and a credential rotation end to end, on a real Mosquitto."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from edge_testkit import wait_until
from security_testkit import REFUSED, Probe, SecureEnv, agent_settings, eventually_rc, secure_env

from cloud.security.broker_auth import CLOUD_USERNAME
from cloud.security.layout import SecurityLayout
from cloud.security.pki import ensure_pki
from cloud.security.provisioning import DeviceBundle, cloud_password, provision_device
from contract.clock import SystemClock
from contract.wire import DeviceState, decode
from edge.agent import Agent
from edge.credentials import HEALTH_USERNAME_KEY
from edge.errors import LinkError

pytestmark = pytest.mark.mosquitto
DAY_S = 86400.0


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SecureEnv]:
    with secure_env(tmp_path) as opened:
        yield opened


@pytest.fixture
def bundle(env: SecureEnv, tmp_path: Path) -> DeviceBundle:
    made = provision_device(env.store, env.broker.layout, SystemClock(), tenant="acme", device_id="pump-001",
                            out_dir=tmp_path / "bundle", broker_url=env.broker.tls_url, valid_s=30 * DAY_S)
    assert eventually_rc(env, made.credential.username, made.credential.password, (0,)) == 0
    return made


def cloud_watcher(env: SecureEnv) -> Probe:
    probe = Probe(env.broker.cloud_url, ca_file=env.broker.layout.ca_cert, username=CLOUD_USERNAME,
                  password=cloud_password(env.broker.layout))
    assert probe.wait_connack() == 0
    probe.subscribe("paas/v1/acme/pump-001/telemetry")
    probe.subscribe("paas/v1/acme/pump-001/state")
    return probe


def states(probe: Probe) -> list[DeviceState]:
    decoded = [decode(topic, payload) for topic, payload in list(probe.messages) if topic.endswith("/state")]
    return [s for s in decoded if isinstance(s, DeviceState)]


def telemetry_count(probe: Probe) -> int:
    return sum(1 for topic, _ in list(probe.messages) if topic.endswith("/telemetry"))


def test_the_agent_publishes_over_tls_with_its_provisioned_credentials(
    env: SecureEnv, bundle: DeviceBundle, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watcher = cloud_watcher(env)
    agent = Agent(agent_settings(bundle.directory, tmp_path / "state"))
    agent.start()
    try:
        wait_until(lambda: telemetry_count(watcher) >= 2, timeout_s=5.0, what="telemetry over TLS")
        assert states(watcher)[0].health[HEALTH_USERNAME_KEY] == bundle.credential.username
    finally:
        agent.stop(flush_timeout_s=0.5)  # no cloud confirms here: do not wait for it
        watcher.close()
    assert bundle.credential.password not in caplog.text


def test_a_broker_certificate_of_another_ca_is_refused(env: SecureEnv, bundle: DeviceBundle, tmp_path: Path) -> None:
    other = SecurityLayout(tmp_path / "other-ca")
    ensure_pki(other, SystemClock())
    agent = Agent(agent_settings(bundle.directory, tmp_path / "state", ca_file=other.ca_cert, connect_timeout_s=1.0))
    with pytest.raises(LinkError, match="CERTIFICATE_VERIFY_FAILED"):
        agent.start()


def test_rotation_end_to_end_new_credentials_in_use_and_the_old_password_revoked(
    env: SecureEnv, bundle: DeviceBundle, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    settings = agent_settings(bundle.directory, state_dir)
    rotation = env.rotation()
    watcher = cloud_watcher(env)
    agent = Agent(settings)
    agent.start()
    try:
        # Telemetry after the CONNECT's SUBSCRIBE on the same stream: the commands subscription is in place.
        wait_until(lambda: telemetry_count(watcher) >= 1, timeout_s=5.0, what="first telemetry")
        new = rotation.rotate_now("pump-001")
        assert rotation.settle("pump-001", 10.0), "the agent did not reconnect with its new credentials"
        stored = state_dir / "credentials.json"
        assert json.loads(stored.read_text())["username"] == new.username
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        old = bundle.credential
        assert eventually_rc(env, old.username, old.password, REFUSED) in REFUSED
        assert eventually_rc(env, new.username, new.password, (0,)) == 0
        sent = telemetry_count(watcher)
        wait_until(lambda: telemetry_count(watcher) > sent, timeout_s=5.0, what="telemetry after the rotation")
    finally:
        agent.stop(flush_timeout_s=0.5)  # no cloud confirms here: do not wait for it
        rotation.stop()
    # Restarted, the agent logs in with the rotated credentials of its state dir, not the revoked bundle's.
    again = Agent(settings)
    again.start()
    try:
        wait_until(lambda: states(watcher)[-1].health.get(HEALTH_USERNAME_KEY) == new.username, timeout_s=5.0,
                   what="birth with the rotated username")
    finally:
        again.stop(flush_timeout_s=0.5)
        watcher.close()
