"""Rotation inside `cloud serve`, with real agents on a real Mosquitto (production profile, TLS).

The service's clock is a `ManualClock` started at the real time: the tests move it past a
credential's 80 % mark or a retry's deadline; the agents, the broker and the service's passes
run in real time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from security_testkit import REFUSED, SecureEnv, agent_settings, eventually_rc, login_rc, secure_env, wait_until

from cloud.__main__ import main
from cloud.security.pending import PendingRotations
from cloud.security.provisioning import DeviceBundle, provision_device
from cloud.server import CloudService
from contract.clock import ManualClock
from edge.agent import Agent

pytestmark = pytest.mark.mosquitto
DAY_S = 86400.0
FAST = {"rotation_interval_s": 0.2, "rotation_retry_s": 0.5, "rotation_retry_max_s": 1.0}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SecureEnv]:
    with secure_env(tmp_path / "cloud") as opened:
        yield opened


def provisioned(env: SecureEnv, tmp_path: Path, clock: ManualClock, valid_s: float = 30 * DAY_S) -> DeviceBundle:
    bundle = provision_device(env.store, env.broker.layout, clock, tenant="acme", device_id="pump-001",
                              out_dir=tmp_path / "bundle", broker_url=env.broker.tls_url, valid_s=valid_s)
    assert eventually_rc(env, bundle.credential.username, bundle.credential.password, (0,)) == 0
    return bundle


def in_use(env: SecureEnv, username: str) -> bool:
    """The device proved `username` in use: it is the only credential the cloud still accepts."""
    return [c.username for c in env.store.active("pump-001")] == [username]


def test_the_service_rotates_a_due_device_and_revokes_the_old_password_once_the_agent_uses_the_new(
    env: SecureEnv, tmp_path: Path
) -> None:
    clock = ManualClock(time.time())
    bundle = provisioned(env, tmp_path, clock, valid_s=10 * DAY_S)
    agent = Agent(agent_settings(bundle.directory, tmp_path / "state"))
    agent.start()
    try:
        with CloudService(env.cloud_settings(**FAST), clock=clock):
            time.sleep(0.5)  # passes run: nothing is due yet
            assert [c.username for c in env.store.active("pump-001")] == [bundle.credential.username]
            clock.advance(8.5 * DAY_S)  # below 20 % of its validity
            # Issued, sent, used and the old one revoked may all happen between two polls: wait for the new one.
            wait_until(lambda: env.store.active("pump-001")[-1].username != bundle.credential.username, 5.0,
                       "a rotation by the service")
            new = env.store.active("pump-001")[-1].username
            wait_until(lambda: in_use(env, new), 10.0, "the agent on its new credentials, the old revoked")
        old = bundle.credential
        assert eventually_rc(env, old.username, old.password, REFUSED) in REFUSED
    finally:
        agent.stop(flush_timeout_s=0.5)


def test_a_device_offline_during_a_rotation_gets_it_when_it_comes_back_on_its_old_login(
    env: SecureEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock(time.time())
    bundle = provisioned(env, tmp_path, clock)
    for name in ("PAAS_ROTATION_RETRY_S", "PAAS_ROTATION_RETRY_MAX_S"):  # no retry falls due in this test
        monkeypatch.setenv(name, "86400")
    with CloudService(env.cloud_settings(rotation_interval_s=0.2), clock=clock):
        # The operator rotates while the device is off: sent, received by nobody (commands are not retained).
        assert main(["rotate-credentials", "--device-id", "pump-001", "--wait", "0.2", "--broker", env.broker.cloud_url,
                     "--security-dir", str(env.broker.layout.root), "--db", env.db_url]) == 0
        assert "has not been seen with its new credentials" in capsys.readouterr().out
        new = env.store.active("pump-001")[-1]
        clock.advance(60)  # later, and long before any retry is due
        agent = Agent(agent_settings(bundle.directory, tmp_path / "state"))
        agent.start()  # back, on its old (provisioned) login: the service sends it the new credentials at once
        try:
            wait_until(lambda: in_use(env, new.username), 10.0, "the agent on its new credentials, the old revoked")
        finally:
            agent.stop(flush_timeout_s=0.5)
    assert login_rc(env.broker.tls_url, env.broker.layout.ca_cert, bundle.credential.username,
                    bundle.credential.password) in REFUSED


def test_a_rotation_the_broker_could_not_take_is_sent_once_it_can_be_reloaded(env: SecureEnv, tmp_path: Path) -> None:
    clock = ManualClock(time.time())
    bundle = provisioned(env, tmp_path, clock, valid_s=10 * DAY_S)
    agent = Agent(agent_settings(bundle.directory, tmp_path / "state"))
    agent.start()
    wrong_pid_file = tmp_path / "mosquitto.pid"  # PAAS_BROKER_PID_FILE names no running broker (yet)
    try:
        with CloudService(env.cloud_settings(broker_pid_file=wrong_pid_file, **FAST), clock=clock):
            clock.advance(8.5 * DAY_S)
            # Issued, sent, used and the old one revoked may all happen between two polls: wait for the new one.
            wait_until(lambda: env.store.active("pump-001")[-1].username != bundle.credential.username, 5.0,
                       "a rotation by the service")
            new = env.store.active("pump-001")[-1].username
            for _ in range(4):  # retries, each failing: the broker cannot be reloaded, so nothing is sent
                clock.advance(2.0)
                time.sleep(0.3)
            assert len(env.store.active("pump-001")) == 2  # nothing revoked, the agent still on its old login
            waiting = PendingRotations(env.broker.layout.rotations_dir).get(new)
            assert waiting is not None and waiting.sent_at is None and waiting.attempts >= 3  # never sent
            wrong_pid_file.write_text(env.broker.layout.pid_file.read_text())  # the operator fixes it
            wait_until(lambda: in_use(env, new), 10.0, "the agent on its new credentials, the old revoked",
                       tick=lambda: clock.advance(1.0))  # retries fall due again
    finally:
        agent.stop(flush_timeout_s=0.5)
