"""Slow down password guessing: failed sign-ins are counted per username and per client address.

Kept in the relational store, so every API process of a deployment counts the same
failures. Once a username (or a client) has `max_failures` failures within the window,
further attempts are refused with 429 until the oldest of them leaves the window; a
successful sign-in clears the username's count.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.errors import TooManyAttemptsError
from cloud.store.account_tables import SignInFailureRow


@dataclass(frozen=True)
class ThrottlePolicy:
    max_per_username: int
    max_per_client: int
    window_s: float


def check_allowed(session: Session, policy: ThrottlePolicy, username: str, client: str, now: float) -> None:
    """`TooManyAttemptsError` (with the seconds to wait) when either count is at its limit."""
    since = now - policy.window_s
    for column, value, limit in (
        (SignInFailureRow.username, username, policy.max_per_username),
        (SignInFailureRow.client, client, policy.max_per_client),
    ):
        recent = session.scalars(
            sa.select(SignInFailureRow.at).where(column == value, SignInFailureRow.at > since)
            .order_by(SignInFailureRow.at.desc()).limit(limit)
        ).all()
        if len(recent) >= limit:
            retry_after = max(1.0, min(recent) + policy.window_s - now)
            raise TooManyAttemptsError("too many failed sign-ins; wait before trying again", retry_after)


def record_failure(session: Session, policy: ThrottlePolicy, username: str, client: str, now: float) -> None:
    session.add(SignInFailureRow(username=username[:128], client=client[:64], at=now))
    # Old rows only cost space; drop them as we go instead of running a janitor.
    session.execute(sa.delete(SignInFailureRow).where(SignInFailureRow.at < now - policy.window_s))


def clear(session: Session, username: str) -> None:
    session.execute(sa.delete(SignInFailureRow).where(SignInFailureRow.username == username))
