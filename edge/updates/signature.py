"""Ed25519 signature verification with libsodium (PyNaCl): the one place the agent checks a signature.

A maintained library rather than our own arithmetic: libsodium refuses what a careful
verifier must (a public key of small order, for which anyone can make a signature that
verifies; a non-canonical S ≥ L, which would make signatures malleable; a non-canonical
encoding of R or of the key) and is tested far beyond what we could test. The Wycheproof
vectors (`tests/edge/test_edge_updates_signature.py`) pin that behaviour.
"""

from __future__ import annotations

import nacl.exceptions
import nacl.signing

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether `signature` is the key's Ed25519 signature of `message`; malformed inputs are refused, never raised."""
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError, TypeError):
        return False
    return True
