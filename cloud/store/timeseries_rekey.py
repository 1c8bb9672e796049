"""Bringing a time-series store written before installs were keyed to the (device_id, install, seq) key.

The time-series tables are not under Alembic (they may live in their own database, created
when missing), so the store upgrades itself at start: a `ts_readings` table without the
`install` column gets it, every existing row under install "" (the one outbox those
readings came from), and the primary key becomes (device_id, install, seq). Nothing else
changes, and a store already keyed so is left alone, so running it again is harmless.

- PostgreSQL alters the table in one transaction, holding an exclusive lock on it and
  looking again under the lock (two services starting at once upgrade it once).
- SQLite cannot change a primary key: the table is rebuilt (create, copy, drop, rename)
  in one `BEGIN IMMEDIATE` transaction, SQLite's documented procedure; a crash midway
  leaves the old table as it was. The copy takes about a second per million readings.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

log = logging.getLogger(__name__)

_BUSY_TIMEOUT_S = 30.0


def needs_rekey(conn: sa.Connection, readings: sa.Table) -> bool:
    """True when the store's readings table exists without the `install` column."""
    inspector = sa.inspect(conn)
    if not inspector.has_table(readings.name):
        return False
    return "install" not in {column["name"] for column in inspector.get_columns(readings.name)}


def rekey_readings(engine: sa.Engine, readings: sa.Table) -> bool:
    """Upgrade `readings` (as this release defines it) in the store behind `engine`; True if it was upgraded."""
    with engine.connect() as conn:
        if not needs_rekey(conn, readings):
            return False
    if engine.dialect.name == "postgresql":
        upgraded = _rekey_postgresql(engine, readings)
    else:
        upgraded = _rekey_sqlite(engine, readings)
    if upgraded:
        log.warning("upgraded the time-series store %s: readings are now keyed by (device, install, seq)",
                    engine.url.render_as_string(hide_password=True))
    return upgraded


def _rekey_postgresql(engine: sa.Engine, readings: sa.Table) -> bool:
    name = readings.name
    with engine.begin() as conn:
        conn.exec_driver_sql(f'LOCK TABLE "{name}" IN ACCESS EXCLUSIVE MODE')
        if not needs_rekey(conn, readings):
            return False
        old_key = sa.inspect(conn).get_pk_constraint(name)["name"] or f"{name}_pkey"
        conn.exec_driver_sql(f"""ALTER TABLE "{name}" ADD COLUMN install VARCHAR(64) NOT NULL DEFAULT ''""")
        conn.exec_driver_sql(f'ALTER TABLE "{name}" DROP CONSTRAINT "{old_key}"')
        columns = ", ".join(c.name for c in readings.primary_key.columns)
        conn.exec_driver_sql(f'ALTER TABLE "{name}" ADD CONSTRAINT "{name}_pkey" PRIMARY KEY ({columns})')
    return True


def _rekey_sqlite(engine: sa.Engine, readings: sa.Table) -> bool:
    rebuild = sa.create_engine(engine.url, poolclass=sa.pool.NullPool, connect_args={"timeout": _BUSY_TIMEOUT_S})

    @sa.event.listens_for(rebuild, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we say where transactions begin: DDL included

    @sa.event.listens_for(rebuild, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    name, staging = readings.name, f"{readings.name}_rekeyed"
    try:
        with rebuild.begin() as conn:
            if not needs_rekey(conn, readings):
                return False
            new = readings.to_metadata(sa.MetaData(), name=staging)
            new.indexes.clear()  # created under their own names once the table has its own
            new.create(conn)
            kept = [c.name for c in readings.columns if c.name != "install"]
            listed = ", ".join(kept)
            conn.exec_driver_sql(f'INSERT INTO "{staging}" (install, {listed}) SELECT \'\', {listed} FROM "{name}"')
            conn.exec_driver_sql(f'DROP TABLE "{name}"')
            conn.exec_driver_sql(f'ALTER TABLE "{staging}" RENAME TO "{name}"')
            for index in readings.indexes:
                index.create(conn)
    finally:
        rebuild.dispose()
    return True
