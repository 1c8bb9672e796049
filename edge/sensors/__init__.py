"""Sensor sources: where an agent's readings come from (`sim:pump`, `sim:turbofan`, later real drivers)."""

from edge.sensors.base import SensorSource
from edge.sensors.registry import open_sensor, parse_fault
from edge.sensors.spec import SensorSpec

__all__ = ["SensorSource", "SensorSpec", "open_sensor", "parse_fault"]
