"""Settings: derived defaults, validation with actionable messages, CLI over environment over default."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from edge.__main__ import main
from edge.errors import ConfigError
from edge.settings import AgentSettings, parse_broker_url, seed_for


def test_defaults_are_derived_from_the_device_id() -> None:
    settings = AgentSettings(device_id="pump-007")
    assert settings.state_dir == Path("var/edge/pump-007")
    assert settings.seed == seed_for("pump-007") == AgentSettings(device_id="pump-007").seed
    assert settings.seed != AgentSettings(device_id="pump-008").seed
    assert (settings.tenant, settings.sensor, settings.rate_hz, settings.batch_max, settings.hop) == (
        "demo", "sim:pump", 1.0, 100, 5)
    assert settings.asset_kind == "pump"


def test_an_explicit_model_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist: pass --model PATH"):
        AgentSettings(device_id="p1", model_path=tmp_path / "missing.onnx")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"device_id": "bad/id"}, "invalid tenant or device id"),
        ({"tenant": ""}, "invalid tenant or device id"),
        ({"sensor": "sim:toaster"}, "use one of sim:pump, sim:turbofan"),
        ({"sensor": "pump"}, "unknown sensor"),
        ({"fault": "melting@3"}, "--fault: cannot read fault"),
        ({"rate_hz": 0.0}, r"rate_hz \(--rate\) must be above 0"),
        ({"rate_hz": float("nan")}, "rate_hz"),
        ({"batch_max": 5000}, "batch_max must be between 1 and 1000"),
        ({"hop": 0}, "hop must be between 1"),
        ({"broker_url": "http://example.com"}, "is not of the form mqtt://HOST:PORT"),
        ({"broker_url": "mqtt://host:99999"}, "port must be a number"),
        ({"seed": 2**40}, "seed must be between"),
        ({"queue_max_mb": 0.01}, r"queue_max_mb \(--queue-max-mb\) must be above 0.0625"),
        ({"fsync": "sometimes"}, r"fsync \(--fsync\) must be one of normal, full"),
        ({"max_msgs_per_s": 0.0}, r"max_msgs_per_s \(--max-msgs-per-s\) must be above 0"),
        ({"replay_at_eof": "rewind"}, "must be one of loop, stop"),
        ({"sensor": "replay:/data/x.csv@fast"}, "speed after @ must be a number"),
        ({"sensor": "command:"}, "unknown sensor"),
        ({"sensor": "sysfs:temp"}, "is not .NAME"),
        ({"asset_kind": "pi-board"}, "--asset-kind applies to command: and sysfs: sensors"),
        ({"sensor": "command:true", "asset_kind": "pi board"}, "--asset-kind 'pi board' must be"),
    ],
)
def test_invalid_values_are_refused_with_a_reason(overrides: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"device_id": "pump-001", **overrides}
    with pytest.raises(ConfigError, match=message):
        AgentSettings(**values)  # type: ignore[arg-type]


def test_broker_url_parsing() -> None:
    assert parse_broker_url("mqtt://broker.local:1884") == ("broker.local", 1884)
    assert parse_broker_url("mqtt://10.0.0.2") == ("10.0.0.2", 1883)


def test_cli_options_win_over_environment_over_defaults(tmp_path: Path) -> None:
    env = {"PAAS_EDGE_DEVICE_ID": "env-dev", "PAAS_EDGE_RATE_HZ": "4", "PAAS_EDGE_TENANT": "acme",
           "PAAS_EDGE_PERSISTENT_SESSION": "yes", "PAAS_EDGE_MODEL_PATH": "none", "PAAS_EDGE_QUEUE_MAX_MB": "16",
           "PAAS_EDGE_FSYNC": "full", "PAAS_EDGE_MAX_MSGS_PER_S": "20"}
    settings = AgentSettings.from_options({"device_id": "cli-dev", "rate_hz": None, "hop": 3}, env)
    assert (settings.device_id, settings.rate_hz, settings.tenant, settings.hop) == ("cli-dev", 4.0, "acme", 3)
    assert settings.persistent_session is True and settings.model_path is None
    assert (settings.queue_max_mb, settings.fsync, settings.max_msgs_per_s) == (16.0, "full", 20.0)
    assert AgentSettings.from_options({}, env).device_id == "env-dev"


def test_environment_values_are_checked() -> None:
    with pytest.raises(ConfigError, match="PAAS_EDGE_RATE_HZ='fast' is not a valid float"):
        AgentSettings.from_options({"device_id": "p1"}, {"PAAS_EDGE_RATE_HZ": "fast"})


def test_a_device_id_is_required() -> None:
    with pytest.raises(ConfigError, match="pass --device-id ID or set PAAS_EDGE_DEVICE_ID"):
        AgentSettings.from_options({}, {})


def test_cli_exits_2_with_the_reason_for_bad_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--device-id", "p1", "--rate", "-1"], env={}) == 2
    assert "rate_hz (--rate) must be above 0" in capsys.readouterr().err
    assert main(["run", "--device-id", "p1", "--sensor", "sim:toaster"], env={}) == 2
    assert main(["run"], env={}) == 2
    assert "pass --device-id" in capsys.readouterr().err


def test_cli_rejects_malformed_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["run", "--device-id", "p1", "--rate", "fast"], env={})
    assert exited.value.code == 2
    assert "invalid float value: 'fast'" in capsys.readouterr().err


def test_the_deployed_env_example_names_only_real_settings() -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "edge" / "edge.env.example"
    names = {line.lstrip("#").split("=", 1)[0] for line in example.read_text().splitlines()
             if line.lstrip("#").startswith("PAAS_EDGE_")}
    fields = {f"PAAS_EDGE_{f.name.upper()}" for f in dataclasses.fields(AgentSettings)} | {"PAAS_EDGE_LOG_LEVEL"}
    assert names <= fields, names - fields
    assert fields <= names, fields - names  # every setting is documented there
    env = {k: v for k, v in (line.split("=", 1) for line in example.read_text().splitlines()
                             if line.startswith("PAAS_EDGE_"))}
    assert AgentSettings.from_options({"model_path": "none"}, env).device_id == "pump-001"


def test_a_command_or_sysfs_sensor_reports_the_asset_kind_it_is_given() -> None:
    assert AgentSettings(device_id="pi-1", sensor="command:true").asset_kind == "custom"
    assert AgentSettings(device_id="pi-1", sensor="command:true", asset_kind="pi-board").asset_kind == "pi-board"
    assert AgentSettings(device_id="p-1", sensor="sim:turbofan").asset_kind == "turbofan"
