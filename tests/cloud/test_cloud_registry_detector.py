"""A per-asset detector end to end: calibration telemetry over a private Mosquitto -> fit -> register -> command."""

from __future__ import annotations

import base64
import hashlib
import queue
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import numpy as np
import pytest
from authtest_support import RoleClients
from cloudtest_support import PUMP, Publisher, state, wait_until
from otatest_support import device_commands, stored, upload_calibration, verified_manifest

from cloud.auth.roles import Role
from cloud.broker import MosquittoBroker
from cloud.registry.signing import verify
from contract.wire import Command
from edge.runtime import OnnxModel
from firmware_sim.pump import PumpSimulator


@pytest.fixture
def commands(mosquitto: MosquittoBroker) -> Iterator[queue.SimpleQueue[Command]]:
    """Every command the cloud publishes to any device of the tenant, decoded."""
    with device_commands(mosquitto.url) as received:
        yield received


def test_a_detector_fitted_from_uploaded_calibration_reaches_the_device(
    api: httpx.Client, clients: RoleClients, publisher: Publisher, commands: queue.SimpleQueue[Command],
    tmp_path: Path,
) -> None:
    operator = clients(Role.OPERATOR)
    upload_calibration(publisher, "pump-7", 400)
    wait_until(lambda: stored(api, "pump-7") == 400, what="the calibration stored")

    asked = {"requested_by": "eng-ann", "first_readings": 400}  # who asks is the credential, not the body
    assert api.post("/assets/pump-7/detector", json=asked).status_code == 403  # a viewer fits nothing
    fitted = operator.post("/assets/pump-7/detector", json=asked)
    assert fitted.status_code == 201, fitted.text
    body = fitted.json()
    model = body["model"]
    assert (model["id"], model["version"], model["device_id"]) == ("pump-detector-pump-7", "1", "pump-7")
    assert model["registered_by"] == "api_key:operator-acme"
    assert body["calibration"]["readings"] == 400 and body["calibration"]["first_seq"] == 0
    assert "fitted on 400 readings" in body["explanation"]
    assert body["desired_state"]["requested_by"] == "api_key:operator-acme"
    assert body["desired_state"]["command_published"]

    command = commands.get(timeout=10)
    assert (command.tenant, command.device_id) == ("acme", "pump-7")
    assert command.name == "set_desired_state"
    assert (command.params["model_id"], command.params["model_version"]) == ("pump-detector-pump-7", "1")
    assert command.params["sha256"] == model["sha256"]

    # The device's side: fetch the bytes from the signed link it was given (no other credential), check digest and
    # signature with the key fetched with the same link, load, score.
    link = command.params["artifact_url"]
    plain, _, query = link.partition("?")
    assert plain.endswith("/api/v1/models/pump-detector-pump-7/versions/1/artifact") and "token" in parse_qs(query)
    download = httpx.get(link, timeout=10)
    assert download.status_code == 200, download.text
    content = download.content
    assert hashlib.sha256(content).hexdigest() == command.params["sha256"]
    assert httpx.get(plain, timeout=10).status_code == 401  # the same URL without the token
    key = httpx.get(f"{plain.partition('/api/v1/')[0]}/api/v1/models/signing-key?{query}", timeout=10)
    assert key.status_code == 200, key.text
    public = base64.b64decode(key.json()["public_key"])
    assert verify(public, command.params["sha256"], model["signature"])
    manifest = verified_manifest(command, key.json()["public_key_pem"])
    assert (manifest.size_bytes, manifest.settings) == (len(content), {})
    path = tmp_path / "detector.onnx"
    path.write_bytes(content)
    loaded = OnnxModel.load(path)
    assert loaded.info.id == "pump-detector-pump-7" and loaded.info.sha256 == model["sha256"]
    loaded.check_inputs(tuple(c.name for c in PUMP), tuple(c.unit for c in PUMP))
    pump = PumpSimulator(7)
    window = np.array([pump.step(1.0) for _ in range(loaded.info.window)])
    assert np.isfinite(loaded.score(window).score)

    again = operator.post("/assets/pump-7/detector", json={"first_readings": 200})
    assert again.status_code == 201 and again.json()["model"]["version"] == "2"
    assert [m["version"] for m in api.get("/models", params={"device": "pump-7"}).json()] == ["2", "1"]
    refit = commands.get(timeout=10)
    assert verified_manifest(refit, key.json()["public_key_pem"]).counter > manifest.counter
    second = refit.params["artifact_url"]
    assert httpx.get(second, timeout=10).status_code == 200
    # The first link is for version 1 only: version 2 is as unknown to it as a version never registered.
    assert httpx.get(f"{second.partition('?')[0]}?{query}", timeout=10).status_code == 404


def test_a_detector_is_refused_without_enough_calibration_or_for_another_kind(
    api: httpx.Client, clients: RoleClients, publisher: Publisher
) -> None:
    operator = clients(Role.OPERATOR)
    upload_calibration(publisher, "pump-short", 60)
    publisher.message(state("engine-1", kind="turbofan"))
    wait_until(lambda: stored(api, "pump-short") == 60, what="the short calibration stored")

    short = operator.post("/assets/pump-short/detector")  # no body: the default 400 readings
    assert short.status_code == 422 and "has 60 stored readings, 400 were asked for" in short.json()["detail"]
    window = {"start": "2027-01-15T08:00:00Z", "end": "2027-01-15T08:00:30Z"}
    assert (
        "hold 30 complete readings; a detector needs at least 50"
        in operator.post("/assets/pump-short/detector", json=window).json()["detail"]
    )
    turbofan = operator.post("/assets/engine-1/detector", json={})
    assert turbofan.status_code == 422 and "detectors exist for: pump" in turbofan.json()["detail"]
    assert operator.post("/assets/nobody/detector").status_code == 404
    both = {"first_readings": 60, "end": "2027-01-15T08:00:00Z"}
    assert operator.post("/assets/pump-short/detector", json=both).status_code == 422
    assert api.get("/models").json() == []
