"""The updater against a stand-in agent: verify, swap, persist, probation, rollback, resume, trust, links."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from edge_testkit import PUMP_CENTER, build_model, wait_until
from updatetest_support import ArtifactServer, CloudKey, FakeHost, artifact_server, desired_command, settings_command

from contract.channels import PUMP_CHANNELS
from edge.errors import UpdateError
from edge.runtime import OnnxModel
from edge.updates.signing_key import SIGNING_KEY_PATH
from edge.updates.updater import Updater, UpdaterConfig

DONE = ("applied", "rolled_back", "probation")
SECRET = "SECRET-TOKEN-123"


@pytest.fixture
def server() -> Iterator[ArtifactServer]:
    with artifact_server() as running:
        yield running


@pytest.fixture
def signer(server: ArtifactServer) -> CloudKey:
    signer = CloudKey()
    server.signing_key = signer.endpoint_json()
    return signer


@pytest.fixture
def key_file(tmp_path: Path, signer: CloudKey) -> Path:
    """The cloud's public key as the provisioning bundle ships it (signing-key.pem)."""
    return signer.write_pem(tmp_path / "signing-key.pem")


def healthy_window(size: int = 10) -> npt.NDArray[np.float32]:
    return np.tile(np.asarray(PUMP_CENTER, np.float32), (size, 1))


def artifact(tmp_path: Path, version: str, **kwargs: Any) -> bytes:
    return build_model(tmp_path / "built" / f"{version}.onnx", version=version, **kwargs).read_bytes()


def make_updater(state: Path, host: FakeHost, **config: Any) -> Updater:
    return Updater(UpdaterConfig(state, "demo", "pump-001", **config), host)


def run_to_end(updater: Updater, host: FakeHost) -> str:
    updater.start()
    try:
        wait_until(lambda: updater.status in DONE or updater.status.startswith("failed:"), 15, "an update outcome")
    finally:
        updater.stop()
    return updater.status


def test_a_good_artifact_is_swapped_in_committed_after_probation_and_loaded_after_a_restart(
    tmp_path: Path, server: ArtifactServer, signer: CloudKey
) -> None:
    old = OnnxModel.load(build_model(tmp_path / "old.onnx", version="1"))
    host, state = FakeHost(old, healthy_window()), tmp_path / "state"
    content = artifact(tmp_path, "2")
    updater = make_updater(state, host, probation_windows=2, signing_key_tofu=True)
    updater.handle_command(desired_command(server.add("v2", content), content, signer, "test-pump", "2"))
    assert run_to_end(updater, host) == "probation"
    assert host.model is not None and host.model.info.version == "2"
    record = json.loads((state / "model" / "current.json").read_text())
    assert record["active"]["version"] == "2" and record["committed"] is False
    updater.observe_score(ok=True)
    updater.observe_score(ok=True)
    assert updater.health()["update_status"] == "applied" and host.announced >= 3
    assert json.loads((state / "model" / "current.json").read_text())["committed"] is True
    assert not (state / "updates" / "desired.json").exists()
    assert (state / "updates" / "signing-key.json").exists()  # trusted on first use, kept
    restarted = make_updater(state, FakeHost(None))  # no key given, no TOFU: the stored key stays trusted
    loaded = restarted.load_active()
    assert loaded is not None and loaded.info.sha256 == hashlib.sha256(content).hexdigest()
    assert restarted.status == "applied"


@pytest.mark.parametrize("defect", ["other_bytes", "more_bytes"])
def test_bytes_other_than_the_manifests_digest_and_size_are_refused(
    tmp_path: Path, server: ArtifactServer, signer: CloudKey, key_file: Path, defect: str
) -> None:
    host = FakeHost(None)
    content = artifact(tmp_path, "2")
    served = {"other_bytes": artifact(tmp_path, "2", threshold=9.0), "more_bytes": content + b"\0" * 10}[defect]
    updater = make_updater(tmp_path / "state", host, signing_key_file=key_file)
    updater.handle_command(desired_command(server.add("v2", served), content, signer, "test-pump", "2"))
    expected = {"other_bytes": "sha256_mismatch", "more_bytes": "too_large"}[defect]
    assert run_to_end(updater, host) == f"failed:{expected}"
    assert host.model is None and not (tmp_path / "state" / "model" / "current.json").exists()


def test_a_model_for_other_sensors_is_refused(
    tmp_path: Path, server: ArtifactServer, signer: CloudKey, key_file: Path
) -> None:
    host = FakeHost(None)
    content = artifact(tmp_path, "2", channels=PUMP_CHANNELS[:4])
    updater = make_updater(tmp_path / "state", host, signing_key_file=key_file)
    updater.handle_command(desired_command(server.add("v2", content), content, signer, "test-pump", "2"))
    assert run_to_end(updater, host) == "failed:schema_mismatch"
    assert "expects channels" in updater.health()["update_detail"]


