"""Device profiles: what each kind of asset reports. Built in (pump, turbofan), registered by a tenant, or pending.

A profile names a kind's channels with their canonical unit and label (`contract.channels.
AssetProfile`). The built-in ones come from `contract.channels`, are every tenant's, and
cannot be replaced; any other kind is registered by a tenant (API or CLI) and is then
immutable. An asset whose kind has no profile yet is *pending*: the ingest stores its
readings as sent (units converted where `contract.units` knows them) so nothing is lost,
and a planner sees the kind, its devices and the channels they send, to register it.

Registering a profile must not mix units in a channel: if a pending device of that kind
already has readings of a channel stored in another unit than the profile declares, the
profile is refused (`ConflictError`) with the unit to declare instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.errors import ConflictError, InvalidProfileError
from cloud.store.profile_tables import DESCRIPTION_LEN, DeviceProfileRow
from cloud.store.scope import Scope
from cloud.store.tables import AssetRow
from contract.channels import BUILTIN, AssetProfile, Channel
from contract.fields import ID_PATTERN, UNIT_PATTERN

MAX_CHANNELS = 64  # as many as a telemetry batch may carry
LABEL_LEN = 200
# The ingest looks a profile up per telemetry message: one lookup per (tenant, kind) per session is enough,
# since a registered profile never changes (a profile registered meanwhile is seen by the next batch).
_CACHE = "paas.device_profiles"


class ProfileSource(StrEnum):
    BUILTIN = "builtin"  # ships with the platform (contract.channels), every tenant's
    REGISTERED = "registered"  # registered by the tenant
    PENDING = "pending"  # seen on the tenant's assets, not registered: readings kept as sent


@dataclass(frozen=True)
class DeviceProfile:
    """A profile as listed: its kind and channels, where it comes from, and how many of the scope's assets have it."""

    profile: AssetProfile
    source: ProfileSource
    tenant: str | None  # None: built in, every tenant's
    devices: int = 0
    created_at: float | None = None
    created_by: str | None = None


def find_profile(session: Session, tenant: str, kind: str) -> AssetProfile | None:
    """The profile of `kind` for assets of `tenant` (built in or registered), or None: the kind is pending."""
    builtin = BUILTIN.get(kind)
    if builtin is not None:
        return builtin
    cache: dict[tuple[str, str], AssetProfile | None] = session.info.setdefault(_CACHE, {})
    if (tenant, kind) not in cache:
        row = session.get(DeviceProfileRow, (tenant, kind))
        cache[tenant, kind] = None if row is None else profile_of(row)
    return cache[tenant, kind]


def asset_profile(session: Session, asset: AssetRow) -> tuple[AssetProfile | None, ProfileSource]:
    """The asset's profile and where it comes from; (None, pending) while its kind has none or is not known."""
    profile = find_profile(session, asset.tenant, asset.asset_kind) if asset.asset_kind else None
    if profile is None:
        return None, ProfileSource.PENDING
    return profile, ProfileSource.BUILTIN if asset.asset_kind in BUILTIN else ProfileSource.REGISTERED


def tenant_profiles(session: Session, tenant: str) -> list[AssetProfile]:
    """Every profile an asset of `tenant` may have: the built-in ones, then the tenant's own."""
    rows = session.scalars(sa.select(DeviceProfileRow).where(DeviceProfileRow.tenant == tenant)).all()
    return [*BUILTIN.values(), *(profile_of(row) for row in rows)]


def source_of(asset: AssetRow, registered: set[tuple[str, str]]) -> ProfileSource:
    """Where the asset's profile comes from; `registered` is `registered_kinds` of a scope that holds it."""
    if asset.asset_kind in BUILTIN:
        return ProfileSource.BUILTIN
    if (asset.tenant, asset.asset_kind) in registered:
        return ProfileSource.REGISTERED
    return ProfileSource.PENDING


