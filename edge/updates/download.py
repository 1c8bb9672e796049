"""Fetch an artifact over HTTP(S), resuming a partial download, and check its SHA-256.

Bytes go to `DIR/<sha256>.part` and are flushed as they come, so a dropped link or a
reboot loses nothing: the next attempt asks for `Range: bytes=<size>-` and appends
(a server that ignores the range answers 200 and the file starts over). Only a file
whose digest is the expected one is renamed to `DIR/<sha256>.onnx`; a wrong one is
deleted, since resuming it could never succeed. Transient failures (network, 5xx,
408, 429) are retried with full-jitter back-off; other HTTP errors and a file over
the size cap are final. 401 and 403 are final with their own reason, `link_refused`:
the link is signed and expiring, so asking again cannot help; the cloud must send a
new desired state (a new link), and the partial file, named by its digest, is kept
for it. The URL's query holds that link's token, so messages and log lines show it
through `edge.updates.links` only. Waits are real time: sockets are.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from contract.backoff import Backoff
from edge.errors import UpdateError
from edge.updates.atomic_file import sync_dir
from edge.updates.links import REFUSED_HTTP, link_refused, redact_url, scrub

log = logging.getLogger("edge.updates.download")

_RETRIED_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class DownloadPolicy:
    max_bytes: int = 64 * 2**20
    attempts: int = 8
    timeout_s: float = 30.0
    chunk_bytes: int = 64 * 1024


class _RetryableError(Exception):
    """A failure worth another attempt (after the back-off)."""


def fetch_artifact(
    url: str,
    sha256: str,
    directory: Path,
    backoff: Backoff,
    policy: DownloadPolicy = DownloadPolicy(),
    wait: Callable[[float], bool] = lambda _s: False,
) -> Path:
    """`directory/<sha256>.onnx` with the verified bytes of `url`; `wait(s)` sleeps, True means give up now."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise UpdateError("bad_url", f"artifact URL {redact_url(url)!r} is not http(s)")
    final = directory / f"{sha256}.onnx"
    if final.is_file() and file_sha256(final) == sha256:
        return final
    directory.mkdir(parents=True, exist_ok=True)
    part = directory / f"{sha256}.part"
    for attempt in range(1, policy.attempts + 1):
        try:
            _transfer(url, part, policy)
            break
        except _RetryableError as exc:
            if attempt == policy.attempts:
                raise UpdateError("download", f"{redact_url(url)}: {exc} (after {attempt} attempts)") from None
            delay = backoff.next_delay()
            log.warning("event=download_retry attempt=%d delay_s=%.1f error=%r", attempt, delay, str(exc))
            if wait(delay):
                raise UpdateError("download", "the agent is stopping") from None
    backoff.reset()
    if file_sha256(part) != sha256:
        part.unlink()
        raise UpdateError("sha256_mismatch", f"the bytes of {redact_url(url)} do not hash to {sha256}")
    os.replace(part, final)
    sync_dir(directory)
    return final


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while block := data.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _transfer(url: str, part: Path, policy: DownloadPolicy) -> None:
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=policy.timeout_s) as response:
            resumed = have > 0 and response.status == 206
            expected = (have if resumed else 0) + int(response.headers.get("Content-Length") or 0)
            _check_size(expected, part, policy)
            if _copy(response, part, resumed, policy) < expected:
                raise _RetryableError("the connection closed before the whole body arrived")
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and have:
            # The range starts at or past the end: the file is whole (renamed before a crash?) or stale.
            log.info("event=download_range_refused have=%d", have)
            if not _complete_on_416(exc, have):
                part.unlink()
                raise _RetryableError("the partial file was longer than the artifact; starting over") from None
            return
        if exc.code in _RETRIED_HTTP:
            raise _RetryableError(f"HTTP {exc.code}") from None
        if exc.code in REFUSED_HTTP:
            raise link_refused(exc.code) from None
        raise UpdateError("download", f"{redact_url(url)}: HTTP {exc.code} {scrub(str(exc.reason), url)}") from None
    except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets, truncated bodies
        raise _RetryableError(scrub(f"{type(exc).__name__}: {exc}", url)) from None


def _complete_on_416(exc: urllib.error.HTTPError, have: int) -> bool:
    total = (exc.headers.get("Content-Range") or "").rpartition("/")[2]
    return total.isdigit() and int(total) == have


def _copy(response: http.client.HTTPResponse, part: Path, resumed: bool, policy: DownloadPolicy) -> int:
    """Append (or write) the body to `part`; the file's size after it."""
    with part.open("ab" if resumed else "wb") as out:
        size = out.tell()
        while chunk := response.read(policy.chunk_bytes):
            size += len(chunk)
            _check_size(size, part, policy)
            out.write(chunk)
            out.flush()  # what arrived survives a dropped link; fsync once at the end
        os.fsync(out.fileno())
    return size


def _check_size(size: int, part: Path, policy: DownloadPolicy) -> None:
    if size > policy.max_bytes:
        part.unlink(missing_ok=True)
        raise UpdateError("too_large", f"the artifact exceeds the {policy.max_bytes}-byte cap")
