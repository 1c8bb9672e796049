"""Fit an asset's own anomaly detector from the calibration it uploaded, and register it.

The calibration is the asset's stored readings (its first N, or a time range), in
the order and canonical units the device sends them, so the artifact's input schema
matches the device's sensors. Rows with a missing value are left out (the detector
needs complete rows); the explanation says how many.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from cloud.errors import CalibrationError
from cloud.registry.artifacts import describe_artifact
from cloud.registry.signing import Signer
from cloud.registry.store import Registration, next_version, register_artifact
from cloud.store.raw_readings import RawReadings, RawSeries
from cloud.store.tables import AssetRow
from contract.wire import format_ts
from models.anomaly.calibrated_detector import MIN_CALIBRATION_ROWS, fit_detector

DETECTOR_PREFIX = "pump-detector-"
MAX_MODEL_ID_LEN = 64
DETECTOR_ASSET_KINDS = ("pump",)  # the calibrated detector's settings were chosen on pumps (SKAB)


@dataclass(frozen=True)
class CalibrationSelection:
    """Which stored readings calibrate: the first `first_readings`, or those in [start, end)."""

    first_readings: int | None = None
    start: float | None = None
    end: float | None = None

    def describe(self) -> str:
        if self.first_readings is not None:
            return f"the first {self.first_readings} readings"
        return f"the readings from {format_ts(self.start or 0.0)} to {format_ts(self.end or 0.0)}"


@dataclass(frozen=True)
class FittedModel:
    """The registered detector and what it was fitted on."""

    registration: Registration
    rows: int
    dropped_rows: int
    first_seq: int
    last_seq: int
    start: float
    end: float
    explanation: str


def detector_model_id(device_id: str) -> str:
    """`pump-detector-<device>`; a long device id is shortened with a hash, as model ids are at most 64 characters."""
    name = f"{DETECTOR_PREFIX}{device_id}"
    if len(name) <= MAX_MODEL_ID_LEN:
        return name
    digest = hashlib.sha256(device_id.encode()).hexdigest()[:16]
    return f"{DETECTOR_PREFIX}{device_id[: MAX_MODEL_ID_LEN - len(DETECTOR_PREFIX) - 17]}-{digest}"


def fit_asset_detector(
    session: Session,
    reader: RawReadings,
    signer: Signer,
    asset: AssetRow,
    selection: CalibrationSelection,
    now: float,
    requested_by: str,
) -> FittedModel:
    """Read the calibration, fit, export and register the next version of the asset's detector."""
    if asset.asset_kind not in DETECTOR_ASSET_KINDS:
        kind = repr(asset.asset_kind) if asset.asset_kind else "not known yet (no state or telemetry says)"
        raise CalibrationError(f"asset {asset.device_id}'s kind is {kind}; detectors exist for: pump")
    series = _read(reader, asset.device_id, selection)
    values, units, dropped = _complete_rows(asset, series, selection)
    model_id = detector_model_id(asset.device_id)
    try:
        fitted = fit_detector(
            values,
            series.channels,
            units,
            created_at=format_ts(now),
            asset_kind=asset.asset_kind,
            model_id=model_id,
            version=next_version(session, asset.tenant, model_id),
        )
    except ValueError as exc:
        raise CalibrationError(f"cannot fit a detector on {selection.describe()}: {exc}") from None
    registration = register_artifact(
        session, asset.tenant, describe_artifact(fitted.artifact), signer, now, registered_by=requested_by,
        device_id=asset.device_id,
    )
    first, last = int(series.seqs[0]), int(series.seqs[-1])
    explanation = (
        f"fitted on {values.shape[0]} readings (seq {first}..{last}, {selection.describe()}) of {asset.device_id}"
        f"{f', {dropped} incomplete left out' if dropped else ''}; "
        f"threshold {fitted.threshold:.4g} = margin x the highest calibration score"
    )
    start, end = float(series.ts[0]), float(series.ts[-1])
    return FittedModel(registration, int(values.shape[0]), dropped, first, last, start, end, explanation)


def _complete_rows(
    asset: AssetRow, series: RawSeries, selection: CalibrationSelection
) -> tuple[npt.NDArray[np.float64], list[str], int]:
    """The readings with every channel present, the channels' units, and how many readings were left out."""
    units = {c["name"]: c["unit"] for c in asset.channels}
    missing_units = [name for name in series.channels if name not in units]
    if missing_units:
        raise CalibrationError(f"asset {asset.device_id} has no unit for channels {', '.join(missing_units)}")
    complete = np.isfinite(series.values).all(axis=1)
    values = series.values[complete]
    if values.shape[0] < MIN_CALIBRATION_ROWS:
        raise CalibrationError(
            f"{selection.describe()} of asset {asset.device_id} hold {values.shape[0]} complete readings; "
            f"a detector needs at least {MIN_CALIBRATION_ROWS}"
        )
    return values, [units[name] for name in series.channels], int((~complete).sum())


def _read(reader: RawReadings, device_id: str, selection: CalibrationSelection) -> RawSeries:
    if selection.first_readings is not None:
        series = reader.first(device_id, selection.first_readings)
        if len(series) < selection.first_readings:
            raise CalibrationError(
                f"asset {device_id} has {len(series)} stored readings, {selection.first_readings} were asked for; "
                "wait until its calibration is uploaded, or ask for fewer"
            )
        return series
    if selection.start is None or selection.end is None or not selection.start < selection.end:
        raise CalibrationError("give first_readings, or start before end")
    series = reader.between(device_id, selection.start, selection.end)
    if len(series) == 0:
        raise CalibrationError(f"asset {device_id} has none of {selection.describe()}: nothing stored then")
    return series
