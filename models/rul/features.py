"""The model's input: windows of the informative channels ending at the cycle predicted for, and their summaries.

FD001 flies one operating condition, so seven sensors never move (t2, p2, epr, farb,
nf_dmd, pcnfr_dmd, and p15 to its rounding) and the three settings are noise around
one point; the model reads the other 14. The artifact itself still takes all 24
channels (the edge hands it what the sensors give) and selects them in the graph.

Each normalised channel is then summarised by fixed linear maps over time (`SUMMARIES`):
recent levels, an older level to compare them with, and least-squares slopes. They
are one matrix [W, F], so the ONNX graph computes them with a single MatMul.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from contract.channels import TURBOFAN_CHANNELS
from models.rul.cmapss import Engine, rul_targets

INFORMATIVE = ("t24", "t30", "t50", "p30", "nf", "nc", "ps30", "phi", "nrf", "nrc", "bpr", "htbleed", "w31", "w32")
INFORMATIVE_INDEX: tuple[int, ...] = tuple([c.name for c in TURBOFAN_CHANNELS].index(n) for n in INFORMATIVE)

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Normaliser:
    """z-scores of the informative channels, from training samples (the graph applies it too)."""

    mean: Array
    scale: Array

    @classmethod
    def fit(cls, values: npt.NDArray[np.floating[Any]]) -> Normaliser:
        picked = np.asarray(values, dtype=np.float64)[:, INFORMATIVE_INDEX]
        # A floor keeps a channel that happened to be constant in training from dividing by zero.
        return cls(mean=picked.mean(axis=0), scale=np.maximum(picked.std(axis=0), 1e-6))

    def apply(self, windows: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float32]:
        """Raw windows [N, W, 24] to normalised informative windows [N, W, 14]."""
        picked = np.asarray(windows, dtype=np.float64)[:, :, INFORMATIVE_INDEX]
        return ((picked - self.mean) / self.scale).astype(np.float32)


def window_ending(values: npt.NDArray[np.floating[Any]], end: int, window: int) -> Array:
    """The `window` samples before index `end`; a record shorter than that is padded with its first sample.

    Repeating the first sample reads as "nothing changed before the record began",
    which is what a young engine's flat health index looks like, so a short unit is
    predicted from what little it shows instead of being refused.
    """
    x = np.asarray(values, dtype=np.float64)
    if not 1 <= end <= x.shape[0]:
        raise ValueError(f"window end {end} outside a record of {x.shape[0]} samples")
    start = end - window
    if start >= 0:
        return x[start:end]
    return np.concatenate([np.repeat(x[:1], -start, axis=0), x[:end]])


def last_windows(engines: list[Engine], window: int) -> Array:
    """Each engine's window at its last observed cycle, [N, window, 24]."""
    return np.stack([window_ending(e.values, e.length, window) for e in engines])


def training_windows(engines: list[Engine], window: int, clip: float) -> tuple[Array, Array]:
    """Every window of every engine (one ending at each cycle) and its clipped RUL target."""
    xs: list[Array] = []
    ys: list[Array] = []
    for engine in engines:
        xs.append(np.stack([window_ending(engine.values, end, window) for end in range(1, engine.length + 1)]))
        ys.append(rul_targets(engine, clip))
    return np.concatenate(xs), np.concatenate(ys)


# Column names of `summary_basis`, in order: means over the last k cycles, over the first
# 10 of the window and over the cycles before the last 30; slopes over 30 and the window.
SUMMARIES = (
    "mean_last5", "mean_last15", "mean_last30", "mean_first10", "slope_last30", "slope_window", "mean_before30",
)
MIN_WINDOW = 40  # mean_before30 needs cycles before the last 30


def summary_basis(window: int) -> Array:
    """The [window, len(SUMMARIES)] matrix that maps a channel's window (oldest first) to its summaries."""
    if window < MIN_WINDOW:
        raise ValueError(f"window must be >= {MIN_WINDOW} cycles, got {window}")

    def mean(newest: int, oldest: int) -> Array:
        column = np.zeros(window)
        column[window - oldest : window - newest] = 1.0 / (oldest - newest)
        return column

    def slope(span: int) -> Array:
        column = np.zeros(window)
        t = np.arange(span) - (span - 1) / 2.0
        column[window - span :] = t / np.sum(t * t)
        return column

    columns = [mean(0, 5), mean(0, 15), mean(0, 30), mean(window - 10, window), slope(30), slope(window),
               mean(30, window)]
    return np.stack(columns, axis=1)


def summarise(z: npt.NDArray[np.floating[Any]], basis: Array) -> npt.NDArray[np.float32]:
    """Normalised windows [N, W, C] to feature rows [N, C * F], channel-major (as the graph flattens them)."""
    f: Array = np.einsum("nwc,wf->ncf", np.asarray(z, dtype=np.float64), basis)
    return f.reshape(f.shape[0], -1).astype(np.float32)
