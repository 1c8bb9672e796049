"""Checking telemetry against its asset's device profile and converting it to the profile's units.

The asset kind comes from the device's state message; telemetry that arrives first is
matched to the one profile (built in, or the tenant's) that has all its channels.

A kind with a profile (`cloud.store.profiles`) is validated: a channel the profile does
not list, or a unit that cannot be converted to the profile's, refuses the batch with a
reason. A kind without one is *pending*: its readings are kept rather than refused, so a
device of a new kind loses nothing while a planner registers its profile. They are stored
as sent, except that a unit `contract.units` converts to exactly one canonical unit is
converted to it (`mV` -> `V`); any other unit (`ppm`, or `K`, which is degC's and degR's)
is kept as it is, its symbol recorded on the asset.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from cloud.store.profiles import find_profile, tenant_profiles
from cloud.store.tables import AssetRow
from contract.errors import ProtocolError, UnitError
from contract.units import Affine, canonical_unit_of, conversion
from contract.wire import Reading, TelemetryBatch

_IDENTITY = Affine(1.0)


class MessageRejectedError(ProtocolError):
    """A well-formed message the cloud will not store; `reason` is a short code for counting."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class CanonicalTelemetry:
    """A telemetry batch in its profile's units: its asset kind, (channel, unit) pairs and readings.

    `pending`: the kind has no profile (or is not known yet), so the units are as sent where no conversion is known.
    """

    asset_kind: str
    channels: tuple[tuple[str, str], ...]
    readings: tuple[Reading, ...]
    pending: bool = False

    @property
    def channel_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.channels)


def canonicalise(session: Session, batch: TelemetryBatch, asset: AssetRow | None) -> CanonicalTelemetry:
    """The batch in its profile's units, or kept for a pending kind; `MessageRejectedError` for a channel the profile
    does not list, or a unit that cannot be converted to the profile's (or, pending, to the one already stored)."""
    kind = (asset.asset_kind if asset is not None else "") or infer_asset_kind(session, batch)
    profile = find_profile(session, batch.tenant, kind) if kind else None
    if profile is None:
        # A channel keeps the unit its first readings were stored in, so its series never mixes units.
        stored = {} if asset is None else {c["name"]: c["unit"] for c in asset.channels}
        units = tuple(stored.get(c.name) or canonical_unit_of(c.unit) or c.unit for c in batch.channels)
        try:
            return _converted(kind, batch, units, pending=True)
        except UnitError as exc:
            raise MessageRejectedError("unit", f"{exc}: the unit its readings are stored in (kind "
                                               f"{kind or 'not known yet'}, no profile)") from None
    declared = {c.name: c.unit for c in profile.channels}
    unknown = [c.name for c in batch.channels if c.name not in declared]
    if unknown:
        listed = ", ".join(unknown)
        raise MessageRejectedError("unknown_channel", f"channel(s) {listed} are not in the {kind} profile")
    try:
        return _converted(kind, batch, tuple(declared[c.name] for c in batch.channels), pending=False)
    except UnitError as exc:
        raise MessageRejectedError("unit", f"{exc}, as the {kind} profile says") from None


def infer_asset_kind(session: Session, batch: TelemetryBatch) -> str:
    """The one kind, built in or the tenant's, whose profile has all of the batch's channels; "" if none or several."""
    names = {c.name for c in batch.channels}
    kinds = [p.kind for p in tenant_profiles(session, batch.tenant) if names <= {c.name for c in p.channels}]
    return kinds[0] if len(kinds) == 1 else ""


def _converted(kind: str, batch: TelemetryBatch, units: tuple[str, ...], *, pending: bool) -> CanonicalTelemetry:
    conversions = [_conversion(c.name, c.unit, unit) for c, unit in zip(batch.channels, units, strict=True)]
    channels = tuple((c.name, unit) for c, unit in zip(batch.channels, units, strict=True))
    if all(a.scale == 1.0 and a.offset == 0.0 for a in conversions):
        return CanonicalTelemetry(kind, channels, batch.readings, pending)
    readings = tuple(Reading(r.seq, r.ts, _convert(r.values, conversions)) for r in batch.readings)
    return CanonicalTelemetry(kind, channels, readings, pending)


def _conversion(channel: str, unit: str, target: str) -> Affine:
    """From `unit` to `target`: the identity for the same symbol (also one `contract.units` does not know)."""
    if unit == target:
        return _IDENTITY
    try:
        return conversion(unit, target)
    except UnitError as exc:
        if canonical_unit_of(target) == target:  # a canonical unit: the message lists what it accepts
            raise UnitError(f"channel {channel}: {exc}") from None
        raise UnitError(f"channel {channel}: unit {unit!r} is not {target!r}, and {target!r} has no conversions"
                        f" (only {target!r} itself is accepted)") from None


def _convert(values: tuple[float | None, ...], conversions: list[Affine]) -> tuple[float | None, ...]:
    return tuple(None if v is None else a.apply(v) for v, a in zip(values, conversions, strict=True))
