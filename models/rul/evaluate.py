"""Scoring RUL predictions the way the held-back FD001 test set is scored, and simulating that test.

The test set gives each engine cut some cycles before its failure and asks for the RUL
at the last observed cycle; its engines show 31 to 303 cycles and have 7 to 145 cycles
left. `cuts_like_test_set` draws cuts of held-out training engines the same way, so the
cross-validation measures the quantity the maintainers will measure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.rul.cmapss import Engine

Array = npt.NDArray[np.float64]

MIN_OBSERVED = 31  # the test set's shortest engine
MIN_LEFT, MAX_LEFT = 5, 150  # the test set's true RULs span 7..145


def rmse(predicted: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    d = np.asarray(predicted, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    return float(np.sqrt(np.mean(d * d)))


def nasa_score(predicted: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    """The PHM08 asymmetric score, summed: late predictions (d > 0) cost more than early ones."""
    d = np.asarray(predicted, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    return float(np.sum(np.where(d < 0, np.expm1(-d / 13.0), np.expm1(d / 10.0))))


def nasa_per_100(predicted: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    """NASA score scaled to 100 engines: comparable with the test set's 100-engine sum."""
    n = np.asarray(truth).size
    return nasa_score(predicted, truth) * 100.0 / n


@dataclass(frozen=True)
class Cut:
    """A held-out engine observed up to `observed` cycles, with `left` cycles to go."""

    engine: Engine
    observed: int
    left: int

    def truncated(self) -> Engine:
        return Engine(self.engine.unit, self.engine.cycles[: self.observed], self.engine.values[: self.observed])


def cuts_like_test_set(engines: list[Engine], per_engine: int, rng: np.random.Generator) -> list[Cut]:
    """`per_engine` random cuts of each engine, leaving 5..150 cycles and showing at least 31."""
    cuts: list[Cut] = []
    for engine in engines:
        most = min(MAX_LEFT, engine.length - MIN_OBSERVED)
        if most < MIN_LEFT:
            continue  # too short to cut like the test set; FD001's shortest engine (128) never is
        for left in rng.integers(MIN_LEFT, most + 1, size=per_engine):
            cuts.append(Cut(engine, engine.length - int(left), int(left)))
    return cuts


def summary(values: list[float]) -> dict[str, float]:
    """Mean and standard deviation over folds."""
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if a.size > 1 else 0.0}
