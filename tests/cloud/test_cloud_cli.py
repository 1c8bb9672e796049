"""`python -m cloud serve` as a user runs it: starts, answers, stops on SIGTERM, explains failures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from cloudtest_support import wait_until

from cloud.broker import MosquittoBroker, free_port


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAAS_")}
    return {**env, **extra}


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def test_serve_runs_until_sigterm_with_the_default_data_directory(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloud", "serve", "--broker", mosquitto.url, "--port", str(port)],
        cwd=tmp_path,
        env=clean_env(PAAS_PORT="1"),  # the option wins over the environment
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz") or proc.poll() is not None, timeout_s=30)
        assert proc.poll() is None, proc.communicate()[1]
        assert "swagger" in httpx.get(f"http://127.0.0.1:{port}/docs").text.lower()
        assert (tmp_path / "var" / "cloud" / "cloud.db").exists()
        assert (tmp_path / "var" / "cloud" / "timeseries.db").exists()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}/docs" in out
    assert "stopped" in out


def test_serve_explains_an_unreachable_broker(tmp_path: Path) -> None:
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "cloud", "serve", "--broker", f"mqtt://127.0.0.1:{port}", "--port", "0"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"cannot reach the MQTT broker at mqtt://127.0.0.1:{port}" in result.stderr
    assert "--broker" in result.stderr


def test_serve_rejects_invalid_settings_naming_the_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cloud", "serve"],
        cwd=tmp_path,
        env=clean_env(PAAS_BROKER="http://wrong"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "PAAS_BROKER" in result.stderr
