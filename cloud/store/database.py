"""SQL engines and sessions for SQLite and PostgreSQL, with driver errors translated.

SQLite runs in WAL mode so the API reads while the ingest writes; the busy timeout
lets the rare second writer (a planner approving a work order) wait instead of fail.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cloud.errors import ConfigError, StoreError

SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> sa.URL:
    """Parse a database URL; a bare `postgresql://` means the psycopg 3 driver (the one installed)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"invalid database URL {url!r}: {exc}") from None
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_engine(url: str) -> sa.Engine:
    """An engine for `url`; for a SQLite file, its directory is created and WAL mode set."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    try:
        return sa.create_engine(parsed, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError) as exc:
        raise ConfigError(f"cannot use database {parsed.render_as_string(hide_password=True)}: {exc}") from None


def _sqlite_engine(parsed: sa.URL) -> sa.Engine:
    path = parsed.database or ""
    if path and path != ":memory:" and not path.startswith("file:"):
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the directory for {path}: {exc}") from None
    # The API serves from a thread pool while the ingest writes from its own thread.
    connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    engine = sa.create_engine(parsed, connect_args=connect_args)

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable across application crashes in WAL mode; only power loss can cost the last commits.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    return engine


def insert_ignoring_duplicates(dialect: str, table: sa.Table) -> sa.Insert:
    """INSERT that skips rows whose key already exists (ON CONFLICT DO NOTHING on both databases)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


def describe(engine: sa.Engine) -> str:
    """The engine's URL without its password, for messages."""
    return engine.url.render_as_string(hide_password=True)


class Database:
    """The relational store: one engine, sessions that commit or roll back as a unit."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any error."""
        with translate_errors(f"database {describe(self.engine)}"), self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def reachable(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def close(self) -> None:
        self.engine.dispose()


@contextlib.contextmanager
def translate_errors(where: str) -> Iterator[None]:
    """Turn driver errors into `StoreError` at the store's boundary."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise StoreError(f"{where}: {type(exc).__name__}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
