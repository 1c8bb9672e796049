"""Open the sensor source a `SensorSpec` names: one opener per scheme."""

from __future__ import annotations

from edge.errors import ConfigError
from edge.sensors.base import SensorSource
from edge.sensors.simulated import SimulatedSensor, Simulator
from edge.sensors.spec import SensorSpec
from firmware_sim.faults import FaultSpec


def parse_fault(text: str | None) -> FaultSpec | None:
    """Read a `--fault` value (`KIND[@ONSET_S][:CHANNEL]`); `ConfigError` if malformed."""
    if text is None or not text.strip():
        return None
    try:
        return FaultSpec.parse(text)
    except ValueError as exc:
        raise ConfigError(f"--fault: {exc}") from exc


def open_sensor(
    spec: SensorSpec, *, seed: int, rate_hz: float, fault: str | None = None, at_eof: str = "loop"
) -> SensorSource:
    """The source for `spec`; a simulated one advances 1 / `rate_hz` simulated seconds per read.

    `at_eof` (`loop` or `stop`) is what a replay does at the end of its file.
    """
    if spec.scheme == "sim":
        return _open_simulated(spec, seed, rate_hz, fault)
    if parse_fault(fault) is not None:
        raise ConfigError(f"--fault applies to simulated sensors only, not to {spec.scheme}:")
    # Imported on demand: a device uses one kind of source.
    if spec.scheme == "replay":
        from edge.sensors.replay import ReplaySensor

        return ReplaySensor.open(spec.argument, loop=at_eof == "loop")
    if spec.scheme == "command":
        from edge.sensors.command import CommandSensor

        return CommandSensor.open(spec.argument)
    if spec.scheme == "sysfs":
        from edge.sensors.sysfs import SysfsSensor

        return SysfsSensor.open(spec.argument)
    raise ConfigError(f"no driver for sensor scheme {spec.scheme!r}")


def _open_simulated(spec: SensorSpec, seed: int, rate_hz: float, fault: str | None) -> SensorSource:
    fault_spec = parse_fault(fault)
    try:
        simulator = _simulator(spec.asset_kind, seed, fault_spec)
    except ValueError as exc:  # the simulator refuses a fault it cannot inject (e.g. an unknown channel)
        raise ConfigError(f"--fault {fault!r} does not fit --sensor {spec}: {exc}") from exc
    return SimulatedSensor(simulator, spec.asset_kind, 1.0 / rate_hz)


def _simulator(asset_kind: str, seed: int, fault: FaultSpec | None) -> Simulator:
    # Imported on demand: a device runs one kind and need not load the other's model.
    if asset_kind == "pump":
        from firmware_sim.pump import PumpSimulator

        return PumpSimulator(seed, fault=fault)
    if asset_kind == "turbofan":
        from firmware_sim.turbofan import TurbofanSimulator

        return TurbofanSimulator(seed, fault=fault)
    raise ConfigError(f"no simulator for asset kind {asset_kind!r}")
