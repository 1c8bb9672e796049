"""The cloud's model-signing key: Ed25519 signatures over each artifact's sha256 digest.

What is signed is the raw 32-byte SHA-256 digest of the ONNX bytes (not its hex text).
A device pins the public key (`GET /api/v1/models/signing-key`) once, then accepts an
artifact only if its bytes hash to the digest and the signature verifies, whichever
link or cache the bytes came through.

The private key is a PEM (PKCS#8, unencrypted) file. In development it is created on
first start with mode 0600; in production it is provisioned (`PAAS_SIGNING_KEY_CREATE=false`
makes a missing key an error instead of a silently new identity).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cloud.errors import ConfigError

log = logging.getLogger(__name__)

ALGORITHM: Final = "Ed25519"
KEY_ID_HEX_CHARS = 16


@dataclass(frozen=True)
class PublicKey:
    """The public half, in the forms a device may want to pin."""

    raw: bytes
    pem: str
    key_id: str

    @property
    def raw_base64(self) -> str:
        return base64.b64encode(self.raw).decode()


class Signer:
    """Signs artifact digests with one private key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        public = private_key.public_key()
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public_key = PublicKey(raw, pem.decode(), key_id(raw))

    @classmethod
    def generate(cls) -> Signer:
        """A fresh key that lives in memory only (tests)."""
        return cls(Ed25519PrivateKey.generate())

    def sign(self, sha256_hex: str) -> str:
        """The base64 signature of the digest given as hex."""
        return base64.b64encode(self._key.sign(bytes.fromhex(sha256_hex))).decode()


def key_id(public_raw: bytes) -> str:
    """A short name for a public key: the start of its sha256 (so logs and headers can say which key)."""
    return hashlib.sha256(public_raw).hexdigest()[:KEY_ID_HEX_CHARS]


def verify(public_raw: bytes, sha256_hex: str, signature_b64: str) -> bool:
    """Whether `signature_b64` is the key's signature of the digest (what a device checks)."""
    try:
        key = Ed25519PublicKey.from_public_bytes(public_raw)
        key.verify(base64.b64decode(signature_b64, validate=True), bytes.fromhex(sha256_hex))
    except (InvalidSignature, ValueError):
        return False
    return True


def load_signer(path: Path, create: bool) -> Signer:
    """The key in `path`; created there (0600) when missing and `create` is set."""
    if not path.exists():
        if not create:
            raise ConfigError(f"model signing key {path} does not exist (PAAS_SIGNING_KEY_FILE)")
        return _create(path)
    if os.name == "posix" and path.stat().st_mode & 0o077:
        # Not refused: mounted secrets are often group-readable; but an operator should know.
        log.warning("model signing key %s is readable by other users; chmod 600 it", path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot read the model signing key {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"model signing key {path} is not an Ed25519 key")
    return Signer(key)


def _create(path: Path) -> Signer:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL with mode 0600: the key is never readable by others, not even between create and chmod.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
    except FileExistsError:
        return load_signer(path, create=False)  # another process created it first: use that one
    except OSError as exc:
        raise ConfigError(f"cannot create the model signing key {path}: {exc}") from None
    signer = Signer(key)
    log.warning("created a new model signing key %s (key id %s)", path, signer.public_key.key_id)
    return signer