def registered_kinds(session: Session, scope: Scope) -> set[tuple[str, str]]:
    """(tenant, kind) of every profile registered within `scope`."""
    rows = DeviceProfileRow
    query = sa.select(rows.tenant, rows.kind).where(scope.tenant_clause(rows.tenant))
    return {(tenant, kind) for tenant, kind in session.execute(query).all()}


def create_profile(session: Session, tenant: str, profile: AssetProfile, created_by: str,
                   now: float) -> DeviceProfileRow:
    """Register `profile` for `tenant`: `InvalidProfileError` if malformed, `ConflictError` if the kind has one
    (built in or registered) or its pending devices stored a channel in another unit."""
    problems = profile_problems(profile)
    if problems:
        raise InvalidProfileError(f"profile {profile.kind[:64]!r}: " + "; ".join(problems))
    if profile.kind in BUILTIN:
        raise ConflictError(f"{profile.kind!r} is a built-in profile (the same for every tenant); it cannot be "
                            "replaced: register your assets under another kind")
    if session.get(DeviceProfileRow, (tenant, profile.kind)) is not None:
        raise ConflictError(f"tenant {tenant!r} already has a profile {profile.kind!r}; a profile cannot be changed "
                            "once readings are stored under it: register another kind")
    conflicts = list(_unit_conflicts(session, tenant, profile))
    if conflicts:
        raise ConflictError(f"devices of kind {profile.kind!r} already have readings stored in other units: "
                            f"{'; '.join(conflicts[:10])}. Declare each of these channels in the unit its readings "
                            "are stored in, so a channel never mixes units")
    row = DeviceProfileRow(
        tenant=tenant, kind=profile.kind, description=profile.description, model_id=profile.model_id,
        channels=[{"name": c.name, "unit": c.unit, "label": c.label} for c in profile.channels],
        created_at=now, created_by=created_by[:200],
    )
    session.add(row)
    session.flush()
    session.info.setdefault(_CACHE, {})[tenant, profile.kind] = profile
    return row


def profile_problems(profile: AssetProfile) -> list[str]:
    """What is wrong with `profile` as written (empty: nothing)."""
    problems = [] if ID_PATTERN.match(profile.kind) else [_ID_RULE.format(what="kind", value=profile.kind[:80])]
    if profile.model_id and not ID_PATTERN.match(profile.model_id):
        problems.append(_ID_RULE.format(what="model_id", value=profile.model_id[:80]))
    if len(profile.description) > DESCRIPTION_LEN or not profile.description.isprintable():
        problems.append(f"description: at most {DESCRIPTION_LEN} printable characters")
    if not 1 <= len(profile.channels) <= MAX_CHANNELS:
        problems.append(f"channels: 1 to {MAX_CHANNELS}, got {len(profile.channels)}")
    names = [c.name for c in profile.channels]
    if len(set(names)) != len(names):
        problems.append("channels: a name appears twice")
    problems += [problem for channel in profile.channels for problem in _channel_problems(channel)]
    return problems


_ID_RULE = "{what} {value!r}: 1-64 of A-Z a-z 0-9 _ . - (starting alphanumeric)"


def _channel_problems(channel: Channel) -> Iterable[str]:
    if not ID_PATTERN.match(channel.name):
        yield _ID_RULE.format(what="channel", value=channel.name[:80])
    if not UNIT_PATTERN.match(channel.unit):
        yield f"channel {channel.name[:64]!r}: unit {channel.unit[:40]!r} must be 1-16 of A-Z a-z 0-9 / % . _ -"
    if len(channel.label) > LABEL_LEN or not channel.label.isprintable():
        yield f"channel {channel.name[:64]!r}: a label is at most {LABEL_LEN} printable characters"


