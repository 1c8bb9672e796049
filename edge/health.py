"""The agent's health, as the heartbeat reports it in DeviceState.health (retained on the state topic)."""

from __future__ import annotations

import os
import resource
from dataclasses import asdict, dataclass

from edge.queue import QueueStats


@dataclass(frozen=True)
class Health:
    """One snapshot; names match docs/protocol.md's example health object."""

    queue_depth: int
    oldest_unsent_s: float
    readings_sampled: int
    readings_acked: int
    events_sampled: int
    events_acked: int
    dropped: int
    rss_mb: float
    model_version: str
    uptime_s: float
    reconnects: int
    sensor_errors: int

    def as_dict(self) -> dict[str, float | int | str]:
        return {k: v for k, v in asdict(self).items() if not isinstance(v, bool)}


def snapshot(
    stats: QueueStats, *, model_version: str, uptime_s: float, reconnects: int, sensor_errors: int
) -> Health:
    """Health from the queue's stats and the agent's own counters."""
    return Health(
        queue_depth=stats.depth,
        oldest_unsent_s=round(stats.oldest_age_s, 3),
        readings_sampled=stats.readings_sampled,
        readings_acked=stats.readings_acked,
        events_sampled=stats.events_sampled,
        events_acked=stats.events_acked,
        dropped=stats.dropped,
        rss_mb=round(rss_bytes() / 2**20, 1),
        model_version=model_version,
        uptime_s=round(uptime_s, 1),
        reconnects=reconnects,
        sensor_errors=sensor_errors,
    )


def rss_bytes() -> int:
    """Resident memory now (/proc on Linux); elsewhere the peak, which getrusage offers."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        # ru_maxrss is KiB on Linux, bytes on macOS; this fallback only runs off Linux.
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
