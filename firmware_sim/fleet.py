"""A simulated fleet: which devices exist, which of them carry a fault, and a simulator for each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from contract.channels import Channel
from firmware_sim.faults import SENSOR_FAULTS, FaultKind, FaultSpec
from firmware_sim.pump import PumpSimulator
from firmware_sim.turbofan import TurbofanSimulator


class Simulator(Protocol):
    """What a device's sensor source needs from a simulator."""

    asset_kind: str
    channels: tuple[Channel, ...]

    def step(self, dt_s: float = 1.0) -> tuple[float, ...]:
        """Advance by `dt_s` and return one sample in `channels` order."""
        ...


@dataclass(frozen=True)
class DeviceSpec:
    """One planned device: its id, kind of asset, seed and injected fault (if any)."""

    device_id: str
    asset_kind: str
    seed: int
    fault: FaultSpec | None


# The fault kinds that make sense per asset kind: an engine's own wear is always on, so
# only its sensors can be made to fail.
FAULT_KINDS: dict[str, tuple[FaultKind, ...]] = {
    "pump": tuple(FaultKind),
    "turbofan": tuple(k for k in FaultKind if k in SENSOR_FAULTS),
}
FULL_SEVERITY_BY = 0.6  # fraction of the run by which every fault has ramped to full severity


def plan_fleet(
    n: int,
    seed: int = 0,
    fault_fraction: float = 0.2,
    duration_s: float = 60.0,
    asset_kind: str = "pump",
    prefix: str = "pump",
) -> list[DeviceSpec]:
    """Plan `n` devices: round(n * fault_fraction) of them faulty (at least one when n >= 3), kinds spread evenly.

    Deterministic for a seed. Onsets fall in the first third of `duration_s` and ramps end
    by 60 % of it, so a run of `duration_s` shows every fault at full severity for a while.
    """
    if n < 0 or not 0.0 <= fault_fraction <= 1.0 or duration_s <= 0:
        raise ValueError(
            f"need n >= 0, 0 <= fault_fraction <= 1 and duration_s > 0; got {n}, {fault_fraction}, {duration_s}"
        )
    if asset_kind not in FAULT_KINDS:
        raise ValueError(f"unknown asset kind {asset_kind!r} (known: {', '.join(FAULT_KINDS)})")
    rng = np.random.default_rng(seed)
    seeds = [int(s) for s in rng.integers(0, 2**31 - 1, size=n)]
    faulty = min(n, round(n * fault_fraction))
    if n >= 3 and fault_fraction > 0:
        faulty = max(1, faulty)
    kinds = FAULT_KINDS[asset_kind]
    offset = int(rng.integers(len(kinds)))
    faulty_indices = sorted(int(i) for i in rng.choice(n, size=faulty, replace=False)) if faulty else []
    faults: dict[int, FaultSpec] = {
        index: _fault(kinds[(offset + rank) % len(kinds)], duration_s, rng) for rank, index in enumerate(faulty_indices)
    }
    width = max(3, len(str(n)))
    return [
        DeviceSpec(f"{prefix}-{i + 1:0{width}d}", asset_kind, seeds[i], faults.get(i)) for i in range(n)
    ]


def _fault(kind: FaultKind, duration_s: float, rng: np.random.Generator) -> FaultSpec:
    # Whole tenths of a second keep the spec's text short, and it still parses back exactly.
    onset = round(float(rng.uniform(duration_s / 10, duration_s / 3)), 1)
    room = FULL_SEVERITY_BY * duration_s - onset
    ramp = round(float(rng.uniform(0.5, 1.0)) * room, 1)
    return FaultSpec(kind, onset_s=onset, ramp_s=max(0.0, ramp))


def make_simulator(spec: DeviceSpec) -> Simulator:
    """A simulator for a planned device."""
    if spec.asset_kind == "pump":
        return PumpSimulator(spec.seed, spec.fault)
    if spec.asset_kind == "turbofan":
        return TurbofanSimulator(spec.seed, fault=spec.fault)
    raise ValueError(f"unknown asset kind {spec.asset_kind!r} (known: {', '.join(FAULT_KINDS)})")
