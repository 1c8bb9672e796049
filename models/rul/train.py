"""Training the RUL artifact: cross-validate by engine, calibrate the band out of fold, fit the final ensemble.

Cross-validation holds whole engines out (GroupKFold over units), cuts each held-out
engine the way the test set is cut (`evaluate.cuts_like_test_set`) and scores the RUL
predicted at the cut. Its out-of-fold residuals calibrate the conformal band; the
band's coverage is itself measured out of fold (each fold's band from the others).
Every seed derives from `TrainConfig.seed`, so one seed gives one artifact.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import numpy.typing as npt
from sklearn.model_selection import GroupKFold

from contract.channels import TURBOFAN_CHANNELS
from models.export import ArtifactInfo
from models.rul.band import Band, calibrate, coverage_of
from models.rul.cmapss import Engine
from models.rul.ensemble import RulEnsemble, point_estimate
from models.rul.evaluate import cuts_like_test_set, nasa_per_100, rmse, summary
from models.rul.export import export_rul
from models.rul.features import Normaliser, last_windows, summarise, summary_basis, training_windows
from models.rul.network import NetworkConfig, fit_network
from models.rul.weights import NetworkWeights

Array = npt.NDArray[np.float64]
Progress = Callable[[str], None]
MODEL_ID = "turbofan-rul"
MODEL_VERSION = "1.0.0"
ALERT_HORIZON = 30.0  # the metadata's threshold: plan maintenance once rul_lower is at or below this


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    members: int = 5
    folds: int = 5
    cuts_per_engine: int = 10
    clip: float = 125.0
    coverage: float = 0.9
    network: NetworkConfig = field(default_factory=NetworkConfig)


@dataclass(frozen=True)
class OutOfFold:
    """Cross-validation results: per-fold metrics and every cut's prediction and truth."""

    fold: Array  # [cuts] fold index
    predicted: Array
    truth: Array  # clipped at config.clip, as the literature scores FD001
    left: Array  # unclipped cycles left
    rmse: list[float]
    nasa: list[float]


@dataclass(frozen=True)
class TrainedRul:
    artifact: bytes
    metrics: dict[str, float]


def fit_ensemble(engines: list[Engine], config: TrainConfig, seed: int, progress: Progress) -> RulEnsemble:
    """Normalise on `engines`, train `config.members` networks; the band is left empty for the caller."""
    normaliser = Normaliser.fit(np.concatenate([e.values for e in engines]))
    x, y = training_windows(engines, config.network.window, config.clip)
    features = summarise(normaliser.apply(x), summary_basis(config.network.window))
    members: list[NetworkWeights] = []
    for m in range(config.members):
        started = time.monotonic()
        members.append(fit_network(features, y, config.network, seed=seed + m, progress=progress))
        progress(f"  member {m + 1}/{config.members} trained on {len(y)} windows in {time.monotonic() - started:.0f} s")
    empty = Band(lower=np.zeros(1), upper=np.zeros(1), coverage=0.0)
    return RulEnsemble(normaliser=normaliser, members=tuple(members), clip=config.clip, band=empty)


def cross_validate(engines: list[Engine], config: TrainConfig, progress: Progress) -> OutOfFold:
    """GroupKFold over engines; each held-out engine cut like the test set."""
    units = np.arange(len(engines))
    rng = np.random.default_rng(config.seed)
    folds, predicted, truth, left = [], [], [], []
    rmses, nasas = [], []
    for k, (train, held) in enumerate(GroupKFold(n_splits=config.folds).split(units, groups=units)):
        progress(f"fold {k + 1}/{config.folds}: {len(train)} engines to train, {len(held)} held out")
        e = fit_ensemble([engines[i] for i in train], config, seed=_seed(config, k), progress=progress)
        cuts = cuts_like_test_set([engines[i] for i in held], config.cuts_per_engine, rng)
        windows = last_windows([c.truncated() for c in cuts], config.network.window)
        p = point_estimate(e.normaliser, e.members, e.clip, windows)
        cycles_left = np.asarray([c.left for c in cuts], dtype=np.float64)
        t = np.minimum(cycles_left, config.clip)
        rmses.append(rmse(p, t))
        nasas.append(nasa_per_100(p, t))
        progress(f"fold {k + 1}: RMSE {rmses[-1]:.2f}, NASA score per 100 engines {nasas[-1]:.0f} ({len(cuts)} cuts)")
        folds.append(np.full(len(cuts), k))
        predicted.append(p)
        truth.append(t)
        left.append(cycles_left)
    cat = np.concatenate
    return OutOfFold(cat(folds).astype(np.float64), cat(predicted), cat(truth), cat(left), rmses, nasas)


