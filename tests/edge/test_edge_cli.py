"""`python -m edge run` and `python -m edge status` as a user runs them: real processes, real broker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from edge_testkit import Observer, wait_until

from cloud.broker import MosquittoBroker, free_port
from edge.__main__ import main
from edge.queue import OutboundQueue

STATUS_KEYS = {"readings_sampled", "readings_acked", "readings_confirmed", "queue_depth", "unconfirmed_depth",
               "dropped", "model_version", "running", "install_id"}


def edge_cli(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAAS_EDGE_")}
    return subprocess.Popen([sys.executable, "-m", "edge", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def status_json(state_dir: Path) -> dict[str, object]:
    proc = edge_cli("status", "--device-id", "pump-001", "--state-dir", str(state_dir), "--json")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    report: dict[str, object] = json.loads(lines[0])
    return report


@pytest.mark.mosquitto
def test_run_for_a_duration_then_status(
    mosquitto: MosquittoBroker, tmp_path: Path, observe: Callable[..., Observer]
) -> None:
    observer = observe(confirm=True)  # as the cloud: what it receives, it confirms
    state = tmp_path / "state"
    proc = edge_cli("run", "--device-id", "pump-001", "--broker", mosquitto.url, "--rate", "20",
                    "--state-dir", str(state), "--model", "none", "--duration", "1.0")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "event=started" in err and "event=stopped" in err and "flushed=True" in err
    report = status_json(state)
    assert set(report) >= STATUS_KEYS
    n = report["readings_sampled"]
    assert isinstance(n, int) and n >= 10
    assert (report["readings_acked"], report["readings_confirmed"], report["queue_depth"]) == (n, n, 0)
    assert report["running"] is False and len(str(report["install_id"])) == 32
    wait_until(lambda: sorted(set(observer.seqs("pump-001"))) == list(range(1, n + 1)), what="all readings")


@pytest.mark.mosquitto
def test_sigterm_stops_cleanly_and_status_works_while_running(
    mosquitto: MosquittoBroker, tmp_path: Path, observe: Callable[..., Observer]
) -> None:
    observe(confirm=True)  # as the cloud
    state = tmp_path / "state"
    proc = edge_cli("run", "--device-id", "pump-001", "--broker", mosquitto.url, "--rate", "20",
                    "--state-dir", str(state), "--model", "none", "--publish-interval", "0.2")
    try:
        wait_until(lambda: (state / "queue.sqlite3").exists(), timeout_s=20, what="the agent's queue")
        time.sleep(0.8)
        running = status_json(state)
        assert running["running"] is True
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "signal=SIGTERM" in err
    final = status_json(state)
    assert final["running"] is False and final["queue_depth"] == 0
    assert final["readings_acked"] == final["readings_sampled"]
    assert isinstance(final["readings_sampled"], int) and final["readings_sampled"] > 0


def test_an_unreachable_broker_exits_1_with_a_clear_message(tmp_path: Path) -> None:
    proc = edge_cli("run", "--device-id", "pump-001", "--broker", f"mqtt://127.0.0.1:{free_port()}",
                    "--state-dir", str(tmp_path), "--model", "none", "--connect-timeout", "0.5")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "error: cannot connect to the broker at mqtt://127.0.0.1:" in err
    assert "check --broker" in err


def test_status_of_a_device_that_never_ran(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--device-id", "pump-009", "--state-dir", str(tmp_path / "none")], env={}) == 1
    assert "has an agent run with this state directory" in capsys.readouterr().err


def test_status_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    queue = OutboundQueue(tmp_path)
    queue.put_reading(queue.next_seq, 1_800_000_000.0, (1.0,))
    queue.set_info(model_id="pump-baseline", model_version="1.0.0")
    queue.close()
    assert main(["status", "--device-id", "pump-001", "--state-dir", str(tmp_path), "--json"], env={}) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["readings_sampled"], report["queue_depth"], report["model_version"]) == (1, 1, "1.0.0")
    assert main(["status"], env={"PAAS_EDGE_DEVICE_ID": "pump-001", "PAAS_EDGE_STATE_DIR": str(tmp_path)}) == 0
    text = capsys.readouterr().out
    assert "readings_sampled" in text and "1.0.0" in text
