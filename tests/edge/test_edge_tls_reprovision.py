"""A re-provisioned agent and a refused login, with a real agent on a real Mosquitto (production profile, TLS)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from security_testkit import (
    REFUSED,
    Probe,
    SecureEnv,
    agent_settings,
    cloud_probe,
    eventually_rc,
    provision,
    secure_env,
    topic,
    wait_until,
)

from contract.wire import DeviceState, DeviceStatus, TopicKind, decode
from edge.agent import Agent
from edge.credentials import HEALTH_USERNAME_KEY, load_credentials
from edge.errors import LinkError

pytestmark = pytest.mark.mosquitto


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SecureEnv]:
    with secure_env(tmp_path / "cloud") as opened:
        yield opened


def test_a_re_provisioned_agent_logs_in_with_its_new_bundle_not_its_stale_rotated_credentials(
    env: SecureEnv, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    first = provision(env, "pump-001", tmp_path)
    assert eventually_rc(env, first.credential.username, first.credential.password, (0,)) == 0
    agent = Agent(agent_settings(first.directory, state))
    rotation = env.rotation()
    agent.start()
    try:
        rotated = rotation.rotate_now("pump-001")
        assert rotation.settle("pump-001", 10.0), "the agent did not take its rotated credentials"
    finally:
        agent.stop(flush_timeout_s=0.5)
        rotation.stop()
    assert load_credentials(state, first.credential.username, first.directory / "password").username == \
        rotated.username  # credentials.json: the rotation's, newer than the first bundle

    # The device is re-installed: `provision-device --rotate` revokes everything it had, rotations included.
    second = provision(env, "pump-001", tmp_path, rotate=True)
    assert eventually_rc(env, rotated.username, rotated.password, REFUSED) in REFUSED
    watcher = cloud_probe(env)
    watcher.subscribe(topic("pump-001", TopicKind.STATE))
    again = Agent(agent_settings(second.directory, state))
    try:
        again.start()  # a stale credentials.json winning would be refused here (LinkError)
        wait_until(lambda: logins(watcher)[-1:] == [second.credential.username], 5.0, "a birth on the new bundle")
    finally:
        again.stop(flush_timeout_s=0.5)
        watcher.close()
    # Rotations from now on descend from the second bundle: the next start keeps the bundle's login.
    assert load_credentials(state, second.credential.username, second.directory / "password").username == \
        second.credential.username


def logins(probe: Probe) -> list[str]:
    """The usernames the device's online states report, in order."""
    decoded = [decode(t, payload) for t, payload in list(probe.messages)]
    return [str(s.health[HEALTH_USERNAME_KEY]) for s in decoded
            if isinstance(s, DeviceState) and s.status is DeviceStatus.ONLINE and HEALTH_USERNAME_KEY in s.health]


def test_a_refused_login_is_reported_as_a_credential_problem_not_an_unreachable_broker(
    env: SecureEnv, tmp_path: Path
) -> None:
    bundle = provision(env, "pump-001", tmp_path)
    (bundle.directory / "password").write_text("not-the-password\n")
    agent = Agent(agent_settings(bundle.directory, tmp_path / "state", connect_timeout_s=2.0))
    with pytest.raises(LinkError) as refused:
        agent.start()
    message = str(refused.value)
    assert "refused the login of user 'acme~pump-001~1': not authorised" in message
    assert "re-provision" in message and "credentials.json" in message
    assert "check --broker" not in message
