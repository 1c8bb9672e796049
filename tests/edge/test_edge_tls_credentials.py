"""TLS and credential settings, the credentials file and the command dispatcher (no broker needed)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from contract.wire import Command, DeviceState, DeviceStatus
from edge.commands import CommandDispatcher
from edge.credentials import Credentials, load_credentials, save_credentials
from edge.errors import ConfigError, LinkError
from edge.link import MqttLink
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


def test_a_rotated_credential_is_saved_privately_and_wins_over_the_bundle_it_descends_from(tmp_path: Path) -> None:
    password_file = tmp_path / "password"
    password_file.write_text("provisioned\n")
    state = tmp_path / "state"
    assert load_credentials(state, "u1", password_file) == Credentials("u1", "provisioned")
    rotated = Credentials.from_params({"username": "u2", "password": "s3cret", "expires_at": "2030-01-01T00:00:00Z"})
    path = save_credentials(state, rotated)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["expires_at"] == "2030-01-01T00:00:00.000Z"
    assert load_credentials(state, "u1", password_file) == rotated  # also after a restart
    assert "s3cret" not in repr(rotated)
    assert [p.name for p in state.iterdir()] == ["credentials.json"]  # no temporary file left behind


def test_a_bundle_of_another_username_is_a_re_provisioning_and_wins_over_stale_rotated_credentials(
    tmp_path: Path,
) -> None:
    state, bundle = tmp_path / "state", tmp_path / "password"
    bundle.write_text("first\n")
    load_credentials(state, "acme~pump-001~1", bundle)  # the first start, on the first bundle
    save_credentials(state, Credentials("acme~pump-001~2", "rotated"))
    assert load_credentials(state, "acme~pump-001~1", bundle) == Credentials("acme~pump-001~2", "rotated")
    bundle.write_text("second\n")  # `provision-device --rotate`: a new bundle, which revoked ~1 and ~2
    assert load_credentials(state, "acme~pump-001~3", bundle) == Credentials("acme~pump-001~3", "second")
    save_credentials(state, Credentials("acme~pump-001~4", "rotated-again"))  # rotations continue from it
    assert load_credentials(state, "acme~pump-001~3", bundle) == Credentials("acme~pump-001~4", "rotated-again")


def test_credentials_of_an_older_agent_are_kept_as_descending_from_the_current_bundle(tmp_path: Path) -> None:
    (tmp_path / "credentials.json").write_text(json.dumps({"username": "u2", "password": "rotated"}))
    (tmp_path / "password").write_text("provisioned\n")
    assert load_credentials(tmp_path, "u1", tmp_path / "password") == Credentials("u2", "rotated")
    assert json.loads((tmp_path / "credentials.json").read_text())["provisioned_username"] == "u1"


def test_no_password_is_sent_in_clear_text_off_this_host(tmp_path: Path) -> None:
    (tmp_path / "password").write_text("s3cret\n")
    common = {"device_id": "pump-001", "username": "u1", "password_file": tmp_path / "password"}
    with pytest.raises(ConfigError, match=r"clear text to mqtt://broker\.example\.com:1883: use the mqtts://"):
        AgentSettings(broker_url="mqtt://broker.example.com:1883", **common)  # type: ignore[arg-type]
    for local in ("mqtt://127.0.0.1:1883", "mqtt://localhost:1883", "mqtt://[::1]:1883"):
        AgentSettings(broker_url=local, **common)  # type: ignore[arg-type]
    AgentSettings(broker_url="mqtt://broker.example.com:1883", device_id="pump-001")  # anonymous: nothing to leak
    with pytest.raises(LinkError, match="clear text"):  # rotated credentials (state dir) without a password file
        MqttLink("mqtt://10.1.2.3:1883", "c", birth=lambda: _state(), will=lambda: _state(), on_ack=lambda t: None,
                 credentials=Credentials("u2", "rotated"))


def _state() -> DeviceState:
    return DeviceState("demo", "pump-001", 0.0, DeviceStatus.ONLINE)


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
