"""Telling store failures apart: a message the database refuses, or a database that cannot take anything now.

`cloud.store.database.translate_errors` wraps driver errors in `StoreError`, keeping the
original as `__cause__`. A constraint or data error (SQLAlchemy's `IntegrityError`,
`DataError`: a foreign key, a uniqueness or CHECK rule, a value out of range) is about
the message: retrying cannot help, so it becomes a dead letter. Anything else
(disconnect, disk full, read-only after a failover, lock timeout, a trigger's refusal)
is about the database: the message is not acknowledged, and the worker retries it with
back-off until the database takes it.
"""

from __future__ import annotations

from sqlalchemy.exc import DataError, IntegrityError

from cloud.errors import StoreError

STORE_CONSTRAINT = "store_constraint"
INTERNAL_ERROR = "internal_error"


def refused_by_database(exc: BaseException) -> bool:
    """True when `exc` (a `StoreError`) is the database refusing this data, not the database failing."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, IntegrityError | DataError):
            return True
        seen.add(id(cause))
        cause = cause.__cause__
    return False


def is_transient(exc: BaseException) -> bool:
    """A store error that retrying may cure: the database, not the message, is at fault."""
    return isinstance(exc, StoreError) and not refused_by_database(exc)
