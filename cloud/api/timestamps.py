"""Times at the API boundary: ISO-8601 in and out, UTC epoch seconds inside."""

from __future__ import annotations

from datetime import UTC, datetime

from contract.clock import utc


def epoch(moment: datetime) -> float:
    """Seconds since the epoch; a time without a zone is taken as UTC."""
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()


def optional_utc(ts: float | None) -> datetime | None:
    return None if ts is None else utc(ts)


__all__ = ["epoch", "optional_utc", "utc"]
