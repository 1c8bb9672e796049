"""`python -m cloud demo --json --keep-serving`: the one-command demo, run as a user runs it, then signed in to.

The demo keeps its API up until Ctrl-C, so the key and passwords it printed are tried
against the very service it started; then it is interrupted as a person would.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from cloud.auth.roles import Role
from cloud.broker import MosquittoBroker

DEMO_TIMEOUT_S = 240.0


class _Stdout:
    """The demo's stdout, read line by line on a thread (the demo keeps running after its JSON line)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        self._proc, self._stream, self._lines = proc, proc.stdout, queue.Queue[str | None]()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            self._lines.put(line)
        self._lines.put(None)

    def until_json(self, timeout_s: float) -> tuple[str, dict[str, Any]]:
        """The text before the JSON line, and that line parsed."""
        text, deadline = "", time.monotonic() + timeout_s
        while True:
            line = self._lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"the demo ended (rc {self._proc.wait()}) before its JSON line:\n{text}"
            if line.startswith("{"):
                return text, json.loads(line)
            text += line

    def close(self) -> None:
        """After the process ended: the rest is read, then the pipe closed."""
        self._thread.join(timeout=10)
        self._stream.close()


def test_demo_stores_every_reading_and_signs_in_with_what_it_printed(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    with (tmp_path / "stderr.txt").open("w+") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cloud", "demo", "--devices", "5", "--seconds", "45", "--json",
             "--broker", mosquitto.url, "--port", "0", "--keep-serving"],
            stdout=subprocess.PIPE, stderr=stderr, text=True,
        )
        stdout = _Stdout(proc)
        try:
            text, summary = stdout.until_json(DEMO_TIMEOUT_S)
            _check_the_api_it_left_up(summary, text)
            proc.send_signal(signal.SIGINT)  # Ctrl-C
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            stdout.close()
        stderr.seek(0)
        progress = stderr.read()
    for key in ("devices", "readings_published", "readings_stored", "anomaly_events", "work_orders",
                "faulty_assets", "faulty_assets_with_work_order", "healthy_assets_with_work_order", "api_url",
                "admin_api_key", "work_orders_by_status", "assigned_work_orders", "statements", "offers_drafted"):
        assert key in summary, key
    assert summary["devices"] == 5
    assert summary["readings_published"] >= 5 * 40
    assert summary["readings_stored"] == summary["readings_published"]
    assert summary["faulty_assets"] == 1
    assert summary["faulty_assets_with_work_order"] == 1
    assert summary["healthy_assets_with_work_order"] == 0
    # The faulty pump's order was approved (by its contract's policy or the planner), dispatched, and worked by the
    # simulated technician: none is left waiting for a decision.
    by_status = summary["work_orders_by_status"]
    assert sum(by_status.values()) == summary["work_orders"] and "proposed" not in by_status, by_status
    assert summary["assigned_work_orders"] >= 1 and by_status.get("done", 0) >= 1, summary
    assert "readings stored by the cloud" in text  # the human-readable summary comes first
    # The month the fleet ran in, closed: one statement per contract (the demo customer's, the fleet operator's);
    # the offer rules drafted offers that wait for a planner.
    assert summary["statements"] == 2, summary
    assert summary["offers_drafted"] >= 1, summary
    assert "[" in progress and "/45 s]" in progress  # progress was shown
    assert summary["admin_api_key"] not in progress  # secrets go to stdout only, never with the progress


def _check_the_api_it_left_up(summary: dict[str, Any], text: str) -> None:
    api, key = f"{summary['api_url']}/api/v1", summary["admin_api_key"]
    assets = httpx.get(f"{api}/assets", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert assets.status_code == 200, assets.text
    devices = {asset["device_id"] for asset in assets.json()}
    assert len(devices) == summary["devices"] and set(summary["faults"]) <= devices
    assert httpx.get(f"{api}/assets", timeout=10).status_code == 401
    assert f"{api}/assets" in text and f"{summary['api_url']}/docs" in text  # how to call it, and the docs
    users = dict(re.findall(r"^\s+(?:users\s+:\s+)?(demo-[a-z]+) / (\S+)  \(", text, flags=re.MULTILINE))
    assert sorted(users) == sorted(f"demo-{role.value}" for role in Role), text
    for role in Role:  # every printed password signs in as its role
        me = httpx.get(f"{api}/auth/me", headers=_signed_in(api, f"demo-{role.value}", users[f"demo-{role.value}"]))
        assert me.json()["role"] == role.value and me.json()["tenant"] == "demo"
    customer = _signed_in(api, "demo-customer", users["demo-customer"])
    seen = {asset["device_id"] for asset in httpx.get(f"{api}/assets", headers=customer, timeout=10).json()}
    assert len(seen) == 1 and seen < devices  # the asset under its contract, and no other
    [contract] = httpx.get(f"{api}/contracts", headers=customer, timeout=10).json()  # its own, not the operator's
    statements = httpx.get(f"{api}/contracts/{contract['id']}/statements", headers=customer, timeout=10).json()
    assert [st["period"] for st in statements] == [summary["billed_period"]]
    assert httpx.get(f"{api}/offers", headers=customer, timeout=10).json() == []  # drafts never reach a customer
    admin = {"Authorization": f"Bearer {key}"}
    drafts = httpx.get(f"{api}/offers", params={"status": "draft"}, headers=admin, timeout=10).json()
    assert len(drafts) == summary["offers_drafted"]


def _signed_in(api: str, username: str, password: str) -> dict[str, str]:
    token = httpx.post(f"{api}/auth/token", timeout=10,
                       data={"grant_type": "password", "username": username, "password": password})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}
