"""`python -m cloud demo --json`: the one-command demo, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

from cloud.broker import MosquittoBroker


def test_demo_stores_every_reading_and_opens_work_orders_for_faulty_assets(mosquitto: MosquittoBroker) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cloud", "demo", "--devices", "5", "--seconds", "45", "--json",
         "--broker", mosquitto.url, "--port", "0"],
        capture_output=True, text=True, timeout=240, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("devices", "readings_published", "readings_stored", "anomaly_events", "work_orders",
                "faulty_assets", "faulty_assets_with_work_order", "healthy_assets_with_work_order", "api_url"):
        assert key in summary, key
    assert summary["devices"] == 5
    assert summary["readings_published"] >= 5 * 40
    assert summary["readings_stored"] == summary["readings_published"]
    assert summary["faulty_assets"] == 1
    assert summary["faulty_assets_with_work_order"] == 1
    assert summary["healthy_assets_with_work_order"] == 0
    assert "readings stored by the cloud" in result.stdout  # the human-readable summary comes first
    assert "[" in result.stderr and "/45 s]" in result.stderr  # progress was shown
