"""A hostile or crashing candidate model: refused in the sandboxed probe, or failed once after a crash, never looped.

The bombs come from tests/model_bombs.py: valid platform models whose score also runs a
`ConstantOfShape` of 16,000 x 16,000 (1 GB per run), or a `Loop` that never ends.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from edge_testkit import Observer, build_model, healthy_center, wait_until
from model_bombs import constant_branch, cpu_branch, platform_model
from updatetest_support import ArtifactServer, CloudKey, FakeHost, desired_command

from edge.agent import Agent
from edge.runtime import OnnxModel
from edge.settings import AgentSettings
from edge.updates.updater import Updater, UpdaterConfig

MiB = 2**20
HERE = Path(__file__).resolve().parent


def updater_at(state: Path, host: FakeHost, key_file: Path, **config: Any) -> Updater:
    return Updater(UpdaterConfig(state, "demo", "pump-001", signing_key_file=key_file, **config), host)


def probes() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if "edge.updates.probe" in " ".join(p.cmdline())]


def test_a_bomb_sent_over_the_air_fails_the_update_and_the_agent_keeps_scoring_with_its_model(
    tmp_path: Path, fast_settings: Callable[..., AgentSettings], pump_model: Path, observe: Callable[..., Observer],
    server: ArtifactServer, signer: CloudKey, key_file: Path,
) -> None:
    settings = fast_settings(model_path=pump_model, signing_key_file=key_file, fault="bearing_wear@0.3,ramp=0.3")
    bomb = platform_model(constant_branch(), model_id="test-pump", version="bomb", center=healthy_center("pump-001"))
    observer = observe()
    with Agent(settings) as agent:
        wait_until(lambda: len(observer.events("pump-001")) > 0, 15, "the running model's first events")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        agent.commands.dispatch(desired_command(server.add("bomb", bomb), bomb, signer, "test-pump", "bomb"))
        wait_until(lambda: agent.updates.status.startswith("failed:"), 60, "the update's outcome")
        grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
        assert grew < 200 * MiB, f"the agent's process grew by {grew / MiB:.0f} MiB"
        health = agent.updates.health()
        assert health["update_status"] == "failed:resource_limit", health
        assert "512 MiB memory limit" in health["update_detail"]
        assert agent.stats().model_version == "0.0.1-test"
        scored = len(observer.events("pump-001"))
        wait_until(lambda: len(observer.events("pump-001")) > scored + 3, 15, "events after the refusal")
        assert {e.model.version for e in observer.events("pump-001")[scored:] if e.model} == {"0.0.1-test"}
        wait_until(lambda: any(s.health.get("update_status") == "failed:resource_limit"
                               for s in observer.states("pump-001")), 10, "the refusal on the broker")
    assert not (settings.state_dir / "updates" / "desired.json").exists()  # dropped: not tried again
    assert not (settings.state_dir / "updates" / "attempt.json").exists()  # the agent survived: a plain refusal


def test_a_killed_probe_fails_the_update_once(
    tmp_path: Path, server: ArtifactServer, signer: CloudKey, key_file: Path
) -> None:
    old = OnnxModel.load(build_model(tmp_path / "old.onnx", version="1"))
    host = FakeHost(old)
    endless = platform_model(cpu_branch(), model_id="test-pump", version="2")
    updater = updater_at(tmp_path / "state", host, key_file)
    updater.handle_command(desired_command(server.add("v2", endless), endless, signer, "test-pump", "2"))
    updater.start()
    try:
        wait_until(lambda: bool(probes()), 15, "the probe of the candidate")
        for probe in probes():
            os.kill(probe.pid, signal.SIGKILL)  # as the kernel's OOM killer would
        wait_until(lambda: updater.status.startswith("failed:"), 15, "the update's outcome")
        time.sleep(1.0)
        assert probes() == []  # not tried again
    finally:
        updater.stop()
    assert updater.status == "failed:resource_limit" and "killed (SIGKILL)" in updater.health()["update_detail"]
    assert host.model is old
    assert not (tmp_path / "state" / "updates" / "desired.json").exists()


# The agent's process, killed while it loads the candidate into its own session (after the probe passed): the
# kernel's OOM killer or a crash in native code, made deterministic by replacing the load.
_CRASHING_AGENT = """
import os, signal, sys, time
from pathlib import Path
sys.path[:0] = [sys.argv[3]]
from updatetest_support import FakeHost
from edge.runtime import OnnxModel
from edge.updates.updater import Updater, UpdaterConfig

