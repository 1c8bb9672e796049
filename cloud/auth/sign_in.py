"""Sign-in (OAuth2 password grant), refresh with rotation, and sign-out.

An access token lives minutes (`PAAS_ACCESS_TOKEN_TTL_S`); the refresh token that comes
with it is used once: each refresh returns a new pair and marks the old refresh token
used. Presenting a used one again means it was copied, so its whole family (every token
descended from that sign-in) is revoked and the user must sign in again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.auth import throttle
from cloud.auth.accounts import find_user
from cloud.auth.passwords import hash_password, needs_rehash, verify_password
from cloud.auth.secrets import digest, new_token
from cloud.auth.throttle import ThrottlePolicy
from cloud.auth.tokens import TokenIssuer
from cloud.errors import AuthenticationError
from cloud.store.account_tables import RefreshTokenRow, UserRow


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: float
    user: UserRow


class SignIn:
    """The three grants, over a session the caller commits (failures are committed here, before raising)."""

    def __init__(self, issuer: TokenIssuer, policy: ThrottlePolicy, refresh_ttl_s: float) -> None:
        self._issuer, self._policy, self._refresh_ttl_s = issuer, policy, refresh_ttl_s

    def with_password(self, session: Session, username: str, password: str, client: str, now: float) -> TokenPair:
        throttle.check_allowed(session, self._policy, username, client, now)
        user = find_user(session, username)
        usable = user is not None and user.active
        if not verify_password(user.password_hash if usable and user is not None else None, password):
            throttle.record_failure(session, self._policy, username, client, now)
            session.commit()  # the failure must count although the request fails
            raise AuthenticationError("wrong username or password")
        assert user is not None
        throttle.clear(session, username)
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        return self._pair(session, user, uuid.uuid4().hex, now)

    def with_refresh_token(self, session: Session, refresh_token: str, now: float) -> TokenPair:
        row = _find(session, refresh_token)
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            raise AuthenticationError("the refresh token is not valid; sign in again")
        if row.used_at is not None:
            self._revoke_family(session, row.family, now)
            session.commit()
            raise AuthenticationError("the refresh token was already used; every session of this sign-in is ended")
        user = session.get(UserRow, row.user_id)
        if user is None or not user.active:
            raise AuthenticationError("the account is disabled")
        row.used_at = now
        return self._pair(session, user, row.family, now)

    def sign_out(self, session: Session, refresh_token: str, now: float) -> None:
        row = _find(session, refresh_token)
        if row is not None:
            self._revoke_family(session, row.family, now)

    def _pair(self, session: Session, user: UserRow, family: str, now: float) -> TokenPair:
        access, expires_in = self._issuer.access_token(user.id)
        refresh = new_token()
        session.add(RefreshTokenRow(token_hash=digest(refresh), user_id=user.id, family=family, issued_at=now,
                                    expires_at=now + self._refresh_ttl_s))
        session.flush()
        return TokenPair(access, refresh, expires_in, user)

    @staticmethod
    def _revoke_family(session: Session, family: str, now: float) -> None:
        session.execute(sa.update(RefreshTokenRow).where(RefreshTokenRow.family == family,
                                                         RefreshTokenRow.revoked_at.is_(None)).values(revoked_at=now))


def _find(session: Session, refresh_token: str) -> RefreshTokenRow | None:
    query = sa.select(RefreshTokenRow).where(RefreshTokenRow.token_hash == digest(refresh_token))
    return session.scalars(query).first()
