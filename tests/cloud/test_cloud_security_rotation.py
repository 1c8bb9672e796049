"""Credential lifecycle on a clock the tests move: hashing, ACL rendering, rotation schedule and retries,
revocation, the CLI (the broker's files are real; a broker that reloads them is in test_cloud_rotation_*)."""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cloud.__main__ import main
from cloud.security.broker_auth import BrokerUser, hash_password, render_acl, verify_password
from cloud.security.credentials import CredentialStore, IssuedCredential
from cloud.security.layout import SecurityLayout
from cloud.security.provisioning import sync_broker
from cloud.security.rotation import RESEND_AFTER_S, CredentialRotator
from cloud.store.database import Database
from cloud.store.schema import ensure_schema
from contract.clock import ManualClock
from contract.wire import Command, DeviceState, DeviceStatus, parse_ts
from edge.credentials import HEALTH_USERNAME_KEY

VALID_S, RETRY_S, RETRY_MAX_S = 1000.0, 10.0, 80.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[CredentialStore, ManualClock]]:
    db = Database(f"sqlite:///{tmp_path / 'cloud.db'}")
    ensure_schema(db)
    clock = ManualClock()
    yield CredentialStore(db, clock), clock
    db.close()


def test_hashes_are_mosquittos_pbkdf2_format() -> None:
    hashed = hash_password("s3cret")
    assert hashed.startswith("$7$101$") and verify_password("s3cret", hashed)
    assert not verify_password("wrong", hashed) and not verify_password("s3cret", "garbage")


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="mosquitto_passwd not installed")
def test_a_hash_written_by_mosquitto_passwd_verifies(tmp_path: Path) -> None:
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(tmp_path / "pw"), "u1", "s3cret"], check=True,
                   capture_output=True)
    assert verify_password("s3cret", (tmp_path / "pw").read_text().strip().split(":", 1)[1])


def test_the_acl_confines_a_device_to_its_own_topics() -> None:
    acl = render_acl([BrokerUser("acme~pump-001~1", "h", "acme", "pump-001"), BrokerUser("paas-cloud", "h")])
    device, cloud = acl.split("user paas-cloud")
    assert "topic write paas/v1/acme/pump-001/telemetry" in device
    assert "topic read paas/v1/acme/pump-001/commands" in device and "+" not in device
    assert "topic read paas/v1/+/+/telemetry" in cloud and "topic write paas/v1/+/+/commands" in cloud
    assert "topic write paas/v1/acme/pump-001/usage" in device and "topic read paas/v1/+/+/usage" in cloud
    with pytest.raises(ValueError, match="cannot be written"):
        render_acl([BrokerUser("evil user", "h", "acme", "x")])


class Broker:
    """Stands in for a broker that re-reads its files at each reload (tests with a real one: test_cloud_rotation_*);
    `up` False is one that cannot be reloaded (not running, or not signallable)."""

    def __init__(self, store: CredentialStore, layout: SecurityLayout) -> None:
        self.store, self.layout, self.up, self.reloads = store, layout, True, 0

    def sync(self) -> bool:
        sync_broker(self.store, self.layout)  # the files, for real
        self.reloads += self.up
        return self.up

    def accepts(self, username: str) -> bool:
        return f"\n{username}:" in "\n" + self.layout.password_file.read_text()


@dataclass
class Rotation:
    """A rotator over real broker files, what it sent, and the device's first credential."""

    creds: CredentialStore
    clock: ManualClock
    rotator: CredentialRotator
    broker: Broker
    sent: list[Command]
    first: IssuedCredential


@pytest.fixture
def rotation(store: tuple[CredentialStore, ManualClock], tmp_path: Path) -> Rotation:
    creds, clock = store
    layout = SecurityLayout(tmp_path / "security")
    broker = Broker(creds, layout)
    sent: list[Command] = []
    rotator = CredentialRotator(creds, layout, sent.append, clock, valid_s=VALID_S, retry_s=RETRY_S,
                                retry_max_s=RETRY_MAX_S, sync=broker.sync, rng=random.Random(7))
    return Rotation(creds, clock, rotator, broker, sent, creds.issue("acme", "pump-001", VALID_S))


def online(clock: ManualClock, username: str) -> DeviceState:
    return DeviceState("acme", "pump-001", clock.time(), DeviceStatus.ONLINE, health={HEALTH_USERNAME_KEY: username})


def test_rotation_is_due_at_80_percent_and_the_old_password_lives_until_proof_or_expiry(rotation: Rotation) -> None:
    creds, clock, rotator = rotation.creds, rotation.clock, rotation.rotator
    broker, sent, first = rotation.broker, rotation.sent, rotation.first
    clock.advance(0.79 * VALID_S)
    assert rotator.sweep() == [] and sent == []
    clock.advance(0.02 * VALID_S)
    assert rotator.sweep() == ["pump-001"]
    (command,) = sent
    assert command.name == "rotate_credentials" and command.device_id == "pump-001"
    new_username = command.params["username"]
    assert parse_ts(command.params["expires_at"]) == pytest.approx(clock.time() + VALID_S, abs=0.01)
    assert verify_password(command.params["password"], broker.layout.password_file.read_text()
                           .split(new_username + ":")[1].split("\n")[0])
    assert broker.accepts(first.username) and broker.accepts(new_username)  # both, until the device shows the new
    assert rotator.sweep() == [] and len(sent) == 1  # neither rotated twice nor sent again at once
    clock.advance(first.expires_at - clock.time() - 1)
    rotator.sweep()  # a device that did not get it yet may still log in with the old password...
    assert broker.accepts(first.username)
    clock.advance(1)
    rotator.sweep()  # ...until it expires anyway
    assert not broker.accepts(first.username)
    assert [c.username for c in creds.active("pump-001")] == [new_username]


