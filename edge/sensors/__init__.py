"""Sensor sources: where an agent's readings come from (`sim:`, `replay:`, `command:`, `sysfs:`)."""

from edge.sensors.base import PacedSource, SensorSource, SteppedSource
from edge.sensors.registry import open_sensor, parse_fault
from edge.sensors.spec import SensorSpec

__all__ = ["PacedSource", "SensorSource", "SensorSpec", "SteppedSource", "open_sensor", "parse_fault"]