def band_coverage(oof: OutOfFold, config: TrainConfig) -> float:
    """Coverage measured out of fold: each fold's cuts against a band calibrated on the other folds."""
    inside = 0.0
    for k in np.unique(oof.fold):
        mine = oof.fold == k
        band = calibrate(oof.predicted[~mine], oof.truth[~mine], config.coverage)
        inside += coverage_of(band, oof.predicted[mine], oof.truth[mine], config.clip) * mine.sum()
    return inside / oof.fold.size


def train_rul(engines: list[Engine], config: TrainConfig, created_at: str, progress: Progress) -> TrainedRul:
    """Cross-validate, calibrate, train the final ensemble on every engine and export it."""
    started = time.monotonic()
    oof = cross_validate(engines, config, progress)
    band = calibrate(oof.predicted, oof.truth, config.coverage)
    progress(f"final ensemble on all {len(engines)} engines")
    final = fit_ensemble(engines, config, seed=_seed(config, config.folds), progress=progress)
    ensemble = RulEnsemble(final.normaliser, final.members, final.clip, band)
    metrics = _metrics(oof, config, band_coverage(oof, config))
    info = ArtifactInfo(
        id=MODEL_ID, version=MODEL_VERSION, asset_kind="turbofan", channels=TURBOFAN_CHANNELS,
        window=config.network.window, threshold=ALERT_HORIZON, created_at=created_at,
        training_fingerprint=training_fingerprint(engines), metrics=metrics, kind="rul",
    )
    extra = {"method": "window-summaries+mlp-ensemble+mondrian-conformal", "training": _describe(config)}
    artifact = export_rul(ensemble, info, extra)
    # Wall time is reported, not stored: the artifact must be the same bytes on every rerun.
    progress(f"trained in {time.monotonic() - started:.0f} s")
    return TrainedRul(artifact=artifact, metrics=metrics)


def training_fingerprint(engines: list[Engine]) -> str:
    """sha256 over every engine's unit number, cycles and samples: which data made the artifact."""
    digest = hashlib.sha256()
    for e in engines:
        digest.update(np.int64(e.unit).tobytes())
        digest.update(np.ascontiguousarray(e.cycles, dtype="<i8").tobytes())
        digest.update(np.ascontiguousarray(e.values, dtype="<f8").tobytes())
    return digest.hexdigest()


def _seed(config: TrainConfig, fold: int) -> int:
    # Members of one fold take consecutive seeds; folds and the final fit never share one.
    return config.seed * 1000 + fold * config.members


def _metrics(oof: OutOfFold, config: TrainConfig, coverage: float) -> dict[str, float]:
    r, n = summary(oof.rmse), summary(oof.nasa)
    lower, _ = calibrate(oof.predicted, oof.truth, config.coverage).apply(oof.predicted, config.clip)
    return {
        "cv_rmse_mean": round(r["mean"], 3),
        "cv_rmse_std": round(r["std"], 3),
        "cv_nasa_per_100_mean": round(n["mean"], 1),
        "cv_nasa_per_100_std": round(n["std"], 1),
        "cv_rmse_unclipped_truth": round(rmse(oof.predicted, oof.left), 3),
        "cv_cuts": float(oof.truth.size),
        "band_coverage_nominal": config.coverage,
        "band_coverage_cv": round(coverage, 4),
        "band_lower_rmse": round(rmse(lower, oof.truth), 3),
    }


def _describe(config: TrainConfig) -> dict[str, object]:
    described: dict[str, object] = asdict(config)
    return described
