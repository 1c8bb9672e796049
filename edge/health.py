"""The agent's health, as the heartbeat reports it in DeviceState.health (retained on the state topic).

Besides the outbox counters (`queue_depth` counts every row kept, `unconfirmed_depth`
those the broker acknowledged and the cloud has not confirmed yet; `readings_acked`
is broker-acknowledged, `readings_confirmed` stored in the cloud): `cpu_pct` (% of
one core used by the whole process, all threads, since the previous heartbeat, from
`os.times()`), `rss_mb` (resident memory now, /proc), `disk_free_mb` (free space of
the state directory's file system, what the outbox can still grow into), `queue_mb`
(the outbox's pages in use, what the disk budget counts), `model_version` and
`sample_rate_hz` (the rate the sampler runs at now: the settings', the cloud's
desired one, or a replay's own pace).

`clock_offset_s` is the agent's clock minus the cloud's. MQTT 3.1.1 has no time
service, so it is only known from a timestamped message of the cloud: it is the
agent's time when the last command arrived minus that command's `ts`, which also
includes the one-way delivery delay (an upper bound of the true offset, close to
it on a healthy link). Before any command arrived it is omitted, not reported as 0.
"""

from __future__ import annotations

import os
import resource
from dataclasses import asdict, dataclass
from pathlib import Path

from contract.clock import Clock
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
    cpu_pct: float = 0.0
    disk_free_mb: float = 0.0
    queue_mb: float = 0.0
    clock_offset_s: float | None = None
    sample_rate_hz: float | None = None
    unconfirmed_depth: int = 0
    readings_confirmed: int = 0
    events_confirmed: int = 0

    def as_dict(self) -> dict[str, float | int | str]:
        return {k: v for k, v in asdict(self).items() if v is not None and not isinstance(v, bool)}


class CpuMeter:
    """The process's CPU use between two calls of `percent()`, in % of one core."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._wall, self._cpu = clock.monotonic(), cpu_seconds()

    def percent(self) -> float:
        wall, cpu = self._clock.monotonic(), cpu_seconds()
        elapsed, used = wall - self._wall, cpu - self._cpu
        self._wall, self._cpu = wall, cpu
        return round(100.0 * used / elapsed, 2) if elapsed > 0 else 0.0


def snapshot(
    stats: QueueStats, *, model_version: str, uptime_s: float, reconnects: int, sensor_errors: int,
    cpu_pct: float = 0.0, state_dir: Path | None = None, clock_offset_s: float | None = None,
    sample_rate_hz: float | None = None,
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
        cpu_pct=cpu_pct,
        disk_free_mb=round(disk_free_bytes(state_dir) / 2**20, 1) if state_dir is not None else 0.0,
        queue_mb=round(stats.used_bytes / 2**20, 3),
        clock_offset_s=None if clock_offset_s is None else round(clock_offset_s, 3),
        sample_rate_hz=None if sample_rate_hz is None else round(sample_rate_hz, 6),
        unconfirmed_depth=stats.unconfirmed_depth,
        readings_confirmed=stats.readings_confirmed,
        events_confirmed=stats.events_confirmed,
    )


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (all threads)."""
    times = os.times()
    return times.user + times.system


def disk_free_bytes(path: Path) -> int:
    """Bytes an unprivileged process may still write on `path`'s file system (0 if unknown)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize


def rss_bytes() -> int:
    """Resident memory now (/proc on Linux); elsewhere the peak, which getrusage offers."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        # ru_maxrss is KiB on Linux, bytes on macOS; this fallback only runs off Linux.
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
