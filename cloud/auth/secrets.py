"""Random secrets the service hands out once (API keys, refresh tokens, generated passwords) and how it keeps them.

Only `digest()` of a handed-out secret is stored. They carry 256 bits, so SHA-256 without
salt or stretching is enough (no dictionary reaches them) and a lookup is one index probe.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

API_KEY_PREFIX = "paas_"
KEY_ID_HEX = 12


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same_digest(secret: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(secret), stored_digest)


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def new_api_key() -> tuple[str, str, str]:
    """(key_id, secret, the whole key `paas_<key_id>_<secret>` handed out once)."""
    key_id, secret = secrets.token_hex(KEY_ID_HEX // 2), new_token()
    return key_id, secret, f"{API_KEY_PREFIX}{key_id}_{secret}"


def split_api_key(key: str) -> tuple[str, str] | None:
    """(key_id, secret) of a well-formed API key, else None."""
    if not key.startswith(API_KEY_PREFIX):
        return None
    key_id, sep, secret = key[len(API_KEY_PREFIX):].partition("_")
    if not sep or len(key_id) != KEY_ID_HEX or not secret:
        return None
    return key_id, secret


def new_password() -> str:
    """A generated password for an account made without one (shown once)."""
    return secrets.token_urlsafe(18)
