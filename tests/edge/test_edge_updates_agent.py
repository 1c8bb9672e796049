"""Over-the-air updates in a running agent on a real broker: swap, report, restart, rollback, resume."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from edge_testkit import Observer, build_model, healthy_center, wait_until
from updatetest_support import ArtifactServer, CloudKey, desired_command

from edge.agent import Agent
from edge.settings import AgentSettings


def test_a_running_agent_swaps_reports_and_restarts_on_the_new_model(
    tmp_path: Path, fast_settings: Callable[..., AgentSettings], pump_model: Path,
    observe: Callable[..., Observer], server: ArtifactServer,
) -> None:
    key = CloudKey()
    settings = fast_settings(model_path=pump_model, signing_key_file=key.write_pem(tmp_path / "key.pem"))
    content = build_model(tmp_path / "v2.onnx", center=healthy_center("pump-001"), version="2").read_bytes()
    observer = observe()
    with Agent(settings) as agent:
        agent.commands.dispatch(desired_command(server.add("v2", content), content, key, "test-pump", "2"))
        wait_until(lambda: agent.updates.status == "applied", 15, "the update to be applied")
        assert agent.stats().model_version == "2"
        wait_until(lambda: any(s.health.get("update_status") == "applied" and s.model and s.model.version == "2"
                               for s in observer.states("pump-001")), 10, "the applied state on the broker")
    record = json.loads((settings.state_dir / "model" / "current.json").read_text())
    assert record["active"]["version"] == "2" and record["committed"] is True
    with Agent(settings) as restarted:
        assert restarted.stats().model_version == "2"  # the applied artifact wins over --model


def test_a_model_scoring_nan_is_rolled_back_and_an_interrupted_update_resumes(
    tmp_path: Path, fast_settings: Callable[..., AgentSettings], server: ArtifactServer,
    observe: Callable[..., Observer],
) -> None:
    key = CloudKey()
    server.signing_key, server.token = key.endpoint_json(), "SECRET-TOKEN-123"  # signed links, key fetched with one
    observer = observe()
    settings = fast_settings(signing_key_tofu=True)  # telemetry only: no window for the new model's smoke test
    nan = build_model(tmp_path / "nan.onnx", scale=[0.0] * 8, version="nan").read_bytes()
    with Agent(settings) as agent:
        agent.commands.dispatch(desired_command(server.add("nan", nan), nan, key, "test-pump", "nan"))
        wait_until(lambda: agent.updates.status == "rolled_back", 15, "the rollback")
        assert agent.stats().model_version == ""  # back to telemetry only, still running
        wait_until(lambda: any(s.health.get("update_status") == "rolled_back" for s in observer.states("pump-001")),
                   10, "the rolled_back state on the broker")

    good = build_model(tmp_path / "v3.onnx", center=healthy_center("pump-001"), version="3").read_bytes()
    command = desired_command(server.add("v3", good), good, key, "test-pump", "3")
    Agent(settings).updates.handle_command(command)  # persisted, then the device lost power mid-download
    (settings.state_dir / "updates" / f"{hashlib.sha256(good).hexdigest()}.part").write_bytes(good[:200])
    with Agent(settings) as resumed:
        wait_until(lambda: resumed.updates.status == "applied", 15, "the resumed update")
        assert resumed.stats().model_version == "3"
    assert server.ranges[-1] == "bytes=200-"  # resumed with the link kept in the state directory
    assert "SECRET-TOKEN-123" not in repr(observer.messages)  # nor in any state or heartbeat sent
