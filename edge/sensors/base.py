"""What the agent needs from a sensor source, real or simulated."""

from __future__ import annotations

from typing import Protocol

from contract.channels import Channel


class SensorSource(Protocol):
    """One asset's sensors: each `read()` returns one sample of every channel, in `channels` order.

    A value that could not be read is `None` (the window carries the last one forward and
    the wire sends `null`); a source that cannot be read at all raises `SensorError`.
    """

    @property
    def asset_kind(self) -> str: ...

    @property
    def channels(self) -> tuple[Channel, ...]: ...

    def read(self) -> tuple[float | None, ...]: ...