real_load = OnnxModel.load.__func__
def load(cls, path):
    if Path(path).parent.name == "updates":  # the downloaded candidate
        os.kill(os.getpid(), signal.SIGKILL)
    return real_load(cls, path)
OnnxModel.load = classmethod(load)
config = UpdaterConfig(Path(sys.argv[1]), "demo", "pump-001", signing_key_file=Path(sys.argv[2]))
updater = Updater(config, FakeHost(None))
updater.start()
time.sleep(60)
"""


def test_an_agent_killed_while_loading_a_candidate_reports_it_once_and_never_loads_it_again(
    tmp_path: Path, server: ArtifactServer, signer: CloudKey, key_file: Path
) -> None:
    state, fallback = tmp_path / "state", build_model(tmp_path / "old.onnx", version="1")
    content = build_model(tmp_path / "v2.onnx", version="2").read_bytes()
    command = desired_command(server.add("v2", content), content, signer, "test-pump", "2")
    updater_at(state, FakeHost(None), key_file).handle_command(command)  # accepted and persisted
    crashed = subprocess.run([sys.executable, "-c", _CRASHING_AGENT, str(state), str(key_file), str(HERE)],
                             timeout=60, capture_output=True, check=False)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr.decode()[-2000:]
    downloads = len(server.requests)

    host = FakeHost(None)
    restarted = updater_at(state, host, key_file, fallback_model=fallback)
    model = restarted.load_active()  # the agent's next start
    assert model is not None and model.info.version == "1"  # the previous model, not the candidate
    assert restarted.status == "failed:load_crashed"
    assert "stopped while loading test-pump@2" in restarted.health()["update_detail"]
    assert not (state / "updates" / "desired.json").exists() and not (state / "updates" / "attempt.json").exists()
    assert json.loads((state / "updates" / "crashed.json").read_text())["sha256"] == [
        hashlib.sha256(content).hexdigest()]

    restarted.handle_command(command)  # the cloud re-sends the very same manifest (a device out of sync)
    restarted.start()
    try:
        wait_until(lambda: "loaded again" in restarted.health().get("update_detail", ""), 10, "the refusal")
    finally:
        restarted.stop()
    assert restarted.status == "failed:load_crashed" and host.model is None
    assert len(server.requests) == downloads  # not even downloaded again


def test_a_candidate_that_keeps_restarting_the_agent_in_probation_is_rolled_back(
    tmp_path: Path, server: ArtifactServer, signer: CloudKey, key_file: Path
) -> None:
    state, fallback = tmp_path / "state", build_model(tmp_path / "old.onnx", version="1")
    content = build_model(tmp_path / "v2.onnx", version="2").read_bytes()
    first = updater_at(state, FakeHost(OnnxModel.load(fallback)), key_file, fallback_model=fallback)
    first.handle_command(desired_command(server.add("v2", content), content, signer, "test-pump", "2"))
    first.start()
    try:
        wait_until(lambda: first.status == "probation", 15, "the candidate on probation")
    finally:
        first.stop()  # and the agent dies: scoring with the candidate killed it (or the power went)
    for start in range(1, 4):  # a restart or two during a probation is no verdict: it goes on
        again = updater_at(state, FakeHost(None), key_file, fallback_model=fallback)
        model = again.load_active()
        assert model is not None and model.info.version == "2", f"start {start}"
        assert json.loads((state / "updates" / "attempt.json").read_text())["starts"] == start
    last = updater_at(state, FakeHost(None), key_file, fallback_model=fallback)
    model = last.load_active()
    assert model is not None and model.info.version == "1"
    assert last.status == "failed:crash_loop" and "restarted 3 times" in last.health()["update_detail"]
    assert not (state / "model" / "current.json").exists()  # back to the settings' model, for good
