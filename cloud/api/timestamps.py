"""Times at the API boundary: ISO-8601 in and out, UTC epoch seconds inside.

`IsoTime` is what a query or body time accepts: ISO-8601 text only (the schema says
`date-time`; a bare number is refused instead of being read as epoch seconds). Any such
text is accepted, so an instant beyond what a UTC datetime can show (year 1 to 9999) is
clamped to that range rather than failing later, when it is written back out.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BeforeValidator

from contract.clock import utc

FIRST_EPOCH = datetime(1, 1, 1, tzinfo=UTC).timestamp()
LAST_EPOCH = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
_ISO_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _iso_text(value: object) -> object:
    if isinstance(value, datetime):
        return value
    if not (isinstance(value, str) and _ISO_DATE_TIME.match(value)):
        raise ValueError("expected an ISO-8601 date and time, e.g. 2027-01-15T08:00:00Z")
    return value


IsoTime = Annotated[datetime, BeforeValidator(_iso_text)]


def epoch(moment: datetime) -> float:
    """Seconds since the epoch, within what `utc` can show; a time without a zone is taken as UTC."""
    return clamp((moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp())


def clamp(ts: float) -> float:
    """`ts` moved into the range a UTC datetime can show (years 1 to 9999)."""
    return min(max(ts, FIRST_EPOCH), LAST_EPOCH)


def optional_utc(ts: float | None) -> datetime | None:
    return None if ts is None else utc(ts)


__all__ = ["IsoTime", "clamp", "epoch", "optional_utc", "utc"]
