"""The Alembic environment: runs the revisions on the connection `cloud.store.schema` hands over.

There is no alembic.ini: `cloud.store.schema` builds the configuration in code and passes an
open connection in `config.attributes`, so the service, the CLI and the tests migrate exactly
the database they were given. An upgrade runs in one transaction, on SQLite too (the
connection there emits BEGIN IMMEDIATE itself and has foreign keys off while tables are
rebuilt; they are checked after each revision), so a failure leaves the database as it was.
Two processes upgrading at once are serialised: SQLite's write lock is taken at BEGIN, and
PostgreSQL takes an advisory lock before the revision is read. Offline (`--sql`) mode is not
supported: revisions rebuild SQLite tables and backfill rows, which needs a live database.

How a developer adds a migration:

1. Change the tables (`cloud/store/tables.py`, `cloud/store/account_tables.py`).
2. Bring a scratch database to the current head and let Alembic compare it with the tables:
       python -m cloud db upgrade --db sqlite:////tmp/head.db
       python -m cloud db revision --db sqlite:////tmp/head.db -m "what changes"
   This writes `versions/NNNN_what_changes.py` with the operations Alembic detected (in
   batch form, which SQLite needs). Alembic sees columns, indexes, unique and foreign keys;
   it does not see primary keys, CHECK constraints or triggers: write those by hand.
3. Edit it into a reviewed migration: spell the DDL out (never import today's tables, they
   keep changing), backfill the data, make it work on SQLite and PostgreSQL.
4. Run `pytest tests/cloud/test_cloud_migrations.py`: on both engines it compares the
   upgraded schema with the tables and upgrades a release 0.1 database with data.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import sqlalchemy as sa
from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo

from cloud.errors import SchemaError
from cloud.store.migrations import CONNECTION_ATTRIBUTE, PROGRESS_ATTRIBUTE, is_ours
from cloud.store.tables import METADATA

_PG_LOCK_KEY = 0x70616173_6D696772  # "paasmigr": one schema change at a time per PostgreSQL database


def _after_step(
    ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Mapping[str, Any]
) -> None:
    """After each revision: SQLite's foreign keys still hold (else all is undone), and the person watching is told."""
    connection = ctx.connection
    if connection is not None and connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            shown = ", ".join(f"{row[0]} row {row[1]} -> {row[2]}" for row in broken[:5])
            raise SchemaError(f"revision {step.up_revision_id} would leave rows without their parent: {shown}")
    progress = context.config.attributes.get(PROGRESS_ATTRIBUTE)
    if progress is not None and step.is_migration and step.is_upgrade and step.up_revision_id is not None:
        script = ctx.script.get_revision(step.up_revision_id) if ctx.script is not None else None
        progress(f"applied revision {step.up_revision_id}" + (f": {script.doc}" if script is not None else ""))


def run() -> None:
    if context.is_offline_mode():
        raise SchemaError("offline (--sql) migrations are not supported: upgrade a live database")
    connection: sa.Connection = context.config.attributes[CONNECTION_ATTRIBUTE]
    context.configure(
        connection=connection,
        target_metadata=METADATA,
        include_name=is_ours,
        render_as_batch=connection.dialect.name == "sqlite",
        transactional_ddl=True,
        transaction_per_migration=False,
        on_version_apply=_after_step,
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
        context.run_migrations()


run()