def test_a_nan_model_fails_its_smoke_test_or_is_rolled_back_in_probation(
    tmp_path: Path, server: ArtifactServer, signer: CloudKey, key_file: Path
) -> None:
    old = OnnxModel.load(build_model(tmp_path / "old.onnx", version="1"))
    content = artifact(tmp_path, "nan", scale=[0.0] * 8)  # z = x / 0: inf and NaN
    url = server.add("nan", content)
    smoked = FakeHost(old, healthy_window())
    first = make_updater(tmp_path / "a", smoked, signing_key_file=key_file)
    first.handle_command(desired_command(url, content, signer, "test-pump", "nan"))
    assert run_to_end(first, smoked) == "failed:invalid_output" and smoked.model is old

    no_window = FakeHost(old)  # the agent's window is not full yet: no smoke test, the probation decides
    second = make_updater(tmp_path / "b", no_window, signing_key_file=key_file)
    second.handle_command(desired_command(url, content, signer, "test-pump", "nan"))
    assert run_to_end(second, no_window) == "probation" and no_window.model is not old
    second.observe_score(ok=False)
    assert second.status == "rolled_back" and no_window.model is old
    assert not (tmp_path / "b" / "model" / "current.json").exists()  # back to the settings' model
    assert list((tmp_path / "b" / "model").glob("*.onnx")) == []


def test_an_interrupted_update_resumes_at_the_next_start(
    tmp_path: Path, server: ArtifactServer, signer: CloudKey, key_file: Path
) -> None:
    state, content = tmp_path / "state", artifact(tmp_path, "2")
    command = desired_command(server.add("v2", content), content, signer, "test-pump", "2")
    make_updater(state, FakeHost(None), signing_key_file=key_file).handle_command(command)  # then the power went
    sha = hashlib.sha256(content).hexdigest()
    (state / "updates" / f"{sha}.part").write_bytes(content[:300])
    host = FakeHost(None)
    assert run_to_end(make_updater(state, host, signing_key_file=key_file), host) == "probation"
    assert server.ranges == ["bytes=300-"] and host.model is not None and host.model.info.version == "2"


def test_a_pinned_key_file_is_used_and_settings_are_applied_or_reported(
    tmp_path: Path, server: ArtifactServer, signer: CloudKey, key_file: Path
) -> None:
    server.signing_key = None  # nothing to fetch: the pinned key must be used
    old = OnnxModel.load(build_model(tmp_path / "old.onnx", version="1"))
    host, content = FakeHost(old, healthy_window()), artifact(tmp_path, "2")
    updater = make_updater(tmp_path / "state", host, signing_key_file=key_file, rate_hz=1.0, probation_windows=1)
    command = desired_command(server.add("v2", content), content, signer, "test-pump", "2", threshold=7.5,
                              sample_rate_hz=10.0)
    updater.handle_command(command)
    assert run_to_end(updater, host) == "probation"
    updater.observe_score(ok=True)
    assert host.model is not None and host.model.info.threshold == 7.5
    assert updater.health()["update_status"] == "applied" and "update_detail" not in updater.health()
    assert host.rate_hz == 10.0
    restarted = make_updater(tmp_path / "state", FakeHost(None), rate_hz=1.0, signing_key_file=key_file)
    assert restarted.load_active().info.threshold == 7.5  # type: ignore[union-attr]
    assert restarted.sample_rate() == 10.0  # the desired rate wins over the settings' at the next start


def test_an_invalid_command_is_reported_and_a_threshold_alone_is_applied(
    tmp_path: Path, signer: CloudKey, key_file: Path
) -> None:
    old = OnnxModel.load(build_model(tmp_path / "old.onnx", version="1"))
    host = FakeHost(old)
    updater = make_updater(tmp_path / "state", host, signing_key_file=key_file)
    with pytest.raises(UpdateError):
        updater.handle_command(settings_command(signer, gain=2.0))
    assert updater.status == "failed:invalid_command" and "gain" in updater.health()["update_detail"]
    updater.handle_command(settings_command(signer, threshold=9.0))
    assert run_to_end(updater, host) == "applied"
    assert old.info.threshold == 9.0 and host.model is old