def _unit_conflicts(session: Session, tenant: str, profile: AssetProfile) -> Iterable[str]:
    declared = {c.name: c.unit for c in profile.channels}
    assets = session.scalars(
        sa.select(AssetRow).where(AssetRow.tenant == tenant, AssetRow.asset_kind == profile.kind)
        .order_by(AssetRow.device_id)
    )
    for asset in assets:
        for channel in asset.channels:
            unit = declared.get(channel["name"])
            if unit is not None and unit != channel["unit"]:
                yield f"{asset.device_id} stored {channel['name']} in {channel['unit']!r}, not {unit!r}"


def list_profiles(session: Session, scope: Scope) -> list[DeviceProfile]:
    """The built-in profiles, those registered within `scope`, then the kinds its assets have without one."""
    counts = _assets_per_kind(session, scope)
    listed = [DeviceProfile(p, ProfileSource.BUILTIN, None, sum(n for (_, k), n in counts.items() if k == p.kind))
              for p in BUILTIN.values()]
    rows = session.scalars(sa.select(DeviceProfileRow).where(scope.tenant_clause(DeviceProfileRow.tenant))
                           .order_by(DeviceProfileRow.tenant, DeviceProfileRow.kind)).all()
    listed += [DeviceProfile(profile_of(row), ProfileSource.REGISTERED, row.tenant,
                             counts.get((row.tenant, row.kind), 0), row.created_at, row.created_by) for row in rows]
    return listed + _pending(session, scope)


def _assets_per_kind(session: Session, scope: Scope) -> dict[tuple[str, str], int]:
    query = (sa.select(AssetRow.tenant, AssetRow.asset_kind, sa.func.count()).where(scope.asset_clause())
             .group_by(AssetRow.tenant, AssetRow.asset_kind))
    return {(tenant, kind): int(count) for tenant, kind, count in session.execute(query).all()}


def _pending(session: Session, scope: Scope) -> list[DeviceProfile]:
    """A kind per (tenant, kind) the scope's assets report without a profile, with every channel they sent."""
    registered = sa.and_(DeviceProfileRow.tenant == AssetRow.tenant, DeviceProfileRow.kind == AssetRow.asset_kind)
    assets = session.scalars(
        sa.select(AssetRow).outerjoin(DeviceProfileRow, registered)
        .where(scope.asset_clause(), DeviceProfileRow.kind.is_(None), AssetRow.asset_kind != "",
               AssetRow.asset_kind.not_in(list(BUILTIN)))
        .order_by(AssetRow.tenant, AssetRow.asset_kind, AssetRow.device_id)
    ).all()
    units: dict[tuple[str, str], dict[str, str]] = {}
    devices: Counter[tuple[str, str]] = Counter()
    for asset in assets:
        key = (asset.tenant, asset.asset_kind)
        devices[key] += 1
        for channel in asset.channels:
            units.setdefault(key, {}).setdefault(channel["name"], channel["unit"])
    listed = []
    for (tenant, kind), count in devices.items():
        channels = tuple(Channel(name, unit, "") for name, unit in units.get((tenant, kind), {}).items())
        listed.append(DeviceProfile(AssetProfile(kind, channels), ProfileSource.PENDING, tenant, count))
    return listed


def registered(session: Session, row: DeviceProfileRow) -> DeviceProfile:
    """A registered profile as listed, with its tenant's assets of that kind counted."""
    devices = session.scalar(sa.select(sa.func.count()).select_from(AssetRow)
                             .where(AssetRow.tenant == row.tenant, AssetRow.asset_kind == row.kind))
    return DeviceProfile(profile_of(row), ProfileSource.REGISTERED, row.tenant, int(devices or 0), row.created_at,
                         row.created_by)


def audited_fields(row: DeviceProfileRow) -> dict[str, object]:
    """What the audit trail records of a registered profile."""
    return {"kind": row.kind, "description": row.description, "model_id": row.model_id,
            "channels": [dict(c) for c in row.channels]}


def profile_of(row: DeviceProfileRow) -> AssetProfile:
    channels = tuple(Channel(c["name"], c["unit"], c.get("label", "")) for c in row.channels)
    return AssetProfile(row.kind, channels, row.description, row.model_id)
