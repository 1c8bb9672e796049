"""`python -m edge status`: what a device's outbox says, read from disk (agent running or not).

`readings_acked` counts readings the broker acknowledged (each once), and
`readings_confirmed` those the cloud confirmed it stored, which left the outbox;
`unconfirmed_depth` is what is kept, sent, and awaiting the cloud's confirmation.
`dropped` counts readings the agent could not keep: telemetry thinned over the disk
budget (`edge.budget`; `dropped_unconfirmed` of them had been acknowledged by the
broker, so they may still have reached the cloud) and readings whose write failed.
`queue_mb` is what the disk budget counts. `install_id` is the outbox's install,
sent with every reading, event and usage report. Counters are lifetime totals of
the state directory, so `readings_sampled == readings_confirmed + reading_depth +
dropped`, except that a reading whose write failed counts in `dropped` without
having been sampled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contract.clock import Clock
from edge.queue import is_locked, read_stats


def status_report(device_id: str, state_dir: Path, *, clock: Clock | None = None) -> dict[str, Any]:
    """One flat JSON-ready object; `QueueError` if the state directory holds no queue."""
    stats = read_stats(state_dir, clock=clock)
    return {
        "device_id": device_id,
        "state_dir": str(state_dir),
        "running": is_locked(state_dir),
        "readings_sampled": stats.readings_sampled,
        "readings_acked": stats.readings_acked,
        "readings_confirmed": stats.readings_confirmed,
        "events_sampled": stats.events_sampled,
        "events_acked": stats.events_acked,
        "events_confirmed": stats.events_confirmed,
        "usage_confirmed": stats.usage_confirmed,
        "queue_depth": stats.depth,
        "reading_depth": stats.reading_depth,
        "event_depth": stats.event_depth,
        "unconfirmed_depth": stats.unconfirmed_depth,
        "oldest_unsent_s": round(stats.oldest_age_s, 3),
        "dropped": stats.dropped,
        "dropped_unconfirmed": stats.dropped_unconfirmed,
        "queue_mb": round(stats.used_bytes / 2**20, 3),
        "last_seq": stats.last_seq,
        "model_id": stats.model_id,
        "model_version": stats.model_version,
        "install_id": stats.install_id,
    }


def format_report(report: dict[str, Any]) -> str:
    """The report for a person: one `name: value` line each, aligned."""
    width = max(len(k) for k in report)
    return "\n".join(f"{key.ljust(width)}  {'-' if value == '' else value}" for key, value in report.items())
