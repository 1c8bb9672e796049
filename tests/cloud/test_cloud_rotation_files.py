"""The broker's files on a Mosquitto run the Debian way: owned by the `mosquitto` user, kept so by every rewrite.

Mosquitto started as root drops to `mosquitto` before it reads its certificate, key, password and
ACL files, at start and at every reload (SIGHUP). Files rewritten 0600 as root are unreadable to
it: the next reload leaves the broker without passwords and every login fails.
"""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from security_testkit import (
    REFUSED,
    DebianMosquitto,
    debian_prerequisites,
    debian_root,
    login_rc,
    owners,
    wait_until,
)

from cloud.__main__ import main
from cloud.broker import free_port
from cloud.security.broker_config import DROP_IN_NAME, PACKAGED_SETTINGS
from cloud.security.files import write_keeping_owner
from cloud.security.layout import SecurityLayout

pytestmark = pytest.mark.mosquitto


@pytest.fixture
def debian(monkeypatch: pytest.MonkeyPatch) -> Iterator[DebianMosquitto]:
    with debian_root() as root:
        broker = DebianMosquitto(root)
        monkeypatch.setenv("PAAS_BROKER_PID_FILE", str(broker.pid_file))
        try:
            yield broker
        finally:
            broker.stop()


def give_to_mosquitto(layout: SecurityLayout) -> None:
    """docs/security.md: the broker's key, password and ACL files belong to its user (an ACL group-readable here,
    to show that a mode is kept too)."""
    for path in layout.broker_files:
        path.chmod(0o640 if path.name.endswith(".acl") else 0o600)
        shutil.chown(path, "mosquitto", "mosquitto")


def broker_config(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["broker-config", *args]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def test_the_production_config_is_a_conf_d_drop_in_with_absolute_paths_and_a_loopback_cloud_listener(
    debian: DebianMosquitto, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(debian.root)  # a relative --security-dir, as an operator may type it
    device_port, cloud_port = free_port(), free_port()
    printed = broker_config(capsys, "--security-dir", "etc/paas/security", "--db", f"sqlite:///{tmp_path}/c.db",
                            "--broker-url", f"mqtts://localhost:{device_port}", "--cloud-port", str(cloud_port))
    paths = [word for line in printed.splitlines() if not line.startswith("#") for word in line.split()[1:]
             if "/" in word]
    assert paths and all(p.startswith(str(debian.root / "etc/paas/security")) for p in paths)
    assert f"listener {cloud_port} 127.0.0.1" in printed and f"listener {device_port} 0.0.0.0" in printed
    assert not [line for line in printed.splitlines() if line.split(" ")[0] in PACKAGED_SETTINGS]
    (debian.conf_d / DROP_IN_NAME).write_text(printed)
    give_to_mosquitto(SecurityLayout(debian.root / "etc/paas/security"))
    debian.start(cloud_port)  # "Duplicate pid_file value" would stop it here
    assert "Error" not in debian.complaints()


def test_provisioning_and_rotation_keep_the_broker_files_owner_so_logins_keep_working(
    debian: DebianMosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    security, db = debian.root / "etc/paas/security", f"sqlite:///{debian.root}/cloud.db"
    layout = SecurityLayout(security, debian.pid_file)
    device_port, cloud_port = free_port(), free_port()
    common = ["--security-dir", str(security), "--db", db]
    device_url, cloud_url = f"mqtts://localhost:{device_port}", f"mqtts://localhost:{cloud_port}"
    (debian.conf_d / DROP_IN_NAME).write_text(broker_config(capsys, *common, "--broker-url", device_url,
                                                            "--cloud-port", str(cloud_port)))
    give_to_mosquitto(layout)
    before = owners([*layout.broker_files, layout.ca_cert, layout.server_cert])
    assert before["ca.pem"] == ("root", 0o644) and before["server.key"] == ("mosquitto", 0o600)
    debian.start(cloud_port)

    assert main(["provision-device", "--device-id", "pump-001", "--tenant", "acme", "--out",
                 str(debian.root / "bundle"), "--broker-url", device_url, *common]) == 0
    assert "(broker reloaded)" in capsys.readouterr().out
    password = (debian.root / "bundle/password").read_text().strip()
    wait_until(lambda: login_rc(device_url, layout.ca_cert, "acme~pump-001~1", password) == 0, 5.0,
               "the provisioned device's login")
    assert owners([*layout.broker_files, layout.ca_cert, layout.server_cert]) == before

    # A rotation rewrites the files again (the device is away: the new credential is sent, not yet proven).
    assert main(["rotate-credentials", "--device-id", "pump-001", "--broker", cloud_url, "--wait", "0.2",
                 "--security-dir", str(security), "--db", db]) == 0
    assert "has not been seen with its new credentials" in capsys.readouterr().out
    (pending,) = (p for p in (security / "rotations").iterdir())
    assert stat.S_IMODE(pending.stat().st_mode) == 0o600 and stat.S_IMODE(pending.parent.stat().st_mode) == 0o700
    new = json.loads(pending.read_text())
    assert new["username"] == "acme~pump-001~2"
    assert owners([*layout.broker_files, layout.ca_cert, layout.server_cert]) == before
    # The broker re-read the rewritten files as `mosquitto`: both logins work until the device proves the new one.
    wait_until(lambda: login_rc(device_url, layout.ca_cert, new["username"], new["password"]) == 0, 5.0,
               "the rotated credential's login")
    assert login_rc(device_url, layout.ca_cert, "acme~pump-001~1", password) == 0
    assert login_rc(device_url, layout.ca_cert, new["username"], "wrong") in REFUSED


def test_a_rewrite_keeps_owner_group_and_mode_and_a_new_file_is_private(tmp_path: Path) -> None:
    debian_prerequisites()
    kept, fresh = tmp_path / "mosquitto.passwd", tmp_path / "new.acl"
    kept.write_text("old\n")
    kept.chmod(0o640)
    shutil.chown(kept, "mosquitto", "mosquitto")
    write_keeping_owner(kept, b"new\n")
    write_keeping_owner(fresh, b"acl\n")
    assert kept.read_text() == "new\n" and owners([kept]) == {"mosquitto.passwd": ("mosquitto", 0o640)}
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mosquitto.passwd", "new.acl"]  # no temporary file left
