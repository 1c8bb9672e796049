"""Per-device limits at ingest: a message-rate and a byte budget per device, so one noisy device cannot slow the fleet.

Each device has two token buckets, refilled from the injected clock: messages per second
and payload bytes per second, each with a burst. A message within both is handled as
usual (stored, or kept as a dead letter if invalid: those count against the budget too);
one beyond either is the device's excess: the ingest keeps it as a dead letter
(`device_rate_limited`) without storing it, and does not confirm it, so an agent re-sends
it once its budget has refilled. The excess costs no tokens, so a flood is held to the
budget's rate however hard it pushes. The defaults (cloud.settings) are well above what an
agent sends, including draining a backlog at its own pace (edge `max_msgs_per_s`, 100/s).

The budget is per device as the topic names it (the broker's ACL makes that the sender);
a topic that names no device shares one bucket. At most `max_devices` buckets are held:
the least recently heard of is forgotten (and starts full again).

The buckets are this process's: with N ingest workers sharing a subscription, the broker
spreads a device's messages over all of them, so its effective budget is up to N times the
settings (docs/reliability.md, "Horizontal ingest").
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass

from contract.clock import Clock

log = logging.getLogger(__name__)

MAX_DEVICES = 100_000
RATE_LIMITED = "device_rate_limited"


@dataclass(frozen=True)
class DeviceBudget:
    """What one device may send: messages and payload bytes per second, and the bursts above that rate."""

    msgs_per_s: float
    msg_burst: float
    bytes_per_s: float
    byte_burst: float


@dataclass
class _Buckets:
    msgs: float
    bytes: float
    at: float
    limited: bool = False  # refusing now: logged once when it starts, not per message


class DeviceLimits:
    """Admits or refuses each message against its device's budget (one thread: the ingest worker's)."""

    def __init__(self, budget: DeviceBudget, clock: Clock, max_devices: int = MAX_DEVICES) -> None:
        self._budget, self._clock, self._max_devices = budget, clock, max_devices
        self._devices: OrderedDict[str, _Buckets] = OrderedDict()

    def refusal(self, topic: str, size: int) -> str | None:
        """None when the message is within its device's budget (its tokens are spent), else why not."""
        budget, now = self._budget, self._clock.monotonic()
        key = device_key(topic)
        buckets = self._devices.pop(key, None) or _Buckets(budget.msg_burst, budget.byte_burst, now)
        self._devices[key] = buckets  # the most recently heard of, last
        if len(self._devices) > self._max_devices:
            self._devices.popitem(last=False)
        elapsed = max(0.0, now - buckets.at)
        buckets.msgs = min(budget.msg_burst, buckets.msgs + elapsed * budget.msgs_per_s)
        buckets.bytes = min(budget.byte_burst, buckets.bytes + elapsed * budget.bytes_per_s)
        buckets.at = now
        why = None
        if buckets.msgs < 1.0:
            why = f"over its budget of {budget.msgs_per_s:g} messages/s (burst {budget.msg_burst:g})"
        elif buckets.bytes < size:
            why = f"over its budget of {budget.bytes_per_s:g} bytes/s (burst {budget.byte_burst:g})"
        if why is not None:
            if not buckets.limited:
                log.warning("device %r is %s: its excess is kept as dead letters (%s)", key, why, RATE_LIMITED)
            buckets.limited = True
            return why
        buckets.limited = False
        buckets.msgs -= 1.0
        buckets.bytes -= size
        return None


def device_key(topic: str) -> str:
    """`tenant/device` of a `paas/v1/{tenant}/{device}/{kind}` topic; "" when the topic names no device."""
    parts = topic.split("/")
    return f"{parts[2]}/{parts[3]}" if len(parts) == 5 else ""
