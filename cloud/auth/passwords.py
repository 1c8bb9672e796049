"""Password hashing with Argon2id (argon2-cffi, RFC 9106 low-memory profile); errors translated here."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cloud.errors import InvalidAccountError

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024  # hashing a megabyte of "password" is a denial of service, not a password

_HASHER = PasswordHasher()
# Verified when the username is unknown, so a miss costs as long as a wrong password (no user enumeration by timing).
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


def hash_password(password: str) -> str:
    check_password_policy(password)
    return _HASHER.hash(password)


def check_password_policy(password: str) -> None:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidAccountError(
            f"a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters (a passphrase is best)"
        )


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; `None` (unknown user) takes the same time and is False."""
    if len(password) > MAX_PASSWORD_CHARS:
        return False
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's (re-hash at the next sign-in)."""
    return _HASHER.check_needs_rehash(password_hash)
