"""A device wired with its own sensors (`command:`), end to end: nothing is lost before its profile exists.

Two real agents read a board through a `command:` sensor (asset kind `custom`) and publish
through a private Mosquitto to a real cloud. Before the tenant registers a profile for
`custom`, every reading is stored (supply converted from mV to V, as contract/units.py
knows); a profile registered through the API then validates: the board that sends exactly
its channels keeps being stored, all of its readings visible in GET /assets/{id}/telemetry,
while the board that also sends a channel the profile does not list is refused with a reason.
A third board started with `--asset-kind pi-fan` is its own kind: the `custom` profile does
not apply to it, and it stays pending with every reading kept.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from authtest_support import api_client, role_key

from cloud.auth.roles import Role
from cloud.broker import MosquittoBroker
from cloud.server import CloudService
from cloud.settings import CloudSettings
from contract.timestamps import format_ts
from edge.agent import Agent
from edge.settings import AgentSettings

RATE_HZ = 10.0
BOARD = "soc_temp=48.5 degC\nsupply=5012 mV\nco2=415 ppm\n"
PROFILE = {"kind": "custom", "description": "Controller board", "channels": [
    {"name": "soc_temp", "unit": "degC", "label": "SoC temperature"},
    {"name": "supply", "unit": "V", "label": "Supply voltage"},
    {"name": "co2", "unit": "ppm", "label": "CO2 concentration"},
]}


def _board(tmp: Path, device_id: str, output: str, broker: MosquittoBroker, kind: str = "") -> Agent:
    script = tmp / f"read-{device_id}"
    script.write_text("#!/bin/sh\ncat <<'EOF'\n" + output + "EOF\n")
    script.chmod(0o755)
    return Agent(AgentSettings(
        device_id=device_id, tenant="acme", broker_url=broker.url, sensor=f"command:{script}", model_path=None,
        rate_hz=RATE_HZ, publish_interval_s=0.2, state_dir=tmp / "edge" / device_id, asset_kind=kind,
    ))


def _stored(api: httpx.Client, device_id: str) -> int:
    response = api.get(f"/assets/{device_id}")
    return int(response.json()["readings_stored"]) if response.status_code == 200 else 0


def _wait_for(condition: object, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not (callable(condition) and condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_custom_boards_readings_are_kept_before_its_profile_and_validated_after(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> None:
    settings = CloudSettings(broker_url=mosquitto.url, db_url=f"sqlite:///{tmp_path / 'cloud.db'}",
                             tsdb_url=f"sqlite:///{tmp_path / 'ts.db'}", port=0)
    good = _board(tmp_path, "pi-1", BOARD, mosquitto)
    extra = _board(tmp_path, "pi-2", BOARD + "fan=1200 rpm\n", mosquitto)  # a channel the profile will not list
    fan = _board(tmp_path, "fan-1", BOARD + "fan=1200 rpm\n", mosquitto, kind="pi-fan")  # its own kind
    with (CloudService(settings) as cloud,
          api_client(cloud, role_key(cloud, "acme", Role.OPERATOR)) as api,
          api_client(cloud, role_key(cloud, None, Role.ADMIN)) as platform):
        started = time.time()  # the agents stamp readings with this machine's clock
        good.start()
        extra.start()
        fan.start()
        try:
            _wait_for(lambda: _stored(api, "pi-1") >= 20 and _stored(api, "pi-2") >= 20, "readings before a profile")
            before = api.get("/assets/pi-1").json()
            assert (before["asset_kind"], before["profile"]) == ("custom", "pending")
            assert {c["name"]: c["unit"] for c in before["channels"]} == {"soc_temp": "degC", "supply": "V",
                                                                          "co2": "ppm"}
            registered = api.post("/profiles", json=PROFILE)
            assert registered.status_code == 201, registered.text
            at_registration = _stored(api, "pi-1")
            _wait_for(lambda: _stored(api, "pi-1") >= at_registration + 20, "readings after the profile")
            _wait_for(lambda: platform.get("/stats").json()["ingest"]["rejected"].get("unknown_channel", 0) > 0,
                      "pi-2's extra channel refused")
        finally:
            good.stop(flush_timeout_s=20)
            extra.stop(flush_timeout_s=20)
            fan.stop(flush_timeout_s=20)
        sampled = good.stats().readings_sampled
        assert good.stats().queue_depth == 0
        _wait_for(lambda: _stored(api, "pi-1") == sampled, "every reading of pi-1 stored")
        after = api.get("/assets/pi-1").json()
        assert after["profile"] == "registered"
        assert {c["name"]: c["label"] for c in after["channels"]}["supply"] == "Supply voltage"
        series = api.get("/assets/pi-1/telemetry", params={
            "start": format_ts(started - 60), "end": format_ts(time.time() + 60), "step": 1}).json()
        assert sum(series["counts"]) == sampled  # before and after the profile: every reading, none lost
        supply = next(c for c in series["channels"] if c["name"] == "supply")
        assert (supply["unit"], supply["mean"][0]) == ("V", pytest.approx(5.012))
        assert _stored(api, "pi-2") < extra.stats().readings_sampled  # refused since the profile, with a reason
        fan_sampled = fan.stats().readings_sampled
        _wait_for(lambda: _stored(api, "fan-1") == fan_sampled, "every reading of fan-1 stored")
        fan_asset = api.get("/assets/fan-1").json()
        assert (fan_asset["asset_kind"], fan_asset["profile"]) == ("pi-fan", "pending")
