"""Units: each quantity has one canonical unit; known others are converted to it.

Devices may report e.g. `degF` or `psi`; the cloud stores canonical units only, and
a unit it cannot convert is rejected rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.errors import UnitError


@dataclass(frozen=True)
class Affine:
    """canonical = value * scale + offset."""

    scale: float
    offset: float = 0.0

    def apply(self, value: float) -> float:
        return value * self.scale + self.offset


# canonical unit -> {accepted unit: conversion to canonical}
_CONVERSIONS: dict[str, dict[str, Affine]] = {
    "g": {"g": Affine(1.0), "m/s2": Affine(1 / 9.80665)},
    "A": {"A": Affine(1.0), "mA": Affine(1e-3)},
    "V": {"V": Affine(1.0), "mV": Affine(1e-3), "kV": Affine(1e3)},
    "bar": {"bar": Affine(1.0), "kPa": Affine(1e-2), "Pa": Affine(1e-5), "psi": Affine(0.0689476)},
    "degC": {"degC": Affine(1.0), "K": Affine(1.0, -273.15), "degF": Affine(5 / 9, -32 * 5 / 9)},
    "L/min": {"L/min": Affine(1.0), "L/s": Affine(60.0), "m3/h": Affine(1000 / 60)},
    "degR": {"degR": Affine(1.0), "K": Affine(1.8)},
    "psia": {"psia": Affine(1.0), "kPa": Affine(1 / 6.894757)},
    "rpm": {"rpm": Affine(1.0)},
    "lbm/s": {"lbm/s": Affine(1.0), "kg/s": Affine(2.2046226)},
    "pps/psi": {"pps/psi": Affine(1.0)},
    "1": {"1": Affine(1.0)},
    "ft": {"ft": Affine(1.0), "m": Affine(3.28084)},
    "Mach": {"Mach": Affine(1.0)},
    "pct": {"pct": Affine(1.0)},
}


def conversion(unit: str, canonical: str) -> Affine:
    """The conversion from `unit` to `canonical`, or `UnitError` if there is none."""
    table = _CONVERSIONS.get(canonical)
    if table is None:
        raise UnitError(f"no canonical unit {canonical!r}")
    try:
        return table[unit]
    except KeyError:
        accepted = ", ".join(sorted(table))
        raise UnitError(f"unit {unit!r} cannot be converted to {canonical!r} (accepted: {accepted})") from None


def canonical_unit_of(unit: str) -> str | None:
    """The one canonical unit that `unit` converts to (itself if canonical); None when none or several do (`K`)."""
    if unit in _CONVERSIONS:
        return unit
    targets = [canonical for canonical, accepted in _CONVERSIONS.items() if unit in accepted]
    return targets[0] if len(targets) == 1 else None
