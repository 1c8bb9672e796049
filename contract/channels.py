"""The channel catalogue: which signals each kind of asset reports, and in which unit.

Declared as data (one row per channel), so adding a channel is a line, not a branch.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.errors import ProtocolError


@dataclass(frozen=True)
class Channel:
    """One sensor signal: its wire name, canonical unit and human label."""

    name: str
    unit: str
    label: str
    source_column: str = ""  # the column name in recorded datasets (SKAB, C-MAPSS)


PUMP_CHANNELS: tuple[Channel, ...] = (
    Channel("accel1_rms", "g", "Vibration RMS, pump side", "Accelerometer1RMS"),
    Channel("accel2_rms", "g", "Vibration RMS, motor side", "Accelerometer2RMS"),
    Channel("current", "A", "Motor current", "Current"),
    Channel("pressure", "bar", "Outlet pressure", "Pressure"),
    Channel("motor_temp", "degC", "Motor temperature", "Temperature"),
    Channel("fluid_temp", "degC", "Fluid temperature", "Thermocouple"),
    Channel("voltage", "V", "Supply voltage", "Voltage"),
    Channel("flow_rate", "L/min", "Volume flow rate", "Volume Flow RateRMS"),
)

TURBOFAN_CHANNELS: tuple[Channel, ...] = (
    Channel("altitude", "ft", "Operational setting 1 (altitude)", "setting1"),
    Channel("mach", "Mach", "Operational setting 2 (Mach)", "setting2"),
    Channel("tra", "pct", "Operational setting 3 (throttle resolver angle)", "setting3"),
    Channel("t2", "degR", "Fan inlet temperature", "s1"),
    Channel("t24", "degR", "LPC outlet temperature", "s2"),
    Channel("t30", "degR", "HPC outlet temperature", "s3"),
    Channel("t50", "degR", "LPT outlet temperature", "s4"),
    Channel("p2", "psia", "Fan inlet pressure", "s5"),
    Channel("p15", "psia", "Bypass-duct pressure", "s6"),
    Channel("p30", "psia", "HPC outlet pressure", "s7"),
    Channel("nf", "rpm", "Physical fan speed", "s8"),
    Channel("nc", "rpm", "Physical core speed", "s9"),
    Channel("epr", "1", "Engine pressure ratio", "s10"),
    Channel("ps30", "psia", "HPC outlet static pressure", "s11"),
    Channel("phi", "pps/psi", "Fuel flow to Ps30 ratio", "s12"),
    Channel("nrf", "rpm", "Corrected fan speed", "s13"),
    Channel("nrc", "rpm", "Corrected core speed", "s14"),
    Channel("bpr", "1", "Bypass ratio", "s15"),
    Channel("farb", "1", "Burner fuel-air ratio", "s16"),
    Channel("htbleed", "1", "Bleed enthalpy", "s17"),
    Channel("nf_dmd", "rpm", "Demanded fan speed", "s18"),
    Channel("pcnfr_dmd", "rpm", "Demanded corrected fan speed", "s19"),
    Channel("w31", "lbm/s", "HPT coolant bleed", "s20"),
    Channel("w32", "lbm/s", "LPT coolant bleed", "s21"),
)

CATALOGUE: dict[str, tuple[Channel, ...]] = {
    "pump": PUMP_CHANNELS,
    "turbofan": TURBOFAN_CHANNELS,
}


def channels_for(asset_kind: str) -> tuple[Channel, ...]:
    """The channels of an asset kind, or `ProtocolError` for an unknown kind."""
    try:
        return CATALOGUE[asset_kind]
    except KeyError:
        raise ProtocolError(f"unknown asset kind {asset_kind!r} (known: {', '.join(CATALOGUE)})") from None
