"""Wire timestamps: UTC epoch seconds in memory, ISO-8601 with a `Z` on the wire."""

from __future__ import annotations

from datetime import UTC, datetime

from contract.errors import ProtocolError


def format_ts(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_ts(text: object, where: str = "ts") -> float:
    if not isinstance(text, str) or len(text) > 40:
        raise ProtocolError(f"{where}: expected an ISO-8601 UTC timestamp string")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ProtocolError(f"{where}: {text!r} is not an ISO-8601 timestamp") from None
    if parsed.utcoffset() is None or parsed.utcoffset().total_seconds() != 0:  # type: ignore[union-attr]
        raise ProtocolError(f"{where}: {text!r} is not in UTC (end it with Z)")
    return parsed.timestamp()
