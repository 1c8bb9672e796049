"""CloudSettings: defaults, PAAS_* environment names, overrides and clear errors."""

from __future__ import annotations

import pytest

from cloud.errors import ConfigError
from cloud.settings import DEFAULT_DB_URL, DEFAULT_TSDB_URL, CloudSettings, load_settings

ENV_NAMES = ("PAAS_BROKER", "PAAS_DB", "PAAS_TSDB", "PAAS_HOST", "PAAS_PORT", "PAAS_ANOMALY_WINDOW_S")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_the_embedded_setup() -> None:
    settings = CloudSettings()
    assert settings.broker_url == "mqtt://127.0.0.1:1883"
    assert (settings.broker_host, settings.broker_port) == ("127.0.0.1", 1883)
    assert settings.db_url == DEFAULT_DB_URL == "sqlite:///var/cloud/cloud.db"
    assert settings.tsdb_url == DEFAULT_TSDB_URL == "sqlite:///var/cloud/timeseries.db"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert (settings.anomaly_events_for_work_order, settings.anomaly_window_s) == (3, 120.0)


def test_environment_is_read_under_paas_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAAS_BROKER", "mqtt://broker.example:1884")
    monkeypatch.setenv("PAAS_DB", "postgresql://u@db/cloud")
    monkeypatch.setenv("PAAS_TSDB", "sqlite:///tmp/ts.db")
    monkeypatch.setenv("PAAS_PORT", "9001")
    monkeypatch.setenv("PAAS_ANOMALY_WINDOW_S", "30")
    settings = load_settings()
    assert (settings.broker_host, settings.broker_port) == ("broker.example", 1884)
    assert settings.db_url == "postgresql://u@db/cloud"
    assert settings.tsdb_url == "sqlite:///tmp/ts.db"
    assert settings.port == 9001
    assert settings.anomaly_window_s == 30.0


def test_overrides_beat_the_environment_and_none_means_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAAS_BROKER", "mqtt://from-env:1883")
    monkeypatch.setenv("PAAS_PORT", "9001")
    settings = load_settings(broker_url="mqtt://from-cli:2883", port=None)
    assert settings.broker_url == "mqtt://from-cli:2883"
    assert settings.port == 9001


@pytest.mark.parametrize(
    ("env", "value"),
    [("PAAS_BROKER", "http://not-mqtt"), ("PAAS_DB", "mysql://x/y"), ("PAAS_PORT", "eighty"), ("PAAS_PORT", "70000")],
)
def test_invalid_values_raise_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=env):
        load_settings()


def test_both_stores_in_one_sqlite_file_is_refused() -> None:
    with pytest.raises(ConfigError, match="different SQLite files"):
        load_settings(db_url="sqlite:///x.db", tsdb_url="sqlite:///x.db")
