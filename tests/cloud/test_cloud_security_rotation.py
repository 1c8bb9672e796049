"""Credential lifecycle without a broker: hashing, ACL rendering, rotation schedule, revocation, the CLI."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.__main__ import main
from cloud.security.broker_auth import BrokerUser, hash_password, render_acl, verify_password
from cloud.security.credentials import CredentialStore
from cloud.security.layout import SecurityLayout
from cloud.security.rotation import RESEND_AFTER_S, CredentialRotator
from cloud.store.database import Database
from cloud.store.schema import ensure_schema
from contract.clock import ManualClock
from contract.wire import Command, DeviceState, DeviceStatus, parse_ts
from edge.credentials import HEALTH_USERNAME_KEY

VALID_S, GRACE_S = 1000.0, 60.0


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


def test_rotation_is_due_at_80_percent_and_the_old_password_lives_until_its_expiry(
    store: tuple[CredentialStore, ManualClock], tmp_path: Path
) -> None:
    creds, clock = store
    layout = SecurityLayout(tmp_path / "security")
    sent: list[Command] = []
    rotator = CredentialRotator(creds, layout, sent.append, clock, valid_s=VALID_S, grace_s=GRACE_S)
    first = creds.issue("acme", "pump-001", VALID_S)
    clock.advance(0.79 * VALID_S)
    assert rotator.sweep() == [] and sent == []
    clock.advance(0.02 * VALID_S)
    assert rotator.sweep() == ["pump-001"]
    (command,) = sent
    assert command.name == "rotate_credentials" and command.device_id == "pump-001"
    new_username = command.params["username"]
    assert parse_ts(command.params["expires_at"]) == pytest.approx(clock.time() + VALID_S, abs=0.01)
    assert verify_password(command.params["password"], layout.password_file.read_text().split(new_username + ":")[1]
                           .split("\n")[0])
    assert first.username in layout.password_file.read_text()  # both accepted during the grace period
    assert rotator.sweep() == []  # not rotated twice
    clock.advance(GRACE_S + 1)
    rotator.sweep()  # a device offline during the rotation may still log in with the old password...
    assert first.username in layout.password_file.read_text()
    clock.advance(first.expires_at - clock.time())
    rotator.sweep()  # ...until it would have expired anyway
    assert first.username not in layout.password_file.read_text()
    assert [c.username for c in creds.active("pump-001")] == [new_username]


def test_a_device_back_on_its_superseded_login_gets_a_fresh_rotation(
    store: tuple[CredentialStore, ManualClock], tmp_path: Path
) -> None:
    creds, clock = store
    sent: list[Command] = []
    rotator = CredentialRotator(creds, SecurityLayout(tmp_path / "security"), sent.append, clock, valid_s=VALID_S,
                                grace_s=GRACE_S)
    first = creds.issue("acme", "pump-001", VALID_S)
    rotator.rotate("pump-001")
    old_login = DeviceState("acme", "pump-001", clock.time(), DeviceStatus.ONLINE,
                            health={HEALTH_USERNAME_KEY: first.username})
    assert not rotator.on_state(old_login) and len(sent) == 1  # a heartbeat just before the switch: wait
    clock.advance(RESEND_AFTER_S + 1)
    assert not rotator.on_state(old_login)
    assert len(sent) == 2 and sent[1].params["username"] != sent[0].params["username"]


def test_the_old_password_is_revoked_once_the_device_reports_the_new_one(
    store: tuple[CredentialStore, ManualClock], tmp_path: Path
) -> None:
    creds, clock = store
    layout = SecurityLayout(tmp_path / "security")
    rotator = CredentialRotator(creds, layout, lambda c: None, clock, valid_s=VALID_S, grace_s=GRACE_S)
    first = creds.issue("acme", "pump-001", VALID_S)
    new = rotator.rotate("pump-001")

    def state(username: str) -> DeviceState:
        return DeviceState("acme", "pump-001", clock.time(), DeviceStatus.ONLINE,
                           health={HEALTH_USERNAME_KEY: username})

    assert not rotator.on_state(state(first.username))  # a heartbeat of the old connection proves nothing
    assert rotator.on_state(state(new.username))
    assert first.username not in layout.password_file.read_text()
    assert not rotator.on_state(state(new.username))


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
