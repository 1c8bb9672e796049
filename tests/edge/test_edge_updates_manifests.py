"""Which desired states the agent accepts: signed manifests for this device, never older, with the key it trusts."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from edge_testkit import build_model, wait_until
from updatetest_support import (
    ArtifactServer,
    CloudKey,
    FakeHost,
    command,
    desired_command,
    settings_command,
)

from contract.manifest import MANIFEST_PARAM, SIGNATURE_PARAM
from edge.__main__ import main
from edge.errors import ConfigError, UpdateError
from edge.runtime import OnnxModel
from edge.settings import AgentSettings
from edge.updates.updater import Updater, UpdaterConfig


def updater_at(state: Path, host: FakeHost, **config: Any) -> Updater:
    return Updater(UpdaterConfig(state, "demo", "pump-001", **config), host)


def refusal(updater: Updater, params: dict[str, Any]) -> str:
    """The reason `updater` refuses a command with `params`; what was pending (if anything) stays as it was."""
    pending = updater.updates_dir / "desired.json"
    before = pending.read_bytes() if pending.exists() else None
    with pytest.raises(UpdateError) as refused:
        updater.handle_command(command(params))
    assert updater.status == f"failed:{refused.value.reason}"
    assert (pending.read_bytes() if pending.exists() else None) == before
    return refused.value.reason


def applied(updater: Updater) -> None:
    updater.start()
    try:
        wait_until(lambda: updater.status == "applied", 10, "the settings to be applied")
    finally:
        updater.stop()


def forged(signer: CloudKey, case: str) -> dict[str, Any]:
    text = signer.manifest(settings={"threshold": 5.0})
    params = signer.params(text)
    if case == "unsigned":  # what every agent before manifests accepted: bare params
        return {"threshold": 5.0}
    if case == "other_key":
        return {**CloudKey().params(text), "signing_key_id": signer.key_id}  # and claiming the trusted key's id
    if case == "tampered":  # signed, then edited: another counter
        return {**params, MANIFEST_PARAM: text.replace('"counter":1', '"counter":99')}
    if case == "no_domain":  # a signature of the bare text, as if the key had signed it for something else
        return {**params, SIGNATURE_PARAM: base64.b64encode(signer.key.sign(text.encode())).decode()}
    if case == "not_base64":
        return {**params, SIGNATURE_PARAM: "not base64!"}
    if case == "unknown_key_id":
        return {**params, "signing_key_id": "0123456789abcdef"}
    raise AssertionError(case)


@pytest.mark.parametrize(("case", "reason"), [
    ("unsigned", "unsigned"), ("other_key", "bad_signature"), ("tampered", "bad_signature"),
    ("no_domain", "bad_signature"), ("not_base64", "bad_signature"), ("unknown_key_id", "unknown_signing_key"),
])
def test_an_unsigned_or_forged_desired_state_is_refused_and_changes_nothing(
    tmp_path: Path, signer: CloudKey, key_file: Path, case: str, reason: str
) -> None:
    old = OnnxModel.load(build_model(tmp_path / "old.onnx", version="1", threshold=4.0))
    updater = updater_at(tmp_path / "state", FakeHost(old), signing_key_file=key_file)
    assert refusal(updater, forged(signer, case)) == reason
    assert old.info.threshold == 4.0
    assert not (tmp_path / "state" / "updates" / "manifest.json").exists()  # nothing counted as accepted


@pytest.mark.parametrize(("device_id", "tenant"), [("pump-002", "demo"), ("pump-001", "other")])
def test_a_manifest_signed_for_another_device_or_tenant_is_refused(
    tmp_path: Path, signer: CloudKey, key_file: Path, device_id: str, tenant: str
) -> None:
    updater = updater_at(tmp_path / "state", FakeHost(None), signing_key_file=key_file)
    text = signer.manifest(device_id=device_id, tenant=tenant, settings={"sample_rate_hz": 5.0})
    assert refusal(updater, signer.params(text)) == "wrong_device"


def test_an_older_counter_is_refused_a_redelivery_accepted_and_the_highest_survives_a_restart(
    tmp_path: Path, signer: CloudKey, key_file: Path
) -> None:
    state, old = tmp_path / "state", OnnxModel.load(build_model(tmp_path / "old.onnx", version="1"))
    host = FakeHost(old)
    updater = updater_at(state, host, signing_key_file=key_file)
    fifth = signer.params(signer.manifest(counter=5, settings={"threshold": 5.0}))
    updater.handle_command(command(fifth))
    applied(updater)
    assert old.info.threshold == 5.0
    updater.handle_command(command(fifth))  # the cloud sends the same wish again: a re-delivery, accepted
    assert refusal(updater, signer.params(signer.manifest(counter=4, settings={"threshold": 9.0}))) == \
        "stale_manifest"
    assert refusal(updater, signer.params(signer.manifest(counter=5, settings={"threshold": 9.0}))) == \
        "stale_manifest"  # the same counter with other text
    accepted = json.loads((state / "updates" / "manifest.json").read_text())
    assert accepted["counter"] == 5 and (state / "updates" / "manifest.json").stat().st_mode & 0o777 == 0o600

    restarted = updater_at(state, host, signing_key_file=key_file)  # a reboot forgets nothing
    assert refusal(restarted, signer.params(signer.manifest(counter=3, settings={"threshold": 9.0}))) == \
        "stale_manifest"
    restarted.handle_command(command(signer.params(signer.manifest(counter=6, settings={"threshold": 6.0}))))
    applied(restarted)
    assert old.info.threshold == 6.0


def test_the_agent_acts_on_the_signed_text_only(
    tmp_path: Path, server: ArtifactServer, signer: CloudKey, key_file: Path
) -> None:
    """The unsigned params older agents read (model, digest, settings) cannot steer an update."""
    host = FakeHost(None)
    wanted = build_model(tmp_path / "v2.onnx", version="2").read_bytes()
    other = build_model(tmp_path / "v3.onnx", version="3").read_bytes()
    signed = desired_command(server.add("v2", wanted), wanted, signer, "test-pump", "2")
    signed.params.update({"model_version": "3", "sha256": "0" * 64, "threshold": 99.0, "sample_rate_hz": 500.0})
    server.add("v3", other)
    updater = updater_at(tmp_path / "state", host, signing_key_file=key_file)
    updater.handle_command(signed)
    updater.start()
    try:
        wait_until(lambda: updater.status == "probation", 15, "the signed model on probation")
    finally:
        updater.stop()
    assert host.model is not None and (host.model.info.version, host.model.info.threshold) == ("2", 4.0)
    assert host.rate_hz == 0.0


def test_without_a_pinned_key_updates_are_refused_unless_trust_on_first_use_is_enabled(
    tmp_path: Path, server: ArtifactServer, signer: CloudKey
) -> None:
    server.signing_key = signer.endpoint_json()
    content = build_model(tmp_path / "v2.onnx", version="2").read_bytes()
    url = server.add("v2", content)
    strict = updater_at(tmp_path / "strict", FakeHost(None))
    assert refusal(strict, desired_command(url, content, signer, "test-pump", "2").params) == "no_signing_key"
    assert "--signing-key-file" in strict.health()["update_detail"]
    assert server.requests == []  # nothing was fetched: no key from the network without an explicit opt-in

    tofu = updater_at(tmp_path / "tofu", FakeHost(None), signing_key_tofu=True)
    assert refusal(tofu, settings_command(signer, threshold=5.0).params) == "no_signing_key"  # nothing to fetch with
    tofu.handle_command(desired_command(url, content, signer, "test-pump", "2"))
    assert (tmp_path / "tofu" / "updates" / "signing-key.json").exists()
    assert refusal(tofu, forged(signer, "other_key")) == "bad_signature"  # from now on, the stored key decides


def test_the_key_options_go_one_way_or_the_other(
    tmp_path: Path, signer: CloudKey, capsys: pytest.CaptureFixture[str]
) -> None:
    key = signer.write_pem(tmp_path / "signing-key.pem")
    with pytest.raises(ConfigError, match="one or the other"):
        AgentSettings(device_id="pump-001", signing_key_file=key, signing_key_tofu=True)
    assert main(["run", "--device-id", "p1", "--signing-key-file", str(key), "--signing-key-tofu"], env={}) == 2
    assert "one or the other" in capsys.readouterr().err
    env = {"PAAS_EDGE_DEVICE_ID": "pump-001", "PAAS_EDGE_SIGNING_KEY_TOFU": "true",
           "PAAS_EDGE_MODEL_PROBE_MEMORY_MB": "300"}
    settings = AgentSettings.from_options({}, env)
    assert settings.signing_key_tofu and settings.probe_limits().memory_bytes == 300 * 2**20
    with pytest.raises(ConfigError, match="model_probe_memory_mb"):
        AgentSettings(device_id="pump-001", model_probe_memory_mb=100)
