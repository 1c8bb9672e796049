"""Recorded runs of simulated pumps: the training and evaluation data of the pump models."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from firmware_sim.faults import FaultSpec
from firmware_sim.pump import PumpSimulator

TRAINING_SEED_BASE = 1_000_000  # training units live far from the small seeds tests and demos use


def record(seed: int, duration_s: int, fault: FaultSpec | None = None, dt_s: float = 1.0) -> npt.NDArray[np.float64]:
    """Samples [duration_s / dt_s, C] of one simulated pump."""
    pump = PumpSimulator(seed, fault)
    steps = round(duration_s / dt_s)
    return np.array([pump.step(dt_s) for _ in range(steps)], dtype=np.float64)


def training_seeds(seed: int, units: int, offset: int = 0) -> list[int]:
    """Seeds of the healthy units a model trained with `seed` learns from (disjoint for distinct offsets)."""
    first = TRAINING_SEED_BASE + seed * 10_000 + offset
    return list(range(first, first + units))
