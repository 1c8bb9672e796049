"""Signed tokens (JWT, HS256, PyJWT): short-lived access tokens for users, and expiring artifact links for devices.

Time comes from the service's clock, not from PyJWT's: expiry and issue time are checked
here against `clock.time()`, so a test's manual clock and the service agree. Each kind of
token has its own audience, so an artifact link is never accepted as an access token.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from cloud.errors import AuthenticationError
from contract.clock import Clock

ISSUER = "paas-cloud"
ACCESS_AUDIENCE = "paas-api"
ARTIFACT_AUDIENCE = "paas-artifact"
ALGORITHM = "HS256"
CLOCK_SKEW_S = 30.0


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    expires_at: float


@dataclass(frozen=True)
class ArtifactClaims:
    tenant: str
    device_id: str
    model_id: str
    version: str
    expires_at: float


class TokenIssuer:
    """Issues and verifies the service's tokens with one secret (see cloud.auth.secret_key)."""

    def __init__(self, secret: bytes, clock: Clock, access_ttl_s: float, artifact_ttl_s: float) -> None:
        self._secret, self._clock = secret, clock
        self.access_ttl_s, self.artifact_ttl_s = access_ttl_s, artifact_ttl_s

    def access_token(self, user_id: int) -> tuple[str, float]:
        """(token, lifetime in seconds)."""
        return self._encode({"sub": str(user_id)}, ACCESS_AUDIENCE, self.access_ttl_s), self.access_ttl_s

    def verify_access(self, token: str) -> AccessClaims:
        claims = self._decode(token, ACCESS_AUDIENCE)
        subject = str(claims.get("sub", ""))
        if not subject.isdigit():
            raise AuthenticationError("the access token names no user")
        return AccessClaims(int(subject), float(claims["exp"]))

    def artifact_token(self, tenant: str, device_id: str, model_id: str, version: str) -> str:
        """A link credential letting `device_id` fetch one model version (and the signing key) until it expires."""
        claims = {"sub": device_id, "tnt": tenant, "mid": model_id, "ver": version}
        return self._encode(claims, ARTIFACT_AUDIENCE, self.artifact_ttl_s)

    def verify_artifact(self, token: str) -> ArtifactClaims:
        claims = self._decode(token, ARTIFACT_AUDIENCE)
        try:
            return ArtifactClaims(
                str(claims["tnt"]), str(claims["sub"]), str(claims["mid"]), str(claims["ver"]), float(claims["exp"])
            )
        except KeyError:
            raise AuthenticationError("the artifact link is incomplete") from None

    def _encode(self, claims: dict[str, Any], audience: str, ttl_s: float) -> str:
        now = self._clock.time()
        body = {**claims, "iss": ISSUER, "aud": audience, "iat": int(now), "exp": int(now + ttl_s),
                "jti": uuid.uuid4().hex}
        return jwt.encode(body, self._secret, algorithm=ALGORITHM)

    def _decode(self, token: str, audience: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], audience=audience, issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "aud", "iss"], "verify_exp": False, "verify_iat": False,
                         "verify_nbf": False},
            )
        except jwt.PyJWTError:
            # The library's message may quote the token's contents; say only what the caller can act on.
            raise AuthenticationError("the token is invalid; sign in again") from None
        now = self._clock.time()
        if float(claims["exp"]) <= now - CLOCK_SKEW_S or float(claims["iat"]) > now + CLOCK_SKEW_S:
            raise AuthenticationError("the token has expired; sign in again (or refresh)")
        return claims
