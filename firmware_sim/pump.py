"""A simulated centrifugal water pump with a VFD, sampled at ~1 Hz like the SKAB test bed.

Physics, simplified but with the right directions: flow follows speed (affinity laws:
flow ~ n, head ~ n^2, shaft power ~ n^3), vibration RMS grows with speed squared,
temperatures follow the load through first-order thermal lags, the supply voltage
wanders independently. Each unit differs a little (seeded), its speed setpoint changes
every few minutes, and its bearings wear slowly over hours. Faults break these
relations in the ways the real ones do (see `_Mechanics`).

Levels are modelled on SKAB's anomaly-free run (vibration ~0.2 g, current ~2.4 A,
motor ~90 degC, fluid ~28 degC, flow ~125 L/min at rated speed); noise is set from its
sample-to-sample spread, except where SKAB's sensors are coarser than a typical plant's
(its pressure reading is quantised to ~0.33 bar, its current and voltage readings
carry ~20 % and 5 % noise): there a realistic transducer's noise is used instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from contract.channels import PUMP_CHANNELS, Channel
from firmware_sim.faults import SENSOR_FAULTS, FaultKind, FaultSpec
from firmware_sim.noise import NormalStream, Wander, first_order
from firmware_sim.regimes import SpeedSchedule
from firmware_sim.sensor_faults import SensorFault

MAINS_V = 230.0
MOTOR_TAU_S = 900.0  # motor housing thermal time constant
FLUID_TAU_S = 2400.0  # the loop's water volume heats slowly
TOLERANCE_SIGMA = 2.0  # manufacturing spread is cut here by the factory's acceptance test

# Per-sample sensor noise, one standard deviation: relative for the accelerometers (their
# RMS noise scales with the level), absolute for the others; in channel order.
_NOISE: tuple[float, ...] = (0.010, 0.010, 0.08, 0.02, 0.15, 0.01, 2.0, 0.5)
_RELATIVE_NOISE = (True, True, False, False, False, False, False, False)

# How far a drifting sensor has moved at full severity, per channel (canonical units):
# several times what the channel's normal spread allows once its neighbours are known.
DRIFT_SPAN: dict[str, float] = {
    "accel1_rms": 0.15,
    "accel2_rms": 0.15,
    "current": 0.8,
    "pressure": 0.5,
    "motor_temp": 15.0,
    "fluid_temp": 10.0,
    "voltage": 40.0,
    "flow_rate": 40.0,
}
DEFAULT_SENSOR_CHANNEL: dict[FaultKind, str] = {
    FaultKind.SENSOR_STUCK: "pressure",  # a blocked impulse line or a dead transmitter
    FaultKind.SENSOR_DRIFT: "flow_rate",  # a fouling flow meter
}


@dataclass(frozen=True)
class PumpUnit:
    """What makes one pump differ from another of the same model (drawn once per seed)."""

    flow_rated: float  # L/min at rated speed, valve open
    pressure_rated: float  # bar at rated speed
    accel1_rated: float  # g RMS at rated speed, pump side
    accel2_rated: float  # g RMS at rated speed, motor side
    current_idle: float  # A: magnetising and friction current
    current_load: float  # A drawn by the hydraulic load at rated speed
    ambient: float  # degC
    motor_rise_idle: float  # degC above ambient with no hydraulic load
    motor_rise_load: float  # further degC at rated load
    voltage_offset: float  # V: this site's mains level
    wear_per_hour: float  # relative growth of vibration per operating hour

    @classmethod
    def draw(cls, rng: np.random.Generator) -> PumpUnit:
        """A plausible unit: a few percent of manufacturing spread, a site's own climate and mains."""

        def z() -> float:
            # Units beyond two sigma fail the end-of-line test and never ship.
            return float(np.clip(rng.standard_normal(), -TOLERANCE_SIGMA, TOLERANCE_SIGMA))

        def spread(nominal: float, cv: float, shared: float = 0.0) -> float:
            return nominal * (1.0 + cv * z() + shared)

        balance = 0.07 * z()  # how well the rotor is balanced: both accelerometers feel it
        return cls(
            flow_rated=spread(125.0, 0.03),
            pressure_rated=spread(1.2, 0.04),
            accel1_rated=spread(0.21, 0.04, balance),
            accel2_rated=spread(0.27, 0.04, balance),
            current_idle=spread(1.1, 0.04),
            current_load=spread(1.3, 0.04),
            ambient=float(rng.normal(24.0, 2.0)),
            motor_rise_idle=float(rng.normal(48.0, 1.5)),
            motor_rise_load=spread(18.0, 0.05),
            voltage_offset=float(rng.normal(0.0, 3.0)),
            wear_per_hour=float(rng.uniform(0.002, 0.008)),
        )


