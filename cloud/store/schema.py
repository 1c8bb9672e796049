"""The relational store's schema revision: checked at start, created on a new database, upgraded only on command.

A service must never run on tables it does not expect, nor change an operator's database
behind their back: `ensure_schema` brings a new, empty database to this release's revision
(as `create_all` did before migrations) and passes one already there, but refuses one that
is behind (including a release 0.1 database, which has no revision recorded: it is 0001)
with the command that upgrades it, and one that is ahead, written by a newer release.
`upgrade` is that command's work. Alembic and driver errors become `SchemaError` or
`StoreError` here.
"""

from __future__ import annotations

import logging
import shlex
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.exc import SQLAlchemyError

from cloud.errors import CloudError, ConfigError, SchemaError
from cloud.store.database import Database, translate_errors
from cloud.store.migrations import (
    BASELINE_REVISION,
    BASELINE_TABLES,
    CONNECTION_ATTRIBUTE,
    PROGRESS_ATTRIBUTE,
    SCRIPT_LOCATION,
)
from cloud.store.tables import METADATA

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
VERSION_TABLE = "alembic_version"
_SQLITE_BUSY_TIMEOUT_S = 30.0
# Alembic's `context` and `op` are process-wide proxies: two migrations in one process must not overlap.
_ONE_AT_A_TIME = threading.Lock()


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands: its revision (None: none of our tables yet) against this release's."""

    database: str  # the URL without its password
    revision: str | None
    head: str
    recorded: bool  # False for an empty database, and for release 0.1's (tables without alembic_version)
    known: bool  # False: a revision this release has no script for (a newer release wrote it)

    @property
    def empty(self) -> bool:
        return self.revision is None

    @property
    def current(self) -> bool:
        return self.revision == self.head

    @property
    def upgrade_command(self) -> str:
        return f"python -m cloud db upgrade --db {shlex.quote(self.database)}"

    def describe(self) -> str:
        """One line for `python -m cloud db current` and for refusals."""
        if self.revision is None:
            return f"{self.database} is empty (none of our tables); this release's schema is revision {self.head}"
        where = f"{self.database} is at schema revision {self.revision}"
        if not self.recorded:
            where += " (release 0.1, which recorded no revision)"
        if self.current:
            return f"{where}, this release's: it is current"
        if not self.known:
            return (f"{where}, which this release does not know (its newest is {self.head}): the database was "
                    f"written by a newer release, so this release is older than the database")
        return f"{where}; this release needs revision {self.head}"

    def refusal(self) -> str:
        """Why a service may not start on this database, and what to do."""
        if not self.known:
            return f"{self.describe()}. Run that newer release, or restore a backup made with this one."
        return f"{self.describe()}. Back it up, then upgrade it: {self.upgrade_command}"


def inspect_schema(database: Database) -> SchemaState:
    """The database's revision, read without changing anything."""
    script, where = _scripts(), _display_url(database.engine)
    head = script.get_current_head()
    if head is None:
        raise SchemaError(f"no migration scripts found in {SCRIPT_LOCATION}")
    try:
        with translate_errors(f"reading the schema revision of {where}"), database.engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            recorded = MigrationContext.configure(conn).get_current_revision() if VERSION_TABLE in tables else None
    except CommandError as exc:  # e.g. several revisions recorded at once
        raise SchemaError(f"cannot tell the schema revision of {where}: {exc}") from exc
    if recorded is not None:
        return SchemaState(where, recorded, head, True, _known(script, recorded))
    if tables & (BASELINE_TABLES | set(METADATA.tables)):
        return SchemaState(where, BASELINE_REVISION, head, False, True)
    return SchemaState(where, None, head, False, True)


def ensure_schema(database: Database) -> None:
    """At start: create the schema in an empty database, pass one at this release's revision, refuse any other."""
    state = inspect_schema(database)
    if state.empty:
        _run(database, state, None, lambda config: command.upgrade(config, "head"))
        log.info("created the schema in %s at revision %s", state.database, state.head)
    elif not state.current:
        raise SchemaError(state.refusal())


