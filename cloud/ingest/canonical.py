"""Checking telemetry against the channel catalogue and converting it to canonical units.

The asset kind comes from the device's state message; telemetry that arrives first
is matched to the one kind whose catalogue holds all its channels (the catalogues
do not share channel names).
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.channels import CATALOGUE, Channel
from contract.errors import ProtocolError, UnitError
from contract.units import Affine, conversion
from contract.wire import Reading, TelemetryBatch


class MessageRejectedError(ProtocolError):
    """A well-formed message the cloud will not store; `reason` is a short code for counting."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class CanonicalTelemetry:
    """A telemetry batch in canonical units: its asset kind, (channel, unit) pairs and readings."""

    asset_kind: str
    channels: tuple[tuple[str, str], ...]
    readings: tuple[Reading, ...]

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.channels)


def canonicalise(batch: TelemetryBatch, asset_kind: str) -> CanonicalTelemetry:
    """The batch in canonical units; `MessageRejectedError` for unknown channels or unconvertible units."""
    kind = asset_kind or infer_asset_kind(batch)
    catalogue = _catalogue_of(kind)
    unknown = [c.name for c in batch.channels if c.name not in catalogue]
    if unknown:
        listed = ", ".join(unknown)
        raise MessageRejectedError("unknown_channel", f"channel(s) {listed} are not in the {kind} catalogue")
    try:
        conversions = [conversion(c.unit, catalogue[c.name].unit) for c in batch.channels]
    except UnitError as exc:
        raise MessageRejectedError("unit", str(exc)) from None
    channels = tuple((c.name, catalogue[c.name].unit) for c in batch.channels)
    if all(a.scale == 1.0 and a.offset == 0.0 for a in conversions):
        return CanonicalTelemetry(kind, channels, batch.readings)
    readings = tuple(Reading(r.seq, r.ts, _convert(r.values, conversions)) for r in batch.readings)
    return CanonicalTelemetry(kind, channels, readings)


def infer_asset_kind(batch: TelemetryBatch) -> str:
    """The one catalogued kind that has all of the batch's channels."""
    names = {c.name for c in batch.channels}
    kinds = [kind for kind, channels in CATALOGUE.items() if names <= {c.name for c in channels}]
    if len(kinds) != 1:
        listed = ", ".join(sorted(names))[:200]
        raise MessageRejectedError("unknown_channel", f"no single asset kind has all of the channels {listed}")
    return kinds[0]


def check_asset_kind(kind: str) -> None:
    """`MessageRejectedError` unless `kind` is empty (not said) or catalogued."""
    if kind:
        _catalogue_of(kind)


def _catalogue_of(kind: str) -> dict[str, Channel]:
    if kind not in CATALOGUE:
        known = ", ".join(CATALOGUE)
        raise MessageRejectedError("unknown_asset_kind", f"unknown asset kind {kind[:40]!r} (known: {known})")
    return {c.name: c for c in CATALOGUE[kind]}


def _convert(values: tuple[float | None, ...], conversions: list[Affine]) -> tuple[float | None, ...]:
    return tuple(None if v is None else a.apply(v) for v, a in zip(values, conversions, strict=True))