@dataclass(frozen=True)
class _Mechanics:
    """Multipliers a machine fault applies to the healthy physics (all 1 / 0 when healthy)."""

    flow: float = 1.0
    pressure: float = 1.0
    load: float = 1.0
    accel1: float = 1.0
    accel2: float = 1.0
    motor_heat: float = 0.0  # extra degC at equilibrium (bearing friction)
    hydraulic_jitter: float = 0.0  # relative sample-to-sample fluctuation of flow and pressure
    vibration_jitter: float = 0.0  # extra relative noise on the vibration RMS

    @classmethod
    def of(cls, kind: FaultKind | None, s: float) -> _Mechanics:
        """The signature of machine fault `kind` at level `s` (0 = none, 1 = full severity)."""
        if kind is None or s <= 0:
            return cls()
        if kind is FaultKind.BEARING_WEAR:
            # Defect frequencies raise vibration on both sides (more at the worn pump bearing);
            # friction warms the motor a little; the hydraulics do not notice.
            return cls(accel1=1 + 2.0 * s, accel2=1 + 1.2 * s, load=1 + 0.02 * s, motor_heat=4.0 * s,
                       vibration_jitter=0.04 * s)
        if kind is FaultKind.CAVITATION:
            # Vapour bubbles collapse: noisy vibration, the pump loses head and flow, which
            # fluctuate, and it draws less power since it moves less water.
            return cls(flow=1 - 0.15 * s, pressure=1 - 0.20 * s, load=1 - 0.12 * s, accel1=1 + 1.0 * s,
                       accel2=1 + 0.8 * s, hydraulic_jitter=0.04 * s, vibration_jitter=0.08 * s)
        if kind is FaultKind.VALVE_CLOSURE:
            # A throttled discharge at constant speed: the operating point climbs the pump curve,
            # less flow at more pressure and less power; a speed drop would lower both.
            return cls(flow=1 - 0.35 * s, pressure=1 + 0.30 * s, load=1 - 0.15 * s, accel1=1 + 0.05 * s,
                       accel2=1 + 0.05 * s)
        return cls()