def test_a_rotation_not_yet_in_use_is_sent_again_the_same_with_growing_jittered_delays(rotation: Rotation) -> None:
    clock, rotator = rotation.clock, rotation.rotator
    broker, sent, first = rotation.broker, rotation.sent, rotation.first
    rotator.rotate("pump-001")
    waits = []
    for _ in range(6):
        pending = rotator.pending.get(sent[-1].params["username"])
        assert pending is not None
        waits.append(pending.next_at - clock.time())
        clock.advance(RETRY_MAX_S)  # past any retry's deadline
        rotator.sweep()
    assert len(sent) == 7
    assert {(c.params["username"], c.params["password"]) for c in sent} == {
        (sent[0].params["username"], sent[0].params["password"])}  # the same credentials, never a new one
    assert all(0 < w <= min(RETRY_MAX_S, RETRY_S * 2**n) for n, w in enumerate(waits))
    assert max(waits) > RETRY_S  # exponential: beyond the first delay
    assert broker.accepts(first.username)  # nothing the device may hold is revoked meanwhile
    assert rotator.observe(online(clock, sent[0].params["username"]))
    assert not broker.accepts(first.username) and rotator.pending.all() == []


def test_a_device_back_on_its_superseded_login_is_sent_its_new_credentials_again_at_once(rotation: Rotation) -> None:
    clock, rotator = rotation.clock, rotation.rotator
    sent, first = rotation.sent, rotation.first
    rotator.rotate("pump-001")
    assert not rotator.observe(online(clock, first.username)) and len(sent) == 1  # a heartbeat before the switch
    clock.advance(RESEND_AFTER_S)
    assert not rotator.observe(online(clock, first.username))  # back from offline, before any retry was due
    assert len(sent) == 2 and sent[1].params == sent[0].params


def test_the_old_password_is_revoked_once_the_device_reports_the_new_one(rotation: Rotation) -> None:
    clock, rotator = rotation.clock, rotation.rotator
    broker, first = rotation.broker, rotation.first
    new = rotator.rotate("pump-001")
    assert not rotator.observe(online(clock, first.username))  # a heartbeat of the old connection proves nothing
    assert rotator.observe(online(clock, new.username))
    assert not broker.accepts(first.username) and broker.accepts(new.username)
    assert not rotator.observe(online(clock, new.username))
    assert rotator.pending.all() == []


def test_a_broker_that_cannot_be_reloaded_gets_nothing_sent_and_the_rotation_is_retried(rotation: Rotation) -> None:
    creds, clock, rotator = rotation.creds, rotation.clock, rotation.rotator
    broker, sent, first = rotation.broker, rotation.sent, rotation.first
    clock.advance(0.81 * VALID_S)
    broker.up = False
    assert rotator.sweep() == ["pump-001"]
    assert sent == []  # never a password the broker may not know
    clock.advance(RETRY_MAX_S)
    rotator.sweep()
    assert sent == [] and broker.accepts(first.username)
    broker.up = True
    clock.advance(RETRY_MAX_S)
    assert rotator.sweep() == []  # the same rotation, retried: not a new one
    (command,) = sent
    assert command.params["username"] == creds.current("pump-001").username != first.username


def test_a_newest_credential_that_was_never_sent_is_superseded_by_a_fresh_rotation(rotation: Rotation) -> None:
    creds, clock, rotator = rotation.creds, rotation.clock, rotation.rotator
    broker, sent, first = rotation.broker, rotation.sent, rotation.first
    lost = creds.issue("acme", "pump-001", VALID_S)  # the cloud stopped between issuing and keeping it
    assert rotator.sweep() == ["pump-001"]
    (command,) = sent
    assert command.params["username"] not in (first.username, lost.username)
    assert rotator.observe(online(clock, command.params["username"]))
    assert [c.username for c in creds.active("pump-001")] == [command.params["username"]]
    assert not broker.accepts(lost.username) and not broker.accepts(first.username)


def test_provision_device_cli_writes_the_bundle_and_refuses_a_second_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["provision-device", "--device-id", "pump-009", "--tenant", "acme", "--out", str(tmp_path / "bundle"),
            "--security-dir", str(tmp_path / "security"), "--db", f"sqlite:///{tmp_path / 'cloud.db'}",
            "--broker-url", "mqtts://localhost:8883", "--valid-days", "10"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "provisioned pump-009 (tenant acme): broker user acme~pump-009~1" in out and "next:" in out
    env = (tmp_path / "bundle" / "edge.env").read_text()
    assert "PAAS_EDGE_BROKER_URL=mqtts://localhost:8883" in env and "PAAS_EDGE_PASSWORD_FILE=" in env
    assert "acme~pump-009~1:$7$" in (tmp_path / "security" / "mosquitto.passwd").read_text()
    assert main(args) == 2
    assert "already provisioned" in capsys.readouterr().err
    assert main([*args, "--rotate"]) == 0
    assert "acme~pump-009~1" not in (tmp_path / "security" / "mosquitto.passwd").read_text()
    assert main(["broker-config", "--security-dir", str(tmp_path / "security"), "--tls-port", "9883",
                 "--db", f"sqlite:///{tmp_path / 'cloud.db'}"]) == 0
    assert "listener 9883 0.0.0.0" in capsys.readouterr().out
