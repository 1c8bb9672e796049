"""The cloud's manifest-signing public key the agent trusts, by one rule.

1. `--signing-key-file` (PAAS_EDGE_SIGNING_KEY_FILE) given: that key, pinned. The
   provisioning bundle carries it (`signing-key.pem`), so no network answer can replace
   it. The file holds the PEM public key, the raw key in base64, or the JSON that
   `GET /api/v1/models/signing-key` returns.
2. Else a key stored by an earlier trust on first use (`STATE_DIR/updates/signing-key.json`):
   trusted like a pinned one (the device already bet on it; refusing it now would strand
   devices in the field). Delete the file to stop trusting it.
3. Else, only with `--signing-key-tofu` (PAAS_EDGE_SIGNING_KEY_TOFU; development and the
   demo): the first model update fetches the key from the artifact URL's origin, with the
   artifact URL's query (the signed link's `token`: the cloud answers 401 without it), and
   stores it for rule 2. Whoever is on the path at that first update chooses the key, and
   the fetch runs while the command is handled (at most `FETCH_TIMEOUT_S`): development only.
4. Else no key: every `set_desired_state` is refused (`failed:no_signing_key`). An agent
   that cannot verify accepts nothing, rather than anything.

A key rotation in the cloud needs the new key provisioned (or the stored file removed), on purpose.
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
from edge.updates.links import REFUSED_HTTP, link_refused, redact_url, scrub
from edge.updates.signature import PUBLIC_KEY_BYTES

SIGNING_KEY_PATH = "/api/v1/models/signing-key"
STORED_NAME = "signing-key.json"
KEY_ID_HEX_CHARS = 16  # as cloud.registry.signing names keys
FETCH_TIMEOUT_S = 5.0
# DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the raw key follows it.
_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


@dataclass(frozen=True)
class TrustedKey:
    raw: bytes
    source: str  # "pinned", "stored" (trusted on an earlier first use) or "tofu" (fetched just now)

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()[:KEY_ID_HEX_CHARS]


def local_key(pinned_file: Path | None, updates_dir: Path) -> TrustedKey | None:
    """The pinned key if a file is configured, else one stored by an earlier trust on first use, else None."""
    if pinned_file is not None:
        try:
            return TrustedKey(parse_public_key(pinned_file.read_text(encoding="utf-8")), "pinned")
        except OSError as exc:
            raise UpdateError("signing_key", f"cannot read the signing key file {pinned_file}: {exc}") from None
    stored = read_json(updates_dir / STORED_NAME)
    if stored is not None:
        return TrustedKey(parse_public_key(json.dumps(stored)), "stored")
    return None


def trusted_key(pinned_file: Path | None, updates_dir: Path, artifact_url: str, tofu: bool,
                timeout_s: float = FETCH_TIMEOUT_S) -> TrustedKey:
    """The key manifests must verify with, by the module's rule; `UpdateError("no_signing_key")` without one."""
    key = local_key(pinned_file, updates_dir)
    if key is not None:
        return key
    if not tofu:
        raise UpdateError("no_signing_key", "this device has no signing key to verify manifests with: provision "
                                            "the cloud's key (--signing-key-file, the bundle's signing-key.pem)")
    if not artifact_url:
        raise UpdateError("no_signing_key", "trust on first use needs a model update first (its link fetches the "
                                            "key); provision the key (--signing-key-file) instead")
    key = TrustedKey(parse_public_key(_fetch(artifact_url, timeout_s)), "tofu")
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
