"""The cloud's model-signing key: Ed25519 signatures over each desired state's manifest and each artifact's digest.

What a device relies on is the signed manifest (contract.manifest): the bytes `DOMAIN` +
the manifest text, which name the device, the model's sha256 and size, the settings and
an anti-rollback counter. The raw 32-byte SHA-256 digest of each artifact is still signed
as well, for agents that predate manifests.

Devices get the public key from their provisioning bundle (`signing-key.pem`, written with
`public_key_pem`); `GET /api/v1/models/signing-key` shows it too.

The private key is a PEM (PKCS#8, unencrypted, mode 0600) file: `PAAS_SIGNING_KEY_FILE`.
With `PAAS_ENV=local` a missing key is created in its own folder beside the SQLite database
(`keys/model-signing-key.pem`), with a warning. In staging and production the setting is
required, a missing file refuses to start (a new key would be a new identity no device
trusts), `PAAS_SIGNING_KEY_CREATE=true` is refused, and in production so is a key file other
users may read.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cloud.errors import ConfigError
from cloud.secret_files import check_private, create_private
from cloud.settings import CloudSettings, Environment
from contract.manifest import signed_bytes

log = logging.getLogger(__name__)

ALGORITHM: Final = "Ed25519"
SIGNED_MESSAGES: Final = (
    "set_desired_state: the bytes 'paas-model-manifest-v1\\n' followed by the UTF-8 manifest text (params "
    "`manifest`, `manifest_signature`); artifacts, for older agents: the raw 32-byte SHA-256 digest of their bytes"
)
KEY_ID_HEX_CHARS = 16
CREATE_KEY_HINT = "openssl genpkey -algorithm ed25519 -out PATH && chmod 600 PATH"


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
    """Signs manifests and artifact digests with one private key."""

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

    def sign_manifest(self, text: str) -> str:
        """The base64 signature of a manifest text (of `DOMAIN` + the text, see contract.manifest)."""
        return base64.b64encode(self._key.sign(signed_bytes(text))).decode()


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


def load_signing_key(settings: CloudSettings) -> Signer:
    """The service's key, by the rules of `PAAS_ENV` (see above); `ConfigError` naming the setting otherwise."""
    env, path = settings.env, settings.signing_key_path
    local = env is Environment.LOCAL
    if settings.signing_key_create and not local:
        raise ConfigError(
            f"PAAS_SIGNING_KEY_CREATE=true is for PAAS_ENV=local only (here PAAS_ENV={env.value}): a key created at "
            f"start is an identity no device trusts; provision one and set PAAS_SIGNING_KEY_FILE"
        )
    if not local and settings.signing_key_file is None:
        raise ConfigError(
            f"PAAS_ENV={env.value} needs PAAS_SIGNING_KEY_FILE, the model-signing key (an Ed25519 private key, PEM, "
            f"mode 0600, outside the database's folder); create one with: {CREATE_KEY_HINT}"
        )
    _warn_if_beside_the_database(settings, path)
    return load_signer(path, create=local and settings.signing_key_create is not False, env=env)


def public_key_pem(settings: CloudSettings) -> str:
    """The public key (SubjectPublicKeyInfo PEM) devices verify manifests with: the provisioning bundle's
    `signing-key.pem`. The same rules as at start apply (in local a missing key is created)."""
    return load_signing_key(settings).public_key.pem


def load_signer(path: Path, create: bool, env: Environment = Environment.LOCAL) -> Signer:
    """The key in `path`; created there (0600) when missing and `create` is set."""
    if not path.exists():
        if not create:
            raise ConfigError(
                f"the model signing key {path} does not exist (PAAS_SIGNING_KEY_FILE); create one with: "
                f"{CREATE_KEY_HINT}"
            )
        return _create(path)
    check_private(path, env, "the model signing key")
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
    if not create_private(path, pem, "the model signing key"):
        return load_signer(path, create=False)  # another process created it first: use that one
    signer = Signer(key)
    log.warning("PAAS_ENV=local: created a new model signing key %s (0600, key id %s); set PAAS_SIGNING_KEY_FILE "
                "in production", path, signer.public_key.key_id)
    return signer


def _warn_if_beside_the_database(settings: CloudSettings, path: Path) -> None:
    """A key among the database's files travels with every copy and backup of them."""
    url = urlsplit(settings.db_url)
    if not url.scheme.startswith("sqlite") or url.path in ("", "/", "/:memory:"):
        return
    if path.resolve().parent == Path(url.path[1:]).resolve().parent:
        log.warning("the model signing key %s is in the SQLite database's folder: every copy of the database's files "
                    "carries it; move it (PAAS_SIGNING_KEY_FILE)", path)
