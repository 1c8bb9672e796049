"""`sysfs:ITEM[,ITEM…]`: numeric files as channels, e.g. Linux's hwmon and thermal zones.

Each ITEM is `[NAME[:UNIT][*SCALE]=]PATH`: the file holds one number (as every
sysfs attribute does), multiplied by SCALE (default 1) to get UNIT (default `1`).
Without NAME the channel is named after the file and its directory
(`/sys/class/thermal/thermal_zone0/temp` -> `thermal_zone0_temp`). Example, the
SoC temperature of a Raspberry Pi in degrees Celsius (the kernel writes m°C):

    --sensor 'sysfs:soc_temp:degC*0.001=/sys/class/thermal/thermal_zone0/temp'

Every file is read at start, so a wrong path is refused at once (`SensorError`);
later, a file that cannot be read or parsed gives a missing value for its channel,
and only when no file can be read is the whole sample a `SensorError`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from contract.channels import Channel
from edge.errors import ConfigError, SensorError
from edge.sensors.spec import CUSTOM_KIND

_ITEM = re.compile(r"^(?:(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]{0,63})(?::(?P<unit>[A-Za-z0-9/%._-]{1,16}))?"
                   r"(?:\*(?P<scale>[-+0-9.eE]+))?=)?(?P<path>/.+)$")


@dataclass(frozen=True)
class SysfsItem:
    name: str
    unit: str
    scale: float
    path: Path


def parse_sysfs(argument: str) -> tuple[SysfsItem, ...]:
    """The items of `sysfs:…`; `ConfigError` saying which item is malformed."""
    items: list[SysfsItem] = []
    for text in argument.split(","):
        match = _ITEM.match(text.strip())
        if match is None:
            raise ConfigError(f"sysfs item {text.strip()!r} is not [NAME[:UNIT][*SCALE]=]/ABSOLUTE/PATH")
        path = Path(match["path"])
        try:
            scale = float(match["scale"] or 1.0)
        except ValueError:
            raise ConfigError(f"sysfs item {text.strip()!r}: scale {match['scale']!r} is not a number") from None
        name = match["name"] or re.sub(r"[^A-Za-z0-9_.-]", "_", f"{path.parent.name}_{path.name}").strip("_.-")
        items.append(SysfsItem(name[:64] or "value", match["unit"] or "1", scale, path))
    if len({i.name for i in items}) != len(items):
        raise ConfigError(f"sysfs:{argument}: two items have the same channel name; name them NAME=PATH")
    return tuple(items)


class SysfsSensor:
    """Reads one number from each file per sample."""

    def __init__(self, items: tuple[SysfsItem, ...]) -> None:
        self._items = items
        for item in items:
            if self._read_one(item) is None:
                raise SensorError(f"sysfs: {item.path} cannot be read as a number (check the path and permissions)")

    @classmethod
    def open(cls, argument: str) -> SysfsSensor:
        return cls(parse_sysfs(argument))

    @property
    def asset_kind(self) -> str:
        return CUSTOM_KIND

    @property
    def channels(self) -> tuple[Channel, ...]:
        return tuple(Channel(i.name, i.unit, str(i.path)) for i in self._items)

    def read(self) -> tuple[float | None, ...]:
        values = tuple(self._read_one(item) for item in self._items)
        if all(v is None for v in values):
            raise SensorError(f"sysfs: none of {', '.join(str(i.path) for i in self._items)} could be read")
        return values

    def close(self) -> None:
        """Nothing to release: each file is opened per read."""

    @staticmethod
    def _read_one(item: SysfsItem) -> float | None:
        try:
            value = float(item.path.read_text().split()[0]) * item.scale
        except (OSError, ValueError, IndexError):
            return None
        return value if math.isfinite(value) else None
