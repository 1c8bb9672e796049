"""Decide whether a downloaded artifact may replace the running model, before anything is swapped.

The manifest was verified when the command arrived (edge.updates.manifests) and the bytes
hash to its digest (edge.updates.download). Then, in order: the candidate loads and scores
a window in a sandboxed child within the device's limits (edge.updates.probe); onnxruntime
loads it here; it is the manifest's model id and version, an anomaly or RUL model, with the
device's channels and units; and a smoke score on the current window (when the agent holds
one of the model's length) is finite. Each refusal is an `UpdateError` whose `reason` the
health report shows as `failed:<reason>`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from contract.wire import EventKind
from edge.errors import ModelError, UpdateError
from edge.runtime import OnnxModel
from edge.sandbox import SandboxLimits
from edge.updates.desired import DesiredState
from edge.updates.probe import probe_candidate


class ModelHost(Protocol):
    """What the updater needs of the agent that runs the model."""

    def sensor_layout(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The sensors' channel names and units, in order."""

    def recent_window(self, size: int) -> npt.NDArray[np.floating[Any]] | None:
        """The current full window if it holds `size` samples, else None."""

    def active_model(self) -> OnnxModel | None: ...

    def swap_model(self, model: OnnxModel | None) -> OnnxModel | None:
        """Make `model` the one that scores (atomically for the sampler); returns the one it replaced."""

    def set_sample_rate(self, rate_hz: float) -> bool:
        """Sample at `rate_hz` from the next tick on; False if the sensor keeps its own pace (a replay)."""

    def announce(self) -> None:
        """Publish the device state soon (the update's outcome)."""


RUNNABLE_KINDS = (EventKind.ANOMALY.value, EventKind.RUL.value)  # what edge.agent runs


def prepare_candidate(path: Path, desired: DesiredState, host: ModelHost, limits: SandboxLimits) -> OnnxModel:
    """The probed, loaded and checked model of `path` (its digest already verified); `UpdateError` if refused."""
    active = host.active_model()  # the agent's current window, which the probe scores if it is the candidate's length
    probe_candidate(path, host.recent_window(active.info.window) if active is not None else None, limits)
    try:
        model = OnnxModel.load(path)
    except ModelError as exc:
        raise UpdateError("load_failed", str(exc)) from None
    info = model.info
    if (info.id, info.version) != (desired.model_id, desired.model_version):
        raise UpdateError("identity_mismatch", f"the artifact is {info.id}@{info.version}, "
                          f"the command asked for {desired.model_id}@{desired.model_version}")
    if info.kind not in RUNNABLE_KINDS:
        runs = " and ".join(RUNNABLE_KINDS)
        raise UpdateError("wrong_kind", f"{info.id} is a {info.kind!r} model; this agent runs {runs} models")
    channels, units = host.sensor_layout()
    try:
        model.check_inputs(channels, units)
    except ModelError as exc:
        raise UpdateError("schema_mismatch", str(exc)) from None
    smoke_test(model, host.recent_window(info.window))
    return model


def smoke_test(model: OnnxModel, window: npt.NDArray[np.floating[Any]] | None) -> None:
    """One score of the current window must succeed and be finite (skipped without a window: probation decides)."""
    if window is None:
        return
    try:
        if model.info.kind == EventKind.RUL.value:
            model.estimate_rul(np.asarray(window)[None, :, :])  # the runtime refuses a non-finite estimate
            return
        score = model.score(window)
    except ModelError as exc:
        raise UpdateError("invalid_output", str(exc)) from None
    if not all(np.isfinite(v) for v in score.contributions.values()):
        raise UpdateError("invalid_output", f"model {model.info.id} gives non-finite contributions")


def with_threshold(model: OnnxModel, threshold: float | None) -> OnnxModel:
    """`model` deciding against `threshold` (None: its own); ModelInfo is frozen, so it is replaced whole."""
    if threshold is not None:
        model.info = dataclasses.replace(model.info, threshold=threshold)
    return model
