"""Device profiles: the kinds of asset (built in, registered, pending) and registering a new one."""

from __future__ import annotations

from fastapi import APIRouter, status

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.deps import NowDep, SessionDep
from cloud.api.profile_schemas import ProfileChannel, ProfileCreate, ProfilePublic
from cloud.api.timestamps import optional_utc
from cloud.audit.trail import Change
from cloud.auth.roles import Permission
from cloud.store.profiles import DeviceProfile, audited_fields, create_profile, list_profiles, registered

router = APIRouter(prefix="/profiles", tags=["profiles"])


@router.get("", dependencies=[allow(Permission.PROFILES_READ)])
def read_profiles(session: SessionDep, principal: PrincipalDep) -> list[ProfilePublic]:
    """The built-in profiles, the tenant's, then the kinds its devices report without one (`pending`: register
    one to validate their readings; until then they are stored as sent)."""
    return [profile_public(profile) for profile in list_profiles(session, principal.scope)]


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[allow(Permission.PROFILES_WRITE)],
             responses={409: {"description": "the kind has a profile, or its devices stored a channel in another "
                                             "unit"}, 422: {"description": "a malformed kind, channel or unit"}})
def register_profile(body: ProfileCreate, session: SessionDep, auditor: AuditDep, now: NowDep) -> ProfilePublic:
    """Register a kind of asset: from now on its devices' readings are checked against it and stored in its units."""
    principal = auditor.principal
    tenant = principal.tenant_for(body.tenant)
    row = create_profile(session, tenant, body.to_profile(), principal.label, now)
    auditor.record(Change("create", "device_profile", row.kind, tenant, after=audited_fields(row)))
    session.commit()
    return profile_public(registered(session, row))


def profile_public(listed: DeviceProfile) -> ProfilePublic:
    profile = listed.profile
    return ProfilePublic(
        kind=profile.kind, source=listed.source, tenant=listed.tenant, description=profile.description,
        model_id=profile.model_id,
        channels=[ProfileChannel(name=c.name, unit=c.unit, label=c.label) for c in profile.channels],
        devices=listed.devices, created_at=optional_utc(listed.created_at), created_by=listed.created_by,
    )
