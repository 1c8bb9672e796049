"""Where things are: a WGS84 location, checked once, and an asset's site (where its technician goes)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy.orm import Session

from cloud.errors import InvalidFieldDataError
from cloud.store.assets import get_asset
from cloud.store.scope import Scope
from cloud.store.tables import AssetRow


@dataclass(frozen=True)
class Place:
    """A named point: latitude -90..90 and longitude -180..180 degrees."""

    lat: float
    lon: float
    name: str = ""

    def __post_init__(self) -> None:
        check_location(self.lat, self.lon)


def check_location(lat: float, lon: float) -> None:
    """`InvalidFieldDataError` unless (lat, lon) is a point on Earth in degrees."""
    if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
        raise InvalidFieldDataError(f"latitude {lat} is not between -90 and 90 degrees")
    if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
        raise InvalidFieldDataError(f"longitude {lon} is not between -180 and 180 degrees")


def set_site(session: Session, scope: Scope, device_id: str, site: Place) -> tuple[AssetRow, dict[str, object]]:
    """Place the asset at `site`; the asset and its site as it was before (for the audit trail)."""
    asset = get_asset(session, device_id, scope)
    before = site_fields(asset)
    asset.site_name, asset.site_lat, asset.site_lon = site.name, site.lat, site.lon
    return asset, before


def site_of(asset: AssetRow) -> Place | None:
    """The asset's site, or None where it has none yet (it cannot be dispatched then)."""
    if asset.site_lat is None or asset.site_lon is None:
        return None
    return Place(asset.site_lat, asset.site_lon, asset.site_name or "")


def site_fields(asset: AssetRow) -> dict[str, object]:
    return {"name": asset.site_name, "lat": asset.site_lat, "lon": asset.site_lon}
