"""Where an asset stands: its site (name and location), which dispatch sends its technician to."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.deps import SessionDep
from cloud.api.field_schemas import SiteIn, SitePublic
from cloud.api.params import DeviceIdPath
from cloud.audit.trail import Change
from cloud.auth.roles import Permission
from cloud.errors import NotFoundError
from cloud.field.sites import Place, set_site, site_fields, site_of
from cloud.store.assets import get_asset
from cloud.store.tables import AssetRow

router = APIRouter(prefix="/assets", tags=["assets"])


@router.get("/{device_id}/site", dependencies=[allow(Permission.ASSETS_READ)], responses={404: {}})
def read_site(device_id: DeviceIdPath, session: SessionDep, principal: PrincipalDep) -> SitePublic:
    """The asset's site; 404 if the asset has none yet."""
    asset = get_asset(session, device_id, principal.scope)
    if site_of(asset) is None:
        raise NotFoundError(f"asset {device_id!r} has no site yet")
    return site_public(asset)


@router.put("/{device_id}/site", dependencies=[allow(Permission.DIRECTORY_WRITE)], responses={404: {}})
def put_site(device_id: DeviceIdPath, body: SiteIn, session: SessionDep, auditor: AuditDep) -> SitePublic:
    """Place the asset at a named site (WGS84 degrees); dispatch plans travel there."""
    asset, before = set_site(session, auditor.principal.scope, device_id, Place(body.lat, body.lon, body.name))
    auditor.record(Change("set_site", "asset", asset.device_id, asset.tenant, before=before,
                          after=site_fields(asset)))
    session.commit()
    return site_public(asset)


def site_public(asset: AssetRow) -> SitePublic:
    return SitePublic(device_id=asset.device_id, name=asset.site_name or "", lat=asset.site_lat or 0.0,
                      lon=asset.site_lon or 0.0)