def upgrade(database: Database, progress: Progress) -> SchemaState:
    """Bring the database to this release's revision in one transaction, reporting each step."""
    state = inspect_schema(database)
    if not state.known:
        raise SchemaError(state.refusal())
    if state.current:
        progress(f"{state.describe()}; nothing to do")
        return state
    if state.revision is not None and not state.recorded:
        progress(f"{state.database} has release 0.1's tables and no revision recorded: recording {BASELINE_REVISION}")
        _run(database, state, progress, lambda config: command.stamp(config, BASELINE_REVISION))
    pending = _pending(state)
    progress(f"upgrading {state.database} from {state.revision or 'an empty database'} to {state.head}: "
             f"{len(pending)} revision(s) to apply ({', '.join(pending)})")
    _run(database, state, progress, lambda config: command.upgrade(config, "head"))
    return inspect_schema(database)


def new_revision(database: Database, message: str) -> str:
    """For developers: write the next revision's script from how METADATA differs from `database` (at head)."""
    state = inspect_schema(database)
    if not state.current:
        raise SchemaError(f"{state.describe()}: compare against a database at the newest revision "
                          f"(first: {state.upgrade_command})")
    rev_id = f"{int(state.head) + 1:04d}"
    written: list[str] = []

    def generate(config: Config) -> None:
        script = command.revision(config, message=message, autogenerate=True, rev_id=rev_id)
        written.extend(s.path for s in (script if isinstance(script, list) else [script]) if s is not None)

    _run(database, state, None, generate)
    return ", ".join(written)


def _run(database: Database, state: SchemaState, progress: Progress | None, run: Callable[[Config], Any]) -> None:
    with _ONE_AT_A_TIME, _migration_engine(database) as engine:
        try:
            with engine.connect() as connection:
                run(alembic_config(connection, progress))
        except CloudError:
            raise
        except (CommandError, SQLAlchemyError) as exc:
            text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise SchemaError(
                f"migrating {state.database} failed: {type(exc).__name__}: {text}. Nothing of it was kept "
                f"(one transaction); `python -m cloud db current --db {shlex.quote(state.database)}` shows where it is"
            ) from exc


def alembic_config(connection: sa.Connection | None, progress: Progress | None = None) -> Config:
    """Alembic's configuration, in code (no alembic.ini to ship or to find); commands run on `connection`."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes[CONNECTION_ATTRIBUTE] = connection
    config.attributes[PROGRESS_ATTRIBUTE] = progress
    return config


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(None, None))


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def _pending(state: SchemaState) -> list[str]:
    lower = state.revision or "base"
    steps = _scripts().iterate_revisions(state.head, lower)
    return [f"{s.revision} {s.doc}" for s in reversed(list(steps)) if s.revision != state.revision]


@contextmanager
def _migration_engine(database: Database) -> Iterator[sa.Engine]:
    """The engine migrations run on; for a SQLite file, one whose transactions also cover DDL.

    pysqlite commits before each DDL statement and the store's engine turns foreign keys on;
    a rebuilt table needs them off (SQLite's documented procedure), and atomic revisions need
    BEGIN emitted by us. An in-memory database is refused: each connection would see its own.
    """
    url = database.engine.url
    if url.get_backend_name() != "sqlite":
        yield database.engine
        return
    if url.database in (None, "", ":memory:") or url.query.get("mode") == "memory":
        raise ConfigError(f"{_display_url(database.engine)}: the schema needs a SQLite file, sqlite:///path/to/db")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_S})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        dbapi_conn.execute("PRAGMA foreign_keys=OFF")  # env.py runs foreign_key_check before each commit

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        yield engine
    finally:
        engine.dispose()


def _display_url(engine: sa.Engine) -> str:
    """The URL to show and to paste into a command: without the password, which must not reach a log."""
    return engine.url.set(password=None).render_as_string(hide_password=False)