@pytest.mark.parametrize("rate", [0.0, -1.0, 1001.0, 1e300])  # NaN and infinity: no manifest text holds them
def test_an_insane_sample_rate_is_refused_with_the_reason(
    tmp_path: Path, signer: CloudKey, key_file: Path, rate: float
) -> None:
    host = FakeHost(None)
    updater = make_updater(tmp_path / "state", host, rate_hz=5.0, signing_key_file=key_file)
    with pytest.raises(UpdateError):
        updater.handle_command(settings_command(signer, sample_rate_hz=rate))
    assert updater.status == "failed:invalid_command"
    assert "sample_rate_hz must be" in updater.health()["update_detail"]
    assert host.rate_hz == 0.0 and updater.sample_rate() == 5.0


def test_a_replay_keeps_its_pace_and_says_so(tmp_path: Path, signer: CloudKey, key_file: Path) -> None:
    host = FakeHost(None, paced=True)
    updater = make_updater(tmp_path / "state", host, rate_hz=5.0, signing_key_file=key_file)
    updater.handle_command(settings_command(signer, sample_rate_hz=20))
    assert run_to_end(updater, host) == "applied"
    assert "sample_rate_hz 20 not applied: the sensor keeps its own pace" in updater.health()["update_detail"]
    assert updater.sample_rate() == 5.0  # not persisted: nothing to restore at a restart


def test_the_signing_key_is_fetched_with_the_links_token(
    tmp_path: Path, server: ArtifactServer, signer: CloudKey
) -> None:
    server.token = SECRET  # the cloud refuses the signing key, as the artifact, without it
    host, content = FakeHost(None), artifact(tmp_path, "2")
    updater = make_updater(tmp_path / "state", host, signing_key_tofu=True)
    updater.handle_command(desired_command(server.add("v2", content), content, signer, "test-pump", "2"))
    assert run_to_end(updater, host) == "probation"
    assert f"{SIGNING_KEY_PATH}?token={SECRET}" in server.requests
    assert (tmp_path / "state" / "updates" / "signing-key.json").exists()


@pytest.mark.parametrize("trust", ["pinned", "tofu"])
def test_a_refused_link_fails_the_update_for_good_with_its_reason(
    tmp_path: Path, server: ArtifactServer, signer: CloudKey, trust: str
) -> None:
    server.token = SECRET
    host, content = FakeHost(None), artifact(tmp_path, "2")
    pinned = signer.write_pem(tmp_path / "key.pem") if trust == "pinned" else None
    updater = make_updater(tmp_path / "state", host, signing_key_file=pinned, signing_key_tofu=trust == "tofu")
    command = desired_command(server.add("v2", content), content, signer, "test-pump", "2")
    server.token = "rotated"  # the link expired (or was revoked) before the device got to it
    if trust == "tofu":  # the key is fetched when the command arrives, with the same link
        with pytest.raises(UpdateError):
            updater.handle_command(command)
        assert updater.status == "failed:link_refused"
    else:
        updater.handle_command(command)
        assert run_to_end(updater, host) == "failed:link_refused"
    detail = updater.health()["update_detail"]
    assert "expired or revoked" in detail and "new desired state" in detail and SECRET not in detail
    fetching = "the signing key" if trust == "tofu" else "the artifact"
    assert f"when fetching {fetching}" in detail
    assert len(server.requests) == 1  # asked once
    assert not (tmp_path / "state" / "updates" / "desired.json").exists()  # dropped: no retry after retry_after_s
    assert host.model is None


def test_the_links_token_reaches_no_log_status_or_report(
    tmp_path: Path, server: ArtifactServer, signer: CloudKey, key_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="edge")
    server.token = SECRET
    content = artifact(tmp_path, "2")
    good = server.add("api/v1/models/test-pump/versions/2/artifact", content)
    shown: list[str] = []
    for case, url in [("missing", good.replace("/versions/2/", "/versions/9/")), ("refused", good), ("ok", good)]:
        server.token = "rotated" if case == "refused" else SECRET
        host, state = FakeHost(None), tmp_path / case
        updater = make_updater(state, host, signing_key_file=key_file)
        updater.handle_command(desired_command(url, content, signer, "test-pump", "2"))
        status = run_to_end(updater, host)
        assert status == {"missing": "failed:download", "refused": "failed:link_refused", "ok": "probation"}[case]
        shown += [json.dumps(updater.health()), (state / "updates" / "status.json").read_text()]
    shown.append(caplog.text)
    assert SECRET not in "\n".join(shown)
    assert "/versions/9/artifact?…: HTTP 404" in "\n".join(shown)  # the link is still named, redacted
    kept = tmp_path / "missing" / "updates" / "desired.json"  # a failed download keeps the wish, link and all
    assert SECRET in kept.read_text() and kept.stat().st_mode & 0o777 == 0o600
