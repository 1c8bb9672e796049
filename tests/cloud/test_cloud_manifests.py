"""Signed manifests: every `set_desired_state` carries one, counters grow per device whoever asks, and the key's home.

Commands are taken off a real Mosquitto (or, for the concurrency test, recorded by the API's
publisher) and verified with `cryptography` against the public key, as a device would.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path

import httpx
import pytest
from authtest_support import RoleClients, bearer, database_role_key
from cloudtest_support import T0, Publisher, Stores, service_settings, wait_until
from otatest_support import (
    api_with_commands,
    device_commands,
    register,
    report,
    stored,
    upload_calibration,
    verified_manifest,
)
from pydantic import SecretStr

from cloud.auth.roles import Role
from cloud.broker import MosquittoBroker
from cloud.errors import ConfigError
from cloud.registry.signing import load_signing_key, public_key_pem
from cloud.server import CloudService
from cloud.settings import CloudSettings, Environment
from cloud.store.tables import DesiredStateRow
from contract.manifest import KEY_ID_PARAM, MANIFEST_PARAM, parse_manifest
from contract.wire import Command

KEY = "model-signing-key.pem"
STRONG_SECRET = SecretStr("a-long-random-auth-secret-for-these-tests-0123456789")


def test_every_command_path_carries_a_manifest_signed_by_the_provisioned_key(
    mosquitto: MosquittoBroker, clients: RoleClients, publisher: Publisher, cloud: CloudService, tmp_path: Path,
) -> None:
    operator, viewer = clients(Role.OPERATOR), clients(Role.VIEWER)
    pem = public_key_pem(cloud.settings)  # what provisioning writes into a device's bundle
    published = viewer.get("/models/signing-key").json()
    assert published["public_key_pem"] == pem and "manifest" in published["signed_message"]
    # PAAS_ENV=local made the key in a folder of its own, not among the database's files.
    assert sorted(p.name for p in (tmp_path / "cloud" / "keys").iterdir()) == [KEY]
    assert not (tmp_path / "cloud" / KEY).exists()

    upload_calibration(publisher, "pump-7", 400)
    wait_until(lambda: stored(viewer, "pump-7") == 400, what="the calibration stored")
    model = register(operator)
    manifests = []
    with device_commands(mosquitto.url) as commands:

        def next_command() -> Command:
            command = commands.get(timeout=10)
            assert (command.device_id, command.name) == ("pump-7", "set_desired_state")
            assert command.params[KEY_ID_PARAM] == published["key_id"]
            return command

        # An operator's change, with a sample rate.
        put = operator.put("/devices/pump-7/state", json={"model_id": "pump-det", "model_version": "1",
                                                          "sample_rate_hz": 5})
        assert put.status_code == 200, put.text
        manifests.append(verified_manifest(next_command(), pem))
        assert manifests[-1].settings == {"sample_rate_hz": 5.0}
        assert (manifests[-1].sha256, manifests[-1].size_bytes) == (model["sha256"], model["size_bytes"])
        # A detector fitted for the asset.
        assert operator.post("/assets/pump-7/detector", json={"first_readings": 400}).status_code == 201
        manifests.append(verified_manifest(next_command(), pem))
        assert (manifests[-1].model_id, manifests[-1].settings) == ("pump-detector-pump-7", {})
        # A rollout.
        rollout = operator.post("/rollouts", json={"model_id": "pump-det", "model_version": "1",
                                                   "devices": ["pump-7"]})
        assert rollout.status_code == 201, rollout.text
        manifests.append(verified_manifest(next_command(), pem))
        # A change of settings only: the same model, another rate; signed like any other.
        put = operator.put("/devices/pump-7/state", json={"model_id": "pump-det", "model_version": "1",
                                                          "sample_rate_hz": 2})
        assert put.status_code == 200, put.text
        manifests.append(verified_manifest(next_command(), pem))
        assert manifests[-1].settings == {"sample_rate_hz": 2.0}
    counters = [m.counter for m in manifests]
    assert counters == sorted(set(counters)) and counters[0] >= 1, counters  # strictly increasing for the device
    assert {(m.tenant, m.device_id) for m in manifests} == {("acme", "pump-7")}


def test_concurrent_changes_of_one_device_get_distinct_counters_in_the_order_they_are_stored(
    stores: Stores, sql_url: str
) -> None:
    with api_with_commands(stores, sql_url) as (served, commands):
        operator = served.as_role(Role.OPERATOR)
        register(operator)
        report(stores, "pump-001", T0)
        report(stores, "pump-002", T0)
        key = database_role_key(stores.database, "acme", Role.OPERATOR, "racer")
        racers, start = 8, threading.Barrier(8)
        answers: list[int] = []

        def change(rate: int) -> None:
            with httpx.Client(base_url=f"{served.url}/api/v1", headers=bearer(key), timeout=60) as client:
                start.wait(timeout=30)
                body = {"model_id": "pump-det", "model_version": "1", "sample_rate_hz": rate}
                answers.append(client.put("/devices/pump-001/state", json=body).status_code)

        threads = [threading.Thread(target=change, args=(rate,)) for rate in range(1, racers + 1)]
        for thread in threads:
            thread.start()
        operator.put("/devices/pump-002/state", json={"model_id": "pump-det", "model_version": "1"})
        for thread in threads:
            thread.join(timeout=120)
        assert answers == [200] * racers
        sent = {parse_manifest(c.params[MANIFEST_PARAM]).counter: c for c in commands.to("pump-001")}
        assert sorted(sent) == list(range(1, racers + 1))  # none reused, none skipped
        assert [parse_manifest(c.params[MANIFEST_PARAM]).counter for c in commands.to("pump-002")] == [1]
        with stores.database.session() as session:
            rows = session.query(DesiredStateRow).filter_by(device_id="pump-001").order_by(DesiredStateRow.id).all()
            # The newest row, the cloud's current wish, is the one with the highest counter (what the device keeps).
            assert [r.manifest_counter for r in rows] == list(range(1, racers + 1))
            assert rows[-1].manifest == sent[racers].params[MANIFEST_PARAM]
        state = operator.get("/devices/pump-001/state").json()
        assert state["desired"]["sample_rate_hz"] == sent[racers].params["sample_rate_hz"]


# --- the key's home ---------------------------------------------------------------------------------------------


def local_settings(tmp_path: Path, **values: object) -> CloudSettings:
    return CloudSettings(db_url=f"sqlite:///{tmp_path / 'db' / 'cloud.db'}",  # type: ignore[arg-type]
                         tsdb_url=f"sqlite:///{tmp_path / 'db' / 'ts.db'}", **values)


def test_in_local_the_key_is_created_owner_only_in_a_folder_of_its_own(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = local_settings(tmp_path)
    assert settings.env is Environment.LOCAL
    with caplog.at_level(logging.WARNING):
        made = load_signing_key(settings)
    path = tmp_path / "db" / "keys" / KEY
    assert settings.signing_key_path == path and "created a new model signing key" in caplog.text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert sorted(p.name for p in path.parent.iterdir()) == [KEY]  # no temporary file left beside it
    assert load_signing_key(settings).public_key == made.public_key  # kept: devices keep trusting it
    assert public_key_pem(settings) == made.public_key.pem
    with pytest.raises(ConfigError, match="does not exist"):
        load_signing_key(local_settings(tmp_path / "other", signing_key_create=False))


def test_services_starting_at_once_in_local_share_one_whole_key(tmp_path: Path) -> None:
    for attempt in range(30):  # the window is small: try it many times
        settings, start = local_settings(tmp_path / str(attempt)), threading.Barrier(8)
        keys: list[bytes | str] = []

        def load(settings: CloudSettings = settings, start: threading.Barrier = start,
                 keys: list[bytes | str] = keys) -> None:
            start.wait(timeout=30)
            try:
                keys.append(load_signing_key(settings).public_key.raw)
            except ConfigError as exc:  # e.g. a half-written file read by a second process
                keys.append(str(exc))

        threads = [threading.Thread(target=load) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(keys) == 8 and len(set(keys)) == 1 and isinstance(keys[0], bytes), keys


@pytest.mark.parametrize("env", [Environment.STAGING, Environment.PRODUCTION])
def test_outside_local_the_key_must_be_provisioned(
    env: Environment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAAS_ENV", env.value)
    with pytest.raises(ConfigError, match=f"PAAS_ENV={env.value} needs PAAS_SIGNING_KEY_FILE"):
        load_signing_key(local_settings(tmp_path))
    provisioned = tmp_path / "secrets" / KEY
    with pytest.raises(ConfigError, match="does not exist"):
        load_signing_key(local_settings(tmp_path, signing_key_file=provisioned))
    with pytest.raises(ConfigError, match="PAAS_SIGNING_KEY_CREATE=true is for PAAS_ENV=local only"):
        load_signing_key(local_settings(tmp_path, signing_key_file=provisioned, signing_key_create=True))
    assert not list(tmp_path.rglob("*.pem"))  # nothing was created on the way
    made = load_signing_key(CloudSettings(signing_key_file=tmp_path / "made" / KEY, env=Environment.LOCAL))
    provisioned.parent.mkdir()
    (tmp_path / "made" / KEY).rename(provisioned)
    assert load_signing_key(local_settings(tmp_path, signing_key_file=provisioned)).public_key == made.public_key


def test_a_key_other_users_may_read_is_refused_in_production_and_warned_of_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "secrets" / KEY
    load_signing_key(CloudSettings(signing_key_file=path, env=Environment.LOCAL))
    os.chmod(path, 0o640)
    monkeypatch.setenv("PAAS_ENV", "staging")
    with caplog.at_level(logging.WARNING):
        load_signing_key(local_settings(tmp_path, signing_key_file=path))
    assert "is open to other users (mode 0640); chmod 600 it" in caplog.text
    monkeypatch.setenv("PAAS_ENV", "production")
    with pytest.raises(ConfigError, match=r"open to other users .*PAAS_ENV=production refuses"):
        load_signing_key(local_settings(tmp_path, signing_key_file=path))
    os.chmod(path, 0o600)
    load_signing_key(local_settings(tmp_path, signing_key_file=path))


def test_the_service_refuses_to_start_in_production_without_its_signing_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAAS_ENV", "production")
    # Refused before any broker is needed; the auth secret is there, the signing key is not.
    service = CloudService(service_settings("mqtt://127.0.0.1:1", tmp_path / "cloud", auth_secret=STRONG_SECRET))
    with pytest.raises(ConfigError, match="PAAS_SIGNING_KEY_FILE"):
        service.start()
    assert not service.running
    assert not list(tmp_path.rglob("*.pem"))

