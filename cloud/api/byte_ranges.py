"""HTTP Range requests (RFC 9110 §14) for immutable downloads: one range per request.

A device on a weak link resumes an interrupted artifact download with
`Range: bytes=<received>-` and `If-Range: "<sha256>"`. Several ranges in one request
are answered with the whole body (allowed by the RFC, and nothing here needs them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SINGLE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class UnsatisfiableRangeError(ValueError):
    """The range lies outside the body (answer 416 with `Content-Range: bytes */size`)."""


@dataclass(frozen=True)
class ByteRange:
    """Inclusive first and last byte positions."""

    first: int
    last: int

    def content_range(self, size: int) -> str:
        return f"bytes {self.first}-{self.last}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single range `header` asks for within `size` bytes; `None` means send the whole body."""
    if header is None:
        return None
    match = _SINGLE.match(header)
    if match is None:
        return None  # several ranges, or a unit other than bytes: ignored, as the RFC allows
    start, end = match.group(1), match.group(2)
    if not start and not end:
        return None
    if not start:  # a suffix: the last N bytes
        suffix = int(end)
        if suffix == 0 or size == 0:
            raise UnsatisfiableRangeError(header)
        return ByteRange(max(size - suffix, 0), size - 1)
    first = int(start)
    last = size - 1 if not end else min(int(end), size - 1)
    if first >= size or (end and int(end) < first):
        raise UnsatisfiableRangeError(header)
    return ByteRange(first, last)


def if_range_matches(if_range: str | None, etag: str) -> bool:
    """Whether a Range may be honoured: no If-Range, or one naming the current entity tag."""
    return if_range is None or if_range.strip() == etag
