"""A simulated asset (`firmware_sim`) behind the `SensorSource` interface: `sim:pump`, `sim:turbofan`."""

from __future__ import annotations

import math
from typing import Protocol

from contract.channels import Channel
from edge.errors import SensorError


class Simulator(Protocol):
    """What `firmware_sim` simulators offer."""

    @property
    def channels(self) -> tuple[Channel, ...]: ...

    def step(self, dt_s: float = 1.0) -> tuple[float, ...]: ...


class SimulatedSensor:
    """Advances the simulator by `dt_s` simulated seconds per read (1 / the sampling rate)."""

    def __init__(self, simulator: Simulator, asset_kind: str, dt_s: float) -> None:
        self._sim = simulator
        self._asset_kind = asset_kind
        self._dt_s = _checked_step(dt_s)

    @property
    def asset_kind(self) -> str:
        return self._asset_kind

    @property
    def channels(self) -> tuple[Channel, ...]:
        return tuple(self._sim.channels)

    @property
    def dt_s(self) -> float:
        return self._dt_s

    def set_rate(self, rate_hz: float) -> None:
        """From the next read on, advance 1 / `rate_hz` simulated seconds (the agent's new sampling rate)."""
        self._dt_s = _checked_step(1.0 / rate_hz if rate_hz > 0 else math.nan)

    def close(self) -> None:
        """Nothing to release."""

    def read(self) -> tuple[float | None, ...]:
        try:
            values = self._sim.step(self._dt_s)
        except (ValueError, ArithmeticError) as exc:
            raise SensorError(f"simulated {self._asset_kind} failed to step: {exc}") from exc
        # A simulator marks a dropped sample with NaN; the wire's word for it is null.
        return tuple(None if not math.isfinite(v) else float(v) for v in values)


def _checked_step(dt_s: float) -> float:
    if not (math.isfinite(dt_s) and dt_s > 0):
        raise SensorError(f"a simulated sensor needs a positive time step, got {dt_s}")
    return dt_s
