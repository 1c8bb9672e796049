"""Artifact links as people may see them: the secret part of a URL hidden.

The cloud sends a signed, expiring link (`…/artifact?token=<JWT>`): whoever holds the
token may download the artifact and the signing key until it expires. So a link is
kept whole only in the device's own state directory (a restart resumes the download)
and on the wire to the server; every log line, error message and reported status
shows `redact_url(url)` instead. Rather than guess which query parameters are
harmless, the whole query (and any fragment or user info) is hidden: the scheme,
host and path are what an operator needs to tell one artifact from another.

A link the server refuses (401, 403: expired, revoked, or not for this artifact) is
final: asking again cannot help, only a new desired state (with a new link) can. Its
`UpdateError` has the reason `link_refused`, for the downloader and the signing-key
fetch alike, since one token authorises both.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from edge.errors import UpdateError

HIDDEN = "…"
LINK_REFUSED = "link_refused"  # the `failed:<reason>` the cloud sees
REFUSED_HTTP = frozenset({401, 403})
_MIN_SECRET_CHARS = 6  # shorter query values ("1", "v2") are not worth hiding inside free text, and too common


def redact_url(url: str) -> str:
    """`url` without its secrets: `https://host/path?…` when it has a query; user info and fragment hidden too."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a malformed IPv6 host: nothing in it can be trusted to be harmless
        return f"<unparsable URL{HIDDEN}>"
    userinfo, at, host = parts.netloc.rpartition("@")
    shown = f"{parts.scheme}://{HIDDEN if userinfo else ''}{at}{host}{parts.path}" if parts.scheme else parts.path
    if parts.query or "?" in url:
        shown += f"?{HIDDEN}"
    if parts.fragment:
        shown += f"#{HIDDEN}"
    return shown


def scrub(text: str, url: str) -> str:
    """`text` (an exception's message, a server's reason phrase) with every secret of `url` hidden.

    Exceptions of urllib and http.client may quote the URL or only its path and query
    (`InvalidURL`), so the URL itself, then its query, fragment, user info and each long
    enough query value (raw and decoded) are replaced.
    """
    text = text.replace(url, redact_url(url))
    for secret in sorted(_secrets(url), key=len, reverse=True):
        if len(secret) >= _MIN_SECRET_CHARS:
            text = text.replace(secret, HIDDEN)
    return text


def _secrets(url: str) -> list[str]:
    head, _, rest = url.partition("?")  # by hand: urlsplit refuses some URLs whose secrets must still go
    query, _, fragment = rest.partition("#")
    if not rest:
        head, _, fragment = head.partition("#")
    userinfo = head.partition("://")[2].partition("/")[0].rpartition("@")[0]
    raw_values = [pair.partition("=")[2] for pair in query.split("&")]
    return [query, fragment, userinfo, *raw_values, *(v for _k, v in parse_qsl(query, keep_blank_values=True))]


def link_refused(code: int, fetching: str = "the artifact") -> UpdateError:
    """The final error of a link the server refused: no token in it, and what the operator must do."""
    return UpdateError(LINK_REFUSED, f"the artifact link was refused when fetching {fetching} "
                       f"(HTTP {code}: expired or revoked); the cloud must send a new desired state")
