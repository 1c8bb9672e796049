"""Faults of one sensor rather than of the machine: a reading that freezes, or one that drifts away."""

from __future__ import annotations

from collections.abc import Mapping

from contract.channels import Channel
from firmware_sim.faults import SENSOR_FAULTS, FaultKind, FaultSpec


class SensorFault:
    """Applies a `sensor_stuck` or `sensor_drift` spec to one channel of each sample."""

    def __init__(
        self, spec: FaultSpec, channels: tuple[Channel, ...], default_channel: str, drift_span: Mapping[str, float]
    ) -> None:
        if spec.kind not in SENSOR_FAULTS:
            raise ValueError(f"{spec.kind.value} is not a sensor fault")
        names = [c.name for c in channels]
        self.channel = spec.channel or default_channel
        if self.channel not in names:
            raise ValueError(f"fault {spec} names channel {self.channel!r}; this device has {', '.join(names)}")
        self.spec = spec
        self.index = names.index(self.channel)
        self._span = drift_span[self.channel]
        self._frozen: float | None = None

    def apply(self, sample: list[float], elapsed_s: float) -> None:
        """Corrupt `sample` (in place) as the faulty sensor would report it at `elapsed_s`."""
        if elapsed_s < self.spec.onset_s or self.spec.severity <= 0:
            return
        if self.spec.kind is FaultKind.SENSOR_STUCK:
            # A frozen sensor repeats the last value it read before it died.
            if self._frozen is None:
                self._frozen = sample[self.index]
            sample[self.index] = self._frozen
        else:
            sample[self.index] += self.spec.level(elapsed_s) * self._span
