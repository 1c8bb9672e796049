"""A simulated turbofan engine degrading to failure, one flight cycle per step, like NASA C-MAPSS FD001.

Each sensor reads its unit's healthy level plus a degradation trend plus noise. The
levels, unit-to-unit spread, end-of-life shifts and noise are FD001's (measured on its
100 training engines): temperatures and Ps30 rise, P30, phi and the coolant bleeds
fall, and the core speeds (Nc, NRc) drift either way depending on the engine. The
trend follows a health index that is flat at first and accelerates towards failure,
d(f) = (exp(b f) - 1) / (exp(b) - 1) for the fraction f of life spent (b ~ 4 fits
FD001's mean trajectories). Settings and the constant sensors are FD001's as well.

Faults: only sensor faults apply (the engine's own degradation is always on); their
onset and ramp count cycles, one per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from contract.channels import TURBOFAN_CHANNELS, Channel
from firmware_sim.faults import SENSOR_FAULTS, FaultKind, FaultSpec
from firmware_sim.noise import NormalStream
from firmware_sim.sensor_faults import SensorFault

LIFE_RANGE = (128, 362)  # FD001's shortest and longest training engines
LIFE_MEDIAN = 200.0
LIFE_LOG_SD = 0.21


@dataclass(frozen=True)
class _Sensor:
    """One C-MAPSS sensor: fleet mean at start, unit spread, shift at end of life (mean, spread), noise."""

    start: float
    unit_sd: float = 0.0
    shift: float = 0.0
    shift_sd: float = 0.0
    noise: float = 0.0
    decimals: int | None = None  # FD001 records some sensors rounded


# In TURBOFAN_CHANNELS order, after the three settings (FD001 train set statistics).
_SENSORS: tuple[_Sensor, ...] = (
    _Sensor(518.67),  # t2
    _Sensor(642.381, 0.236, 1.289, 0.285, 0.303, 2),  # t24
    _Sensor(1586.84, 2.44, 15.45, 3.32, 4.00, 2),  # t30
    _Sensor(1402.76, 4.47, 26.17, 4.56, 4.01, 2),  # t50
    _Sensor(14.62),  # p2
    _Sensor(21.6095, 0.0007, 0.0005, 0.0008, 0.0013, 2),  # p15
    _Sensor(553.951, 0.479, -2.456, 0.51, 0.406, 2),  # p30
    _Sensor(2388.058, 0.0456, 0.174, 0.068, 0.030, 2),  # nf
    _Sensor(9056.01, 7.30, 41.99, 53.29, 4.15, 2),  # nc: engine-specific direction, see _CORE
    _Sensor(1.3),  # epr
    _Sensor(47.3525, 0.146, 0.790, 0.156, 0.101, 2),  # ps30
    _Sensor(521.910, 0.410, -2.101, 0.451, 0.300, 2),  # phi
    _Sensor(2388.056, 0.0465, 0.178, 0.070, 0.030, 2),  # nrf
    _Sensor(8137.37, 7.34, 29.49, 47.97, 3.16, 2),  # nrc: engine-specific direction, see _CORE
    _Sensor(8.4183, 0.0176, 0.102, 0.0189, 0.0201, 4),  # bpr
    _Sensor(0.03),  # farb
    _Sensor(392.26, 0.684, 3.98, 0.853, 0.95, 0),  # htbleed: an integer in FD001
    _Sensor(2388.0),  # nf_dmd
    _Sensor(100.0),  # pcnfr_dmd
    _Sensor(38.933, 0.0846, -0.487, 0.0964, 0.101, 2),  # w31
    _Sensor(23.360, 0.0508, -0.290, 0.0547, 0.060, 4),  # w32
)
# Nc and NRc move together (r = 0.98 in FD001) in a direction that differs between
# engines, so their unit spread and end shift come from one shared draw each.
_CORE = (8, 13)
_SETTINGS_SD = (0.0022, 0.00029, 0.0)
_SETTINGS_MEAN = (0.0, 0.0, 100.0)
DEFAULT_SENSOR_CHANNEL: dict[FaultKind, str] = {FaultKind.SENSOR_STUCK: "t50", FaultKind.SENSOR_DRIFT: "t30"}
# A drifting sensor moves this many times its end-of-life shift (or 10 noise sds where it has none).
DRIFT_SPAN: dict[str, float] = {
    ch.name: 2.0 * abs(s.shift) if s.shift else 10.0 * max(s.noise, 1e-3 * abs(s.start))
    for ch, s in zip(TURBOFAN_CHANNELS[3:], _SENSORS, strict=True)
} | {"altitude": 0.02, "mach": 0.003, "tra": 1.0}


class TurbofanSimulator:
    """One simulated engine: `step()` flies a cycle and returns a sample of `TURBOFAN_CHANNELS`."""

    asset_kind = "turbofan"

    def __init__(self, seed: int, life_cycles: int | None = None, fault: FaultSpec | None = None) -> None:
        if fault is not None and fault.kind not in SENSOR_FAULTS:
            raise ValueError(f"fault {fault.kind.value} does not apply to a turbofan (only sensor_stuck, sensor_drift)")
        unit_seq, noise_seq = np.random.SeedSequence(seed).spawn(2)
        rng = np.random.default_rng(unit_seq)
        drawn = int(np.clip(round(LIFE_MEDIAN * math.exp(LIFE_LOG_SD * rng.standard_normal())), *LIFE_RANGE))
        self.life_cycles = drawn if life_cycles is None else int(life_cycles)
        if self.life_cycles < 1:
            raise ValueError(f"life_cycles must be >= 1, got {life_cycles}")
        self.channels: tuple[Channel, ...] = TURBOFAN_CHANNELS
        self.fault = fault
        self.cycle = 0
        self._curvature = float(np.clip(rng.normal(4.0, 0.4), 2.5, 5.5))
        unit_z, shift_z = rng.standard_normal(len(_SENSORS)), rng.standard_normal(len(_SENSORS))
        unit_z[list(_CORE)], shift_z[list(_CORE)] = unit_z[_CORE[0]], shift_z[_CORE[0]]
        self._start = [s.start + s.unit_sd * float(z) for s, z in zip(_SENSORS, unit_z, strict=True)]
        self._shift = [s.shift + s.shift_sd * float(z) for s, z in zip(_SENSORS, shift_z, strict=True)]
        self._noise = NormalStream(np.random.default_rng(noise_seq), len(TURBOFAN_CHANNELS))
        self._sensor_fault = (
            None if fault is None else SensorFault(fault, self.channels, DEFAULT_SENSOR_CHANNEL[fault.kind], DRIFT_SPAN)
        )

    @property
    def true_rul(self) -> int:
        """Cycles left before failure (0 from the last cycle on)."""
        return max(0, self.life_cycles - self.cycle)

    @property
    def failed(self) -> bool:
        """Whether the engine has flown its last cycle."""
        return self.cycle >= self.life_cycles

    @property
    def fault_active(self) -> bool:
        """Whether a fault was given and its onset cycle has passed."""
        return self.fault is not None and self.cycle >= self.fault.onset_s

    @property
    def degradation(self) -> float:
        """The health index: 0 when new, 1 at failure (it stays at 1 if the engine is flown past failure)."""
        spent = min(1.0, self.cycle / self.life_cycles)
        return math.expm1(self._curvature * spent) / math.expm1(self._curvature)

    def step(self, dt_s: float = 1.0) -> tuple[float, ...]:
        """Fly one cycle (`dt_s` is ignored) and return its sample in channel order and canonical units."""
        self.cycle += 1
        d = self.degradation
        z = self._noise.row()
        sample = [m + sd * z[i] for i, (m, sd) in enumerate(zip(_SETTINGS_MEAN, _SETTINGS_SD, strict=True))]
        for i, sensor in enumerate(_SENSORS):
            value = self._start[i] + self._shift[i] * d + sensor.noise * z[3 + i]
            sample.append(value if sensor.decimals is None else round(value, sensor.decimals))
        if self._sensor_fault is not None:
            self._sensor_fault.apply(sample, float(self.cycle))
        return tuple(sample)
