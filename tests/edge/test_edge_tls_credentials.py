"""TLS and credential settings, the credentials file and the command dispatcher (no broker needed)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from contract.wire import Command
from edge.commands import CommandDispatcher
from edge.credentials import Credentials, load_credentials, save_credentials
from edge.errors import ConfigError, LinkError
from edge.settings import AgentSettings, parse_broker_url, uses_tls
from edge.tls import client_tls_context


def test_mqtts_urls_default_to_port_8883() -> None:
    assert parse_broker_url("mqtts://broker.example.com") == ("broker.example.com", 8883)
    assert parse_broker_url("mqtts://localhost:9883") == ("localhost", 9883)
    assert uses_tls("mqtts://localhost") and not uses_tls("mqtt://localhost")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ca_file": "ca.pem"}, "needs an mqtts://"),
        ({"broker_url": "mqtts://localhost", "ca_file": "missing.pem"}, "does not exist"),
        ({"password_file": "password"}, "needs --username"),
    ],
)
def test_security_options_are_checked(overrides: dict[str, str], message: str, tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    values = {k: (str(tmp_path / v) if k.endswith("_file") else v) for k, v in overrides.items()}
    with pytest.raises(ConfigError, match=message):
        AgentSettings(device_id="pump-001", **values)  # type: ignore[arg-type]


def test_security_options_come_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    env = {"PAAS_EDGE_DEVICE_ID": "pump-001", "PAAS_EDGE_BROKER_URL": "mqtts://localhost:8883",
           "PAAS_EDGE_CA_FILE": str(tmp_path / "ca.pem"), "PAAS_EDGE_USERNAME": "acme~pump-001~1",
           "PAAS_EDGE_PASSWORD_FILE": str(tmp_path / "password")}
    settings = AgentSettings.from_options({}, env)
    assert settings.ca_file == tmp_path / "ca.pem" and settings.password_file == tmp_path / "password"
    assert settings.username == "acme~pump-001~1"


def test_a_rotated_credential_is_saved_privately_and_wins_over_the_provisioned_one(tmp_path: Path) -> None:
    password_file = tmp_path / "password"
    password_file.write_text("provisioned\n")
    state = tmp_path / "state"
    assert load_credentials(state, "u1", password_file) == Credentials("u1", "provisioned")
    assert load_credentials(state, "", None) is None
    rotated = Credentials.from_params({"username": "u2", "password": "s3cret", "expires_at": "2030-01-01T00:00:00Z"})
    path = save_credentials(state, rotated)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["expires_at"] == "2030-01-01T00:00:00.000Z"
    assert load_credentials(state, "u1", password_file) == rotated
    assert "s3cret" not in repr(rotated)
    assert [p.name for p in state.iterdir()] == ["credentials.json"]  # no temporary file left behind


@pytest.mark.parametrize("params", [{}, {"username": "u", "password": ""}, {"username": "u", "password": "p",
                                                                          "expires_at": "tomorrow"}])
def test_malformed_rotation_params_are_refused(params: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        Credentials.from_params(params)


def test_unreadable_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the password file"):
        load_credentials(tmp_path, "u", tmp_path / "missing")
    (tmp_path / "credentials.json").write_text("{not json")
    with pytest.raises(ConfigError, match="delete it"):
        load_credentials(tmp_path, "u", None)
    with pytest.raises(LinkError, match="CA file"):
        client_tls_context(str(tmp_path / "missing.pem"))


def test_the_dispatcher_runs_handlers_by_name_and_survives_their_errors() -> None:
    seen: list[str] = []
    dispatcher = CommandDispatcher()
    dispatcher.register("ping", lambda c: seen.append(c.name))
    dispatcher.register("bad", lambda c: Credentials.from_params(c.params) and None)

    def command(name: str) -> Command:
        return Command(tenant="demo", device_id="pump-001", ts=0.0, name=name)

    assert dispatcher.dispatch(command("ping")) and seen == ["ping"]
    assert not dispatcher.dispatch(command("unknown"))
    assert not dispatcher.dispatch(command("bad"))
    with pytest.raises(ValueError, match="already registered"):
        dispatcher.register("ping", lambda c: None)