class PumpSimulator:
    """One simulated pump: `step()` advances time and returns a sample of `PUMP_CHANNELS`."""

    asset_kind = "pump"

    def __init__(self, seed: int, fault: FaultSpec | None = None) -> None:
        # Separate streams, so a fault changes nothing before its onset and the healthy
        # twin of a faulty pump (same seed) gives identical samples up to then.
        unit_seq, regime_seq, noise_seq, fault_seq = np.random.SeedSequence(seed).spawn(4)
        unit_rng = np.random.default_rng(unit_seq)
        self.channels: tuple[Channel, ...] = PUMP_CHANNELS
        self.unit = PumpUnit.draw(unit_rng)
        self.fault = fault
        self.elapsed_s = 0.0
        self._schedule = SpeedSchedule(np.random.default_rng(regime_seq))
        self._noise = NormalStream(np.random.default_rng(noise_seq), len(PUMP_CHANNELS) + 4)
        self._fault_noise = NormalStream(np.random.default_rng(fault_seq), 4)
        self._sensor_fault = (
            SensorFault(fault, self.channels, DEFAULT_SENSOR_CHANNEL[fault.kind], DRIFT_SPAN)
            if fault is not None and fault.kind in SENSOR_FAULTS
            else None
        )
        # Slow wander: mains level, vibration that breathes with the structure, system resistance.
        self._voltage = Wander(sd=1.5, tau_s=120.0)
        self._vib1 = Wander(sd=0.012, tau_s=30.0)
        self._vib2 = Wander(sd=0.012, tau_s=30.0)
        self._system = Wander(sd=0.004, tau_s=20.0)
        # Start warm, as if it had run a while, at a temperature the previous regime left behind.
        load = self._schedule.speed**3
        self._motor_temp = self._motor_equilibrium(load, 0.0) + float(unit_rng.normal(0.0, 2.0))
        self._fluid_temp = self._fluid_equilibrium(load) + float(unit_rng.normal(0.0, 0.5))

    @property
    def fault_active(self) -> bool:
        """Whether a fault was given and its onset has passed."""
        return self.fault is not None and self.elapsed_s >= self.fault.onset_s

    @property
    def speed(self) -> float:
        """Current shaft speed as a fraction of rated speed (the VFD knows it; the sensors do not report it)."""
        return self._schedule.speed

    def step(self, dt_s: float = 1.0) -> tuple[float, ...]:
        """Advance simulated time by `dt_s` and return one sample in channel order and canonical units."""
        if dt_s <= 0:
            raise ValueError(f"dt_s must be positive, got {dt_s}")
        self.elapsed_s += dt_s
        n = self._schedule.step(self.elapsed_s, dt_s)
        machine_fault = None if self.fault is None or self.fault.kind in SENSOR_FAULTS else self.fault.kind
        level = self.fault.level(self.elapsed_s) if self.fault is not None else 0.0
        z = self._noise.row()
        sample = self._true_values(n, dt_s, _Mechanics.of(machine_fault, level), z[len(PUMP_CHANNELS) :])
        for i, sd in enumerate(_NOISE):
            sample[i] += (sd * sample[i] if _RELATIVE_NOISE[i] else sd) * z[i]
        if self._sensor_fault is not None:
            self._sensor_fault.apply(sample, self.elapsed_s)
        return tuple(sample)

    def _true_values(self, n: float, dt_s: float, m: _Mechanics, z: list[float]) -> list[float]:
        """The physical quantities before sensor noise; `z` are four standard normal draws for the wander."""
        u = self.unit
        voltage = MAINS_V + u.voltage_offset + self._voltage.step(dt_s, z[0])
        system = self._system.step(dt_s, z[1])
        jitter = self._fault_noise.row()
        flow = u.flow_rated * n * m.flow * (1 - system) * (1 + m.hydraulic_jitter * jitter[0])
        pressure = u.pressure_rated * n * n * m.pressure * (1 + 2 * system) * (1 + m.hydraulic_jitter * jitter[1])
        load = n**3 * m.load
        # An induction motor draws the power it needs: at a lower mains voltage, more current.
        current = u.current_idle + u.current_load * load * (MAINS_V / voltage)
        vibration = n * n * (1.0 + u.wear_per_hour * self.elapsed_s / 3600.0)
        breathing1, breathing2 = self._vib1.step(dt_s, z[2]), self._vib2.step(dt_s, z[3])
        accel1 = u.accel1_rated * vibration * m.accel1 * (1 + breathing1 + m.vibration_jitter * jitter[2])
        accel2 = u.accel2_rated * vibration * m.accel2 * (1 + breathing2 + m.vibration_jitter * jitter[3])
        self._motor_temp = first_order(self._motor_temp, self._motor_equilibrium(load, m.motor_heat), dt_s, MOTOR_TAU_S)
        self._fluid_temp = first_order(self._fluid_temp, self._fluid_equilibrium(load), dt_s, FLUID_TAU_S)
        return [accel1, accel2, current, pressure, self._motor_temp, self._fluid_temp, voltage, flow]

    def _motor_equilibrium(self, load: float, extra: float) -> float:
        return self.unit.ambient + self.unit.motor_rise_idle + self.unit.motor_rise_load * load + extra

    def _fluid_equilibrium(self, load: float) -> float:
        # Most of the shaft power ends up in the water as heat; the loop also loses heat to the room.
        return self.unit.ambient + 2.0 + 4.0 * load
