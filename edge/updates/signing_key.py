"""The cloud's model-signing public key the agent trusts: pinned from a file, or trusted on first use.

Pinned (`--signing-key-file`, PAAS_EDGE_SIGNING_KEY_FILE; recommended in production):
the provisioning bundle ships the key, so no network answer can ever replace it. The
file holds the PEM public key, the raw key in base64, or the JSON that
`GET /api/v1/models/signing-key` returns.

Trust on first use (no file given): the first update fetches that JSON from the
artifact URL's origin, with the artifact URL's query (the signed link's `token`: the
cloud answers 401 without it), and stores it in `STATE_DIR/updates/signing-key.json`;
later updates use the stored key and never fetch again, so an attacker must be on the
path at the very first update, not any later one. A key rotation in the cloud then
needs the device re-provisioned (or the stored file removed), on purpose.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http.client
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from edge.errors import UpdateError
from edge.updates.atomic_file import read_json, write_json
from edge.updates.ed25519 import PUBLIC_KEY_BYTES
from edge.updates.links import REFUSED_HTTP, link_refused, redact_url, scrub

SIGNING_KEY_PATH = "/api/v1/models/signing-key"
STORED_NAME = "signing-key.json"
KEY_ID_HEX_CHARS = 16  # as cloud.registry.signing names keys
# DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the raw key follows it.
_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


@dataclass(frozen=True)
class TrustedKey:
    raw: bytes
    source: str  # "pinned" or "tofu"

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()[:KEY_ID_HEX_CHARS]


def trusted_key(pinned_file: Path | None, updates_dir: Path, artifact_url: str, timeout_s: float = 15.0) -> TrustedKey:
    """The pinned key if a file is configured, else the stored one, else the one fetched now (and stored)."""
    if pinned_file is not None:
        try:
            return TrustedKey(parse_public_key(pinned_file.read_text(encoding="utf-8")), "pinned")
        except OSError as exc:
            raise UpdateError("signing_key", f"cannot read the signing key file {pinned_file}: {exc}") from None
    stored = read_json(updates_dir / STORED_NAME)
    if stored is not None:
        return TrustedKey(parse_public_key(json.dumps(stored)), "tofu")
    text = _fetch(artifact_url, timeout_s)
    key = TrustedKey(parse_public_key(text), "tofu")
    write_json(updates_dir / STORED_NAME, {"algorithm": "Ed25519", "public_key": base64.b64encode(key.raw).decode()})
    return key


def parse_public_key(text: str) -> bytes:
    """The raw 32-byte key from a PEM public key, a base64 raw key, or the signing-key endpoint's JSON."""
    text = text.strip()
    try:
        if text.startswith("{"):
            body = json.loads(text)
            if body.get("algorithm", "Ed25519") != "Ed25519":
                raise UpdateError("signing_key", f"the signing key is {body.get('algorithm')!r}, not Ed25519")
            raw = base64.b64decode(str(body["public_key"]), validate=True)
        elif text.startswith("-----BEGIN PUBLIC KEY-----"):
            der = base64.b64decode("".join(line for line in text.splitlines() if not line.startswith("-----")))
            raw = der[len(_SPKI_PREFIX):] if der.startswith(_SPKI_PREFIX) else b""
        else:
            raw = base64.b64decode(text, validate=True)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise UpdateError("signing_key", "the signing key is not a PEM, base64 or JSON Ed25519 public key") from None
    if len(raw) != PUBLIC_KEY_BYTES:
        raise UpdateError("signing_key", "the signing key is not a 32-byte Ed25519 public key")
    return raw


def signing_key_url(artifact_url: str) -> str:
    """Where the key is fetched: the artifact's origin, and its query (the link's token) when it has one."""
    parts = urlsplit(artifact_url)
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{parts.netloc}{SIGNING_KEY_PATH}{query}"


def _fetch(artifact_url: str, timeout_s: float) -> str:
    url = signing_key_url(artifact_url)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return str(response.read(16_384).decode("utf-8"))
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code in REFUSED_HTTP:
            raise link_refused(exc.code, "the signing key") from None
        detail = f"HTTP {exc.code} {scrub(str(exc.reason), url)}"
    except (OSError, ValueError, http.client.HTTPException) as exc:  # ValueError: also a body not UTF-8
        detail = scrub(f"{type(exc).__name__}: {exc}", url)
    raise UpdateError("signing_key", f"cannot fetch the signing key from {redact_url(url)}: {detail}")
