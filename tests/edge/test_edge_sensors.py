"""Sensor sources beyond the simulator: a SKAB CSV replay, a user's command, sysfs-style numeric files."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from edge_testkit import Observer, wait_until

from contract.channels import PUMP_CHANNELS
from edge.agent import Agent
from edge.errors import ConfigError, SensorError, SensorExhaustedError
from edge.sensors import PacedSource, SensorSource, SensorSpec, open_sensor
from edge.sensors.command import parse_output
from edge.sensors.replay import ReplaySensor
from edge.settings import AgentSettings

SKAB_HEADER = ("datetime;Accelerometer1RMS;Accelerometer2RMS;Current;Pressure;Temperature;Thermocouple;Voltage;"
               "Volume Flow RateRMS;anomaly;changepoint")


def skab_csv(path: Path, rows: int = 3, header: str = SKAB_HEADER) -> Path:
    lines = [header] + [
        f"2020-03-09 10:14:{33 + i:02d};0.20{i};0.29;2.2;1.2;89.{i};29.0;232.0;122.0;0.0;0.0" for i in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def open_spec() -> Iterator[Callable[..., SensorSource]]:
    """Open sources from spec texts; all are closed at the end."""
    opened: list[SensorSource] = []

    def open_one(text: str, at_eof: str = "loop") -> SensorSource:
        opened.append(open_sensor(SensorSpec.parse(text), seed=1, rate_hz=1.0, at_eof=at_eof))
        return opened[-1]

    yield open_one
    for sensor in opened:
        sensor.close()


Opener = Callable[..., SensorSource]


def test_a_skab_csv_replays_as_a_pump_at_its_pace_and_loops(tmp_path: Path, open_spec: Opener) -> None:
    sensor = open_spec(f"replay:{skab_csv(tmp_path / 'a.csv')}@10")
    assert isinstance(sensor, ReplaySensor) and isinstance(sensor, PacedSource)
    assert sensor.channels == PUMP_CHANNELS and sensor.asset_kind == "pump"
    assert sensor.period_s == pytest.approx(0.1)  # rows 1 s apart, replayed 10x faster
    first = sensor.read()
    assert first == (0.200, 0.29, 2.2, 1.2, 89.0, 29.0, 232.0, 122.0)
    assert [sensor.read()[4] for _ in range(3)] == [89.1, 89.2, 89.0]  # looped to the first row
    assert AgentSettings(device_id="p1", sensor=f"replay:{tmp_path / 'a.csv'}").asset_kind == "pump"


def test_a_replay_can_stop_at_the_end_and_accepts_our_channel_names(tmp_path: Path, open_spec: Opener) -> None:
    ours = ";".join(c.name for c in PUMP_CHANNELS)
    path = tmp_path / "ours.csv"
    path.write_text(f"{ours}\n" + ";".join(["1.5"] * 8) + "\n" + ";".join(["2.5"] * 7) + ";\n")
    sensor = open_spec(f"replay:{path}", at_eof="stop")
    assert isinstance(sensor, PacedSource) and sensor.period_s == 1.0  # no datetime column: 1 s
    assert sensor.read() == (1.5,) * 8
    assert sensor.read() == (2.5,) * 7 + (None,)  # an empty cell is a missing value
    with pytest.raises(SensorExhaustedError, match="reached the end"):
        sensor.read()


def test_malformed_replays_are_refused_with_the_reason(tmp_path: Path, open_spec: Opener) -> None:
    with pytest.raises(SensorError, match="cannot open"):
        open_spec(f"replay:{tmp_path / 'missing.csv'}")
    commas = skab_csv(tmp_path / "commas.csv", header=SKAB_HEADER.replace(";", ","))
    with pytest.raises(SensorError, match=r"missing Accelerometer1RMS \(or accel1_rms\)"):
        open_spec(f"replay:{commas}")
    with pytest.raises(SensorError, match="no data rows"):
        open_spec(f"replay:{skab_csv(tmp_path / 'empty.csv', rows=0)}")
    bad = skab_csv(tmp_path / "bad.csv", rows=3)
    bad.write_text(bad.read_text().replace("89.1", "hot"))
    sensor = open_spec(f"replay:{bad}")
    sensor.read()
    with pytest.raises(SensorError, match=r"line 3: Temperature 'hot' is not a number"):
        sensor.read()
    with pytest.raises(ConfigError, match="speed after @ must be a number"):
        SensorSpec.parse(f"replay:{bad}@fast")


def test_a_command_source_reads_name_value_lines_or_json(tmp_path: Path, open_spec: Opener) -> None:
    script = tmp_path / "read.py"
    script.write_text("print('# my board\\nmotor_temp=71.5 degC\\nvibration=0.25 g\\nfan=1')\n")
    sensor = open_spec(f"command:{sys.executable} {script}")
    assert [(c.name, c.unit) for c in sensor.channels] == [
        ("motor_temp", "degC"), ("vibration", "g"), ("fan", "1")]
    assert sensor.read() == (71.5, 0.25, 1.0)
    assert sensor.asset_kind == "custom"
    assert parse_output('{"a": 1, "b": {"value": null, "unit": "bar"}}') == {"a": (1.0, "1"), "b": (None, "bar")}
    with pytest.raises(SensorError, match="is not NAME=VALUE"):
        parse_output("just words here")
    with pytest.raises(SensorError, match="exited 3"):
        open_spec(f"command:{sys.executable} -c 'import sys; sys.exit(3)'")
    with pytest.raises(ConfigError, match="No closing quotation"):
        SensorSpec.parse("command:echo 'unbalanced")


def test_sysfs_files_are_channels_with_scale_and_unit(tmp_path: Path, open_spec: Opener) -> None:
    zone = tmp_path / "thermal_zone0"
    zone.mkdir()
    (zone / "temp").write_text("48250\n")
    (tmp_path / "fan1_input").write_text("1200\n")
    sensor = open_spec(f"sysfs:soc_temp:degC*0.001={zone / 'temp'},{tmp_path / 'fan1_input'}")
    assert [(c.name, c.unit) for c in sensor.channels] == [
        ("soc_temp", "degC"), (f"{tmp_path.name}_fan1_input", "1")]
    assert sensor.read() == pytest.approx((48.25, 1200.0))
    (tmp_path / "fan1_input").unlink()
    assert sensor.read()[1] is None
    with pytest.raises(SensorError, match="cannot be read as a number"):
        open_spec(f"sysfs:{tmp_path / 'nothing'}")
    with pytest.raises(ConfigError, match="is not \\[NAME"):
        SensorSpec.parse("sysfs:relative/path")
    assert AgentSettings(device_id="d1", sensor=f"sysfs:{zone / 'temp'}").model_path is None  # custom: no model


@pytest.mark.mosquitto
def test_an_agent_replays_a_file_once_then_stops_with_everything_sent(
    tmp_path: Path, fast_settings: Callable[..., AgentSettings], observe: Callable[..., Observer]
) -> None:
    observer = observe()
    csv_path = skab_csv(tmp_path / "run.csv", rows=30)
    agent = Agent(fast_settings(sensor=f"replay:{csv_path}@20", replay_at_eof="stop"))
    started = time.monotonic()
    agent.run_until(threading.Event(), duration_s=30)  # returns at the end of the file
    assert time.monotonic() - started < 10  # 30 rows 1 s apart at 20x: 1.5 s, not the 30 s allowed
    stats = agent.stats()
    assert (stats.readings_sampled, stats.readings_acked, stats.queue_depth) == (30, 30, 0)
    wait_until(lambda: len(observer.seqs("pump-001")) >= 30, what="the replayed readings")
    assert [r.values[4] for b in observer.telemetry("pump-001") for r in b.readings][:3] == [89.0, 89.1, 89.2]
