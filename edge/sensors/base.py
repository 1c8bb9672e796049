"""What the agent needs from a sensor source, real or simulated."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

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

    def close(self) -> None:
        """Release what the source holds (a file); the agent calls it once, at stop."""
        ...


@runtime_checkable
class PacedSource(SensorSource, Protocol):
    """A source with its own pace (a recording replayed): the agent samples it every `period_s`."""

    @property
    def period_s(self) -> float: ...


@runtime_checkable
class SteppedSource(SensorSource, Protocol):
    """A source that simulates time, `1 / rate_hz` per read: it must follow a rate the agent changes at run time."""

    def set_rate(self, rate_hz: float) -> None: ...
