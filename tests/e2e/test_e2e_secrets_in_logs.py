"""No secret ever appears in a log line: an e2e run's every log record, at DEBUG, searched for each secret it handled.

Real parts: a private Mosquitto, the cloud service and an edge agent in this process (so
their log records reach the root logger), the HTTP API called as people and scripts call
it. The run makes an account with a password and an API key, signs in, refreshes, calls
routes with the access token and the key, fails a sign-in, and pushes a model to the
device, which downloads it through its signed link. Every secret of the run is then
looked for in every formatted log line (message, arguments, exception text) and in
whatever reached the process's stdout and stderr.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authtest_support import api_key, bearer, service_database
from e2etest_support import OCTETS, pinned_key, pump_detector, tap_commands, wait_for

from cloud.auth.roles import Role
from cloud.broker import MosquittoBroker
from cloud.server import CloudService
from cloud.settings import CloudSettings
from edge.agent import Agent
from edge.settings import AgentSettings

PASSWORD = "a perfectly secret passphrase 42"
WRONG_PASSWORD = "not the passphrase at all 24"
LINE_FORMAT = logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s")


@dataclass
class Secrets:
    """Every secret the run handled, by what it is."""

    found: dict[str, str] = field(default_factory=dict)

    def add(self, what: str, value: str) -> None:
        assert value, f"the run did not produce {what}"
        self.found[what] = value
        if value.count(".") == 2:  # a JWT: its signature alone is as secret as the whole token
            self.found[f"{what} (signature)"] = value.rsplit(".", 1)[1]
        if value.startswith("paas_"):  # an API key: its secret part, logged without the key id, is the secret still
            self.found[f"{what} (secret part)"] = value.split("_", 2)[2]

    def hidden(self, line: str) -> str:
        """`line` with every secret replaced by its name (a failure must not print the secrets it found)."""
        for what, value in sorted(self.found.items(), key=lambda item: -len(item[1])):
            line = line.replace(value, f"<{what}>")
        return line


def test_no_password_key_or_token_reaches_a_log_line(
    mosquitto: MosquittoBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: every record of every library, as verbose as it gets
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")  # which sets itself to WARNING unless told: its SQL too
    settings = CloudSettings(broker_url=mosquitto.url, db_url=f"sqlite:///{tmp_path / 'cloud.db'}",
                             tsdb_url=f"sqlite:///{tmp_path / 'ts.db'}", port=0, ingest_linger_s=0.02,
                             log_level="DEBUG")
    secrets = Secrets()
    with CloudService(settings) as cloud:
        secrets.add("the auth secret", settings.auth_secret_path.read_text(encoding="utf-8").strip())
        admin = api_key(service_database(cloud), "acme", Role.ADMIN, "bootstrap")
        secrets.add("the bootstrap admin key", admin)
        with httpx.Client(base_url=f"{cloud.api_url}/api/v1", timeout=10) as api:
            operator_key = _accounts(api, admin, secrets)
            _sign_in_and_call(api, operator_key, secrets)
            _push_a_model(api, cloud, mosquitto, operator_key, tmp_path, secrets)
    out, err = capfd.readouterr()
    lines = [LINE_FORMAT.format(record) for record in caplog.records] + out.splitlines() + err.splitlines()
    assert len(caplog.records) > 50, "the run logged almost nothing: is the capture working?"
    assert any("event=update_applied" in line for line in lines)  # the edge's update was among them
    leaks = [f"{what} in: {secrets.hidden(line)[:300]}"
             for line in lines for what, value in secrets.found.items() if value in line]
    assert not leaks, "\n".join(leaks)


def _accounts(api: httpx.Client, admin: str, secrets: Secrets) -> str:
    """A user with a password and an operator API key, made by the tenant's admin through the API."""
    user = api.post("/users", headers=bearer(admin),
                    json={"username": "olivia", "password": PASSWORD, "role": Role.OPERATOR.value})
    assert user.status_code == 201, user.text
    key = api.post("/api-keys", headers=bearer(admin), json={"name": "ota-bot", "role": Role.OPERATOR.value})
    assert key.status_code == 201, key.text
    secrets.add("the password", PASSWORD)
    secrets.add("the wrong password", WRONG_PASSWORD)
    secrets.add("the operator's API key", key.json()["key"])
    return str(key.json()["key"])


def _sign_in_and_call(api: httpx.Client, operator_key: str, secrets: Secrets) -> None:
    first = _token(api, {"grant_type": "password", "username": "olivia", "password": PASSWORD})
    secrets.add("the access token", first["access_token"])
    secrets.add("the refresh token", first["refresh_token"])
    second = _token(api, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    secrets.add("the refreshed access token", second["access_token"])
    secrets.add("the second refresh token", second["refresh_token"])
    for credential in (second["access_token"], operator_key):
        assert api.get("/auth/me", headers=bearer(credential)).json()["role"] == Role.OPERATOR.value
        assert api.get("/assets", headers=bearer(credential)).status_code == 200
    refused = api.post("/auth/token", data={"grant_type": "password", "username": "olivia", "password": WRONG_PASSWORD})
    assert refused.status_code == 401
    reused = api.post("/auth/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert reused.status_code == 401  # a refresh token is good once; its reuse ends the sign-in


def _token(api: httpx.Client, form: dict[str, str]) -> dict[str, str]:
    response = api.post("/auth/token", data=form)
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def _push_a_model(api: httpx.Client, cloud: CloudService, broker: MosquittoBroker, operator_key: str,
                  tmp_path: Path, secrets: Secrets) -> None:
    """The operator registers a model and sets it on a real agent, which fetches it through its signed link."""
    agent_settings = AgentSettings(device_id="pump-001", tenant="acme", broker_url=broker.url, rate_hz=50.0,
                                   publish_interval_s=0.1, heartbeat_s=1.0, model_path=None,
                                   state_dir=tmp_path / "edge",
                                   signing_key_file=pinned_key(cloud.settings, tmp_path / "bundle"))
    operator = bearer(operator_key)
    assert api.post("/models", content=pump_detector(), headers={**OCTETS, **operator}).status_code == 201
    with tap_commands(broker, "acme", "pump-001") as tap, Agent(agent_settings):
        wait_for(lambda: api.get("/assets/pump-001", headers=operator).status_code == 200, 15, "the asset")
        put = api.put("/devices/pump-001/state", headers=operator, json={"model_id": "pump-det", "model_version": "7"})
        assert put.status_code == 200, put.text

        def applied() -> bool:
            reported = api.get("/devices/pump-001/state", headers=operator).json()["reported"]
            return bool(reported and reported.get("update_status") == "applied")

        wait_for(applied, 30, "the agent to apply the model it fetched through its link")
    for number, command in enumerate(tap.received("set_desired_state")):
        [token] = parse_qs(urlsplit(command.params["artifact_url"]).query)["token"]
        secrets.add(f"artifact link token {number}", token)
    assert any(what.startswith("artifact link token") for what in secrets.found), "no link was sent"
