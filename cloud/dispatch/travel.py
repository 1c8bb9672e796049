"""Travel time between two places: an interface, and the great-circle estimate behind it.

The solver only asks `TravelTime.seconds(a, b)`; a road-network service (OSRM, a routing API)
can replace `GreatCircle` without touching the solver.
"""

from __future__ import annotations

import math
from typing import Protocol

from cloud.dispatch.problem import Location

EARTH_RADIUS_KM = 6371.0088  # the mean radius (IUGG)


class TravelTime(Protocol):
    """How long a technician needs from `a` to `b`, in seconds."""

    def seconds(self, a: Location, b: Location) -> float:
        """Travel time from `a` to `b` in seconds (0 for the same place)."""
        ...


def great_circle_km(a: Location, b: Location) -> float:
    """The haversine distance between two points, in kilometres (as the crow flies)."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


class GreatCircle:
    """Great-circle distance times a detour factor (roads are not straight), at an average speed."""

    def __init__(self, speed_kmh: float = 50.0, detour: float = 1.3) -> None:
        if speed_kmh <= 0 or detour < 1.0:
            raise ValueError("speed_kmh must be > 0 and detour >= 1")
        self.speed_kmh = speed_kmh
        self.detour = detour

    def seconds(self, a: Location, b: Location) -> float:
        return great_circle_km(a, b) * self.detour / self.speed_kmh * 3600.0
