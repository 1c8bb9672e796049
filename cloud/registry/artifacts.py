"""What an uploaded ONNX artifact is, checked before the registry accepts it.

An artifact is accepted only if it passes the intake (cloud/registry/intake.py: the graph's
static caps, then a load and one score of a window in a sandboxed child process, never in
this one), its `paas.model` metadata is complete (the fields a device and a planner rely
on) and its graph has the platform's input; the sha256 is always computed here, never
taken from the uploader.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from cloud.errors import InvalidArtifactError
from cloud.registry.intake import INPUT_NAME, Intake
from contract.fields import ID_PATTERN, VERSION_PATTERN

MODEL_KINDS = ("anomaly", "rul")
_INTAKE = Intake()  # one per process: its semaphore bounds the checks running at once, whoever asks
# As on the wire: a device names its model in every event.
_MODEL_ID, _VERSION = ID_PATTERN, VERSION_PATTERN
REQUIRED = (
    "id",
    "version",
    "kind",
    "asset_kind",
    "channels",
    "units",
    "window",
    "threshold",
    "created_at",
    "training_fingerprint",
    "metrics",
    "normalisation",
)


@dataclass(frozen=True)
class ArtifactDescription:
    """An artifact's bytes and what its metadata says, validated."""

    content: bytes
    sha256: str
    model_id: str
    version: str
    kind: str
    asset_kind: str
    channels: tuple[tuple[str, str], ...]  # (name, unit) in input order
    window: int
    normalisation: dict[str, Any]
    threshold: float
    training_fingerprint: str
    metrics: dict[str, float]
    created_at: str
    metadata: dict[str, Any]


def describe_artifact(content: bytes, intake: Intake | None = None) -> ArtifactDescription:
    """Check `content` in the sandboxed intake, then its metadata; `InvalidArtifactError` says what is wrong."""
    if not content:
        raise InvalidArtifactError("the artifact is empty")
    inspection = (intake or _INTAKE).inspect(content)
    description = _from_metadata(content, inspection.metadata)
    _check_input(inspection.inputs, description)
    return description


def _from_metadata(content: bytes, meta: dict[str, Any]) -> ArtifactDescription:
    missing = [key for key in REQUIRED if key not in meta]
    if missing:
        raise InvalidArtifactError(f"the metadata lacks {', '.join(missing)}")
    problems = _identity_problems(meta) + _schema_problems(meta)
    if problems:
        raise InvalidArtifactError("the metadata is incomplete: " + "; ".join(problems))
    channels, units = meta["channels"], meta["units"]
    return ArtifactDescription(
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        model_id=meta["id"],
        version=meta["version"],
        kind=meta["kind"],
        asset_kind=meta["asset_kind"],
        channels=tuple(zip(channels, units, strict=True)),
        window=meta["window"],
        normalisation=dict(meta["normalisation"]),
        threshold=float(meta["threshold"]),
        training_fingerprint=meta["training_fingerprint"],
        metrics={str(k): float(v) for k, v in meta["metrics"].items()},
        created_at=meta["created_at"],
        metadata=meta,
    )


def _schema_problems(meta: dict[str, Any]) -> list[str]:
    channels, units, window, threshold = meta["channels"], meta["units"], meta["window"], meta["threshold"]
    checks = [
        (
            _strings(channels) and _strings(units) and len(channels) == len(units),
            "channels and units must be non-empty lists of names of equal length",
        ),
        (
            isinstance(window, int) and not isinstance(window, bool) and window >= 1,
            f"window {window!r} is not a positive integer",
        ),
        (_number(threshold), f"threshold {threshold!r} is not a finite number"),
        (isinstance(meta["normalisation"], dict), "normalisation is not an object"),
        (
            isinstance(meta["metrics"], dict) and all(_number(v) for v in meta["metrics"].values()),
            "metrics is not an object of numbers",
        ),
        (
            isinstance(meta["training_fingerprint"], str) and bool(meta["training_fingerprint"]),
            "training_fingerprint is empty",
        ),
        (isinstance(meta["created_at"], str) and bool(meta["created_at"]), "created_at is empty"),
    ]
    return [message for ok, message in checks if not ok]


def _identity_problems(meta: dict[str, Any]) -> list[str]:
    problems = []
    if not (isinstance(meta["id"], str) and _MODEL_ID.match(meta["id"])):
        problems.append(f"id {meta['id']!r} is not 1-64 of A-Z a-z 0-9 _ . -")
    if not (isinstance(meta["version"], str) and _VERSION.match(meta["version"])):
        problems.append(f"version {meta['version']!r} is not 1-64 of A-Z a-z 0-9 _ . + -")
    if meta["kind"] not in MODEL_KINDS:
        problems.append(f"kind {meta['kind']!r} is not one of {', '.join(MODEL_KINDS)}")
    if not (isinstance(meta["asset_kind"], str) and meta["asset_kind"]):
        problems.append("asset_kind is empty")
    return problems


def _check_input(inputs: dict[str, tuple[list[int | str | None], str]], description: ArtifactDescription) -> None:
    """The graph takes `window` float32 [N, W, C] with the metadata's W and C (where the graph fixes them)."""
    if INPUT_NAME not in inputs:
        raise InvalidArtifactError(f"the graph has no '{INPUT_NAME}' input (it has {', '.join(inputs) or 'none'})")
    shape, kind = inputs[INPUT_NAME]
    if kind != "tensor(float)":
        raise InvalidArtifactError(f"input '{INPUT_NAME}' is {kind}; devices feed float32 (tensor(float))")
    expected = (description.window, len(description.channels))
    fixed = shape[1:] if len(shape) == 3 else ()
    if len(shape) != 3 or any(isinstance(got, int) and got != want for got, want in zip(fixed, expected, strict=True)):
        wanted = f"[N, {expected[0]}, {expected[1]}]"
        raise InvalidArtifactError(f"input '{INPUT_NAME}' has shape {shape}; the metadata says {wanted}")


def _strings(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
