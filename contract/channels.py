"""The built-in asset profiles: which signals a pump and a turbofan report, in which unit, with which label.

Declared as data (one row per channel), so adding a channel is a line, not a branch. Any
other kind of asset is described by a device profile that a tenant registers with the
cloud (`cloud.store.profiles`); these two ship with the platform, are the same for every
tenant and cannot be replaced. They live here, in `contract`, because the edge (which
never imports cloud code) needs them too: its simulators, the SKAB replay, its meters.
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


@dataclass(frozen=True)
class AssetProfile:
    """One kind of asset: the channels it reports (canonical units, labels), what it is, and its usual model."""

    kind: str
    channels: tuple[Channel, ...]
    description: str = ""
    model_id: str = ""  # the model such assets usually run; "" when none is known


BUILTIN_PROFILES: tuple[AssetProfile, ...] = (
    AssetProfile("pump", PUMP_CHANNELS, "Centrifugal water pump (SKAB test bench)", "pump-pca-baseline"),
    AssetProfile("turbofan", TURBOFAN_CHANNELS, "Turbofan engine, one reading per flight cycle (NASA C-MAPSS)",
                 "turbofan-rul"),
)
BUILTIN: dict[str, AssetProfile] = {profile.kind: profile for profile in BUILTIN_PROFILES}
# The built-in kinds' channels, by kind (what the edge's simulators and `--sensor sim:KIND` know).
CATALOGUE: dict[str, tuple[Channel, ...]] = {profile.kind: profile.channels for profile in BUILTIN_PROFILES}


def channels_for(asset_kind: str) -> tuple[Channel, ...]:
    """The channels of a built-in asset kind, or `ProtocolError` for any other kind."""
    try:
        return CATALOGUE[asset_kind]
    except KeyError:
        raise ProtocolError(f"unknown asset kind {asset_kind!r} (built in: {', '.join(CATALOGUE)})") from None
