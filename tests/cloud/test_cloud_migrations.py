"""Schema migrations on SQLite and PostgreSQL: a new database at head, release 0.1's refused, then upgraded, data kept.

The release 0.1 databases are SQL dumps written by that release's own code
(fixtures/release_0_1/README.md), so an upgrade is tested from what users really have.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from cloudtest_support import service_settings

from cloud.errors import CloudError, SchemaError, StoreError
from cloud.server import CloudService
from cloud.store.database import Database
from cloud.store.migrations import BASELINE_TABLES, is_ours
from cloud.store.schema import alembic_config, ensure_schema, inspect_schema, upgrade
from cloud.store.tables import METADATA
from cloud.store.timeseries import SqlTimeSeriesStore

FIXTURES = Path(__file__).parent / "fixtures" / "release_0_1"
OUR_TABLES = sorted(METADATA.tables)
HEAD = ScriptDirectory.from_config(alembic_config(None)).get_current_head()


def load_release_0_1(url: str) -> None:
    """Fill an empty database with the dump release 0.1 wrote on that engine."""
    if url.startswith("sqlite"):
        with sqlite3.connect(sa.make_url(url).database or "") as conn:
            conn.executescript((FIXTURES / "sqlite.sql").read_text(encoding="utf-8"))
        return
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql((FIXTURES / "postgresql.sql").read_text(encoding="utf-8"))
    finally:
        engine.dispose()


def emptied(url: str, tmp_path: Path, name: str) -> str:
    """Another empty database: a new SQLite file, or the same PostgreSQL database wiped."""
    if url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / name}"
    with_admin(url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    return url


def with_admin(url: str, sql: str) -> list[Any]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            result = conn.exec_driver_sql(sql)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def schema_of(url: str, tables: Iterable[str]) -> dict[str, dict[str, Any]]:
    """What the database says of each table, in a form two databases can be compared by (column order aside)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        inspector = sa.inspect(engine)
        return {table: {
            "columns": sorted((c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                              for c in inspector.get_columns(table)),
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "foreign_keys": sorted((f["name"] or "", *f["constrained_columns"], "->", f["referred_table"],
                                    *f["referred_columns"]) for f in inspector.get_foreign_keys(table)),
            "indexes": sorted((i["name"] or "", *i["column_names"], bool(i["unique"]),
                               *sorted(f"{k}={expression(v)}" for k, v in i.get("dialect_options", {}).items()))
                              for i in inspector.get_indexes(table)),
            "unique": sorted((u["name"] or "", *u["column_names"]) for u in inspector.get_unique_constraints(table)),
            "checks": sorted((c["name"] or "", expression(c["sqltext"]))
                             for c in inspector.get_check_constraints(table)),
        } for table in sorted(tables)}
    finally:
        engine.dispose()


def expression(sql: object) -> str:
    """A CHECK or WHERE clause without casts, brackets and spaces: PostgreSQL prints a restored one with other casts."""
    return re.sub(r"::[a-z ]+(\[\])?|[()\s]", "", str(sql))


def differences(url: str, metadata: sa.MetaData = METADATA) -> list[Any]:
    """Alembic's comparison of `metadata` with the database: empty when the migrations built exactly these tables."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_name": is_ours, "compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def tables_of(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cloud", "db", *args], capture_output=True, text=True, timeout=120)


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in with_admin(url, sql)]


# --- a new database ---------------------------------------------------------------------------------------------


def test_a_new_database_is_brought_to_head_and_holds_exactly_the_tables(sql_url: str, tmp_path: Path) -> None:
    # The time-series store may share the database (PostgreSQL): its tables are neither ours nor "a schema".
    timeseries = SqlTimeSeriesStore(sql_url)
    timeseries.create_schema()
    timeseries.close()
    database = Database(sql_url)
    try:
        ensure_schema(database)
        state = inspect_schema(database)
        assert (state.revision, state.current, state.recorded) == (state.head, True, True)
        ensure_schema(database)  # at head: passes, changes nothing
    finally:
        database.close()
    assert differences(sql_url) == []


def test_the_comparison_sees_a_column_added_without_a_migration(sql_url: str) -> None:
    database = Database(sql_url)
    ensure_schema(database)
    database.close()
    changed = sa.MetaData()
    for table in METADATA.sorted_tables:
        table.to_metadata(changed)
    changed.tables["assets"].append_column(sa.Column("site", sa.String(64)))
    assert [d[:3] for d in differences(sql_url, changed)] == [("add_column", None, "assets")]


def test_the_migrations_build_what_create_all_builds(sql_url: str, tmp_path: Path) -> None:
    # compare_metadata does not look at primary keys or CHECK constraints; this does, and at the names.
    database = Database(sql_url)
    ensure_schema(database)
    database.close()
    migrated = schema_of(sql_url, OUR_TABLES)
    other = emptied(sql_url, tmp_path, "create_all.db")
    engine = sa.create_engine(other, poolclass=sa.pool.NullPool)
    METADATA.create_all(engine)
    engine.dispose()
    assert migrated == schema_of(other, OUR_TABLES)


def test_revision_0001_is_the_schema_release_0_1_wrote(sql_url: str, tmp_path: Path) -> None:
    load_release_0_1(sql_url)
    written = schema_of(sql_url, BASELINE_TABLES)
    other = emptied(sql_url, tmp_path, "at_0001.db")
    engine = sa.create_engine(other, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            command.upgrade(alembic_config(conn), "0001")
    finally:
        engine.dispose()
    assert written == schema_of(other, BASELINE_TABLES)


# --- release 0.1's database -------------------------------------------------------------------------------------


def test_a_release_0_1_database_is_refused_with_the_command_that_upgrades_it(sql_url: str) -> None:
    load_release_0_1(sql_url)
    before = tables_of(sql_url), schema_of(sql_url, BASELINE_TABLES)
    database = Database(sql_url)
    try:
        with pytest.raises(SchemaError) as refused:
            ensure_schema(database)
    finally:
        database.close()
    message = str(refused.value)
    assert "revision 0001" in message and f"needs revision {HEAD}" in message
    assert f"python -m cloud db upgrade --db {sql_url}" in message
    assert (tables_of(sql_url), schema_of(sql_url, BASELINE_TABLES)) == before  # refused means untouched
    assert "alembic_version" not in tables_of(sql_url)


def test_the_service_does_not_start_on_a_release_0_1_database(sql_url: str, tmp_path: Path) -> None:
    load_release_0_1(sql_url)
    # The schema is checked before the service connects to any broker: none is needed to be refused.
    service = CloudService(service_settings("mqtt://127.0.0.1:1", tmp_path / "cloud", db_url=sql_url))
    with pytest.raises(CloudError, match="python -m cloud db upgrade"):
        service.start()
    assert not service.running


def test_db_upgrade_upgrades_a_release_0_1_database_and_keeps_its_data(sql_url: str) -> None:
    load_release_0_1(sql_url)
    result = cli("upgrade", "--db", sql_url)
    assert result.returncode == 0, result.stderr
    assert "no revision recorded: recording 0001" in result.stderr
    assert "applied revision 0002" in result.stderr and "applied revision 0003" in result.stderr
    assert f"at schema revision {HEAD}" in result.stdout
    current = cli("current", "--db", sql_url)
    assert (current.returncode, "it is current" in current.stdout) == (0, True), current.stdout + current.stderr
    database = Database(sql_url)
    try:
        ensure_schema(database)
    finally:
        database.close()
    assert differences(sql_url) == []

    # Nothing lost...
    assert rows(sql_url, "SELECT device_id, tenant FROM assets ORDER BY device_id") == [
        ("fan-1", "globex"), ("pump-1", "acme"), ("pump-2", "acme")]
    counts = {t: rows(sql_url, f"SELECT count(*) FROM {t}")[0][0] for t in (
        "events", "usage_reports", "work_orders", "work_order_findings", "device_credentials", "rollout_devices")}
    assert counts == {"events": 4, "usage_reports": 3, "work_orders": 1, "work_order_findings": 1,
                      "device_credentials": 1, "rollout_devices": 2}
    assert rows(sql_url, "SELECT status, decided_by FROM work_orders") == [("done", "planner:ann")]
    # ...and every owned row has its tenant.
    assert rows(sql_url, "SELECT device_id, tenant FROM contracts ORDER BY device_id") == [
        ("pump-1", "acme"), ("pump-9", "default")]  # pump-9 has not reported yet: the legacy tenant
    assert rows(sql_url, "SELECT tenant, model_id, version, device_id, content FROM model_artifacts "
                         "ORDER BY tenant, model_id") == [
        ("acme", "pump-ae", "1.2.0", None, b"onnx-generic-pump-ae"),
        ("acme", "pump-ae-pump-1", "1", "pump-1", b"onnx-pump-1"),
        ("globex", "pump-ae", "1.2.0", None, b"onnx-generic-pump-ae"),  # the shared model, copied
    ]
    assert rows(sql_url, "SELECT id, tenant, model_id FROM desired_state ORDER BY id") == [
        (1, "acme", "pump-ae-pump-1"), (2, "acme", "pump-ae"), (3, "acme", "pump-ae")]
    assert rows(sql_url, "SELECT id, tenant FROM rollouts") == [(1, "acme")]
    # Revision 0003: the usage reports are of the one outbox they came from (install ""), and an event or usage
    # message id is unique per device, not across the platform.
    assert rows(sql_url, "SELECT message_id, install, seq FROM usage_reports ORDER BY id") == [
        ("pump-1-usage-1", "", 1), ("pump-2-usage-1", "", 1), ("fan-1-usage-1", "", 1)]
    copy_event = ("INSERT INTO events (message_id, device_id, tenant, seq, kind, ts, received_at, score, threshold, "
                  "is_anomaly, contributions, model_id, model_version, window_start, window_end, window_samples) "
                  "SELECT message_id, '{device}', tenant, seq, kind, ts, received_at, score, threshold, is_anomaly, "
                  "contributions, model_id, model_version, window_start, window_end, window_samples FROM events "
                  "WHERE id = 1")
    with_admin(sql_url, copy_event.format(device="pump-2"))  # pump-1's id sent by pump-2: both kept
    with pytest.raises(sa.exc.IntegrityError):
        with_admin(sql_url, copy_event.format(device="pump-1"))  # pump-1's id again from pump-1: a duplicate
    # The keys still count on (PostgreSQL's sequences came through the dump and the upgrade).
    assert rows(sql_url, "INSERT INTO customers (tenant, name, created_at) VALUES ('acme', 'Acme Water', 0) "
                         "RETURNING id") == [(1,)]
    if sql_url.startswith("postgresql"):  # the time-series tables in the same database were left alone
        assert rows(sql_url, "SELECT count(*) FROM ts_readings") == [(15,)]


def test_revision_0005_gives_desired_states_a_signed_manifest_and_keeps_those_before(sql_url: str) -> None:
    load_release_0_1(sql_url)
    engine = sa.create_engine(sql_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            command.stamp(alembic_config(conn), "0001")
        with engine.connect() as conn:
            command.upgrade(alembic_config(conn), "0004")
    finally:
        engine.dispose()
    database, messages = Database(sql_url), list[str]()
    try:
        assert inspect_schema(database).revision == "0004"
        assert upgrade(database, messages.append).current
    finally:
        database.close()
    assert next(m.split(":")[0] for m in messages if m.startswith("applied")) == "applied revision 0005"
    assert differences(sql_url) == []
    # The wishes stored before have no manifest (re-sending one signs it anew); new ones are unique per counter.
    assert rows(sql_url, "SELECT id, manifest_counter, manifest, manifest_signature, manifest_key_id "
                         "FROM desired_state ORDER BY id") == [(i, None, None, None, None) for i in (1, 2, 3)]
    copy = ("INSERT INTO desired_state (tenant, device_id, model_id, model_version, requested_by, requested_at, "
            "explanation, manifest_counter) SELECT tenant, device_id, model_id, model_version, requested_by, "
            "requested_at, explanation, {counter} FROM desired_state WHERE id = 1")
    with_admin(sql_url, copy.format(counter=1))
    with_admin(sql_url, copy.format(counter="NULL"))
    with pytest.raises(sa.exc.IntegrityError):
        with_admin(sql_url, copy.format(counter=1))  # a second manifest of pump-1 with counter 1
    with_admin(sql_url, "INSERT INTO manifest_counters (device_id, last_counter) VALUES ('pump-1', 1)")
    assert rows(sql_url, "SELECT device_id, last_counter FROM manifest_counters") == [("pump-1", 1)]


def test_revision_0006_keeps_every_work_order_and_counts_assigned_and_accepted_orders_as_open(sql_url: str) -> None:
    load_release_0_1(sql_url)
    database, messages = Database(sql_url), list[str]()
    try:
        assert upgrade(database, messages.append).current
    finally:
        database.close()
    assert "applied revision 0006" in [m.split(":")[0] for m in messages]
    assert differences(sql_url) == []
    # Release 0.1's done order is kept as it was, with the defaults of what it could not have said.
    assert rows(sql_url, "SELECT id, status, priority, technician_id, decided_by FROM work_orders") == [
        (1, "done", "normal", None, "planner:ann")]
    assert rows(sql_url, "SELECT skills, time_zone FROM technicians") == []
    order = ("INSERT INTO work_orders (device_id, tenant, status, rule, reason, evidence, created_at, updated_at) "
             "VALUES ('pump-1', 'acme', '{status}', 'persistent_anomaly', 'r', '{{}}', 0, 0)")
    with_admin(sql_url, order.format(status="assigned"))
    for status in ("accepted", "proposed"):  # one open order per asset: an assigned one counts
        with pytest.raises(sa.exc.IntegrityError):
            with_admin(sql_url, order.format(status=status))
    with pytest.raises(sa.exc.IntegrityError):
        with_admin(sql_url, order.format(status="lost"))  # the status check knows the new statuses only
    with_admin(sql_url, order.format(status="cancelled"))


def test_revision_0007_keeps_the_outbox_and_lets_it_carry_offers_and_answers(sql_url: str) -> None:
    engine = sa.create_engine(sql_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            command.upgrade(alembic_config(conn), "0006")
    finally:
        engine.dispose()
    row = ("INSERT INTO notifications (tenant, dedupe_key, delivery_id, kind, recipient_kind, recipient_id, facts, "
           "status, attempts, next_attempt_at, created_at) VALUES ('acme', '{key}', '{key}', '{kind}', 'customer', 1, "
           "'{{}}', 'pending', 0, 0, 0)")
    with_admin(sql_url, row.format(key="a", kind="assignment"))
    with pytest.raises(sa.exc.IntegrityError):
        with_admin(sql_url, row.format(key="o", kind="offer"))  # 0006 knows no offers
    database = Database(sql_url)
    try:
        assert upgrade(database, lambda _message: None).current
    finally:
        database.close()
    assert differences(sql_url) == []
    with_admin(sql_url, row.format(key="o", kind="offer"))
    with_admin(sql_url, row.format(key="h", kind="help_answer"))
    assert rows(sql_url, "SELECT dedupe_key, kind FROM notifications ORDER BY id") == [
        ("a", "assignment"), ("o", "offer"), ("h", "help_answer")]


def test_a_model_used_outside_its_tenant_is_copied_into_the_user_tenant(sql_url: str) -> None:
    # Release 0.1 had one registry for all: globex's fan-1 could be asked to run acme's fitted model, and a
    # rollout whose devices were all removed has no tenant to take (it goes to the legacy tenant).
    load_release_0_1(sql_url)
    with_admin(sql_url, "INSERT INTO desired_state (device_id, model_id, model_version, requested_by, requested_at, "
                        "explanation) VALUES ('fan-1', 'pump-ae-pump-1', '1', 'planner:ann', 0, 'across tenants')")
    with_admin(sql_url, "INSERT INTO rollouts (model_id, model_version, status, plan, current_stage, failure_budget, "
                        "device_deadline_s, requested_by, created_at, updated_at) VALUES ('pump-ae', '1.2.0', "
                        "'halted', '{}', 0, 0, 60, 'planner:ann', 0, 0)")
    database = Database(sql_url)
    try:
        upgrade(database, lambda _message: None)
    finally:
        database.close()
    assert rows(sql_url, "SELECT tenant FROM desired_state WHERE device_id = 'fan-1'") == [("globex",)]
    assert rows(sql_url, "SELECT id, tenant FROM rollouts ORDER BY id") == [(1, "acme"), (2, "default")]
    assert rows(sql_url, "SELECT tenant, model_id, device_id FROM model_artifacts ORDER BY tenant, model_id") == [
        ("acme", "pump-ae", None), ("acme", "pump-ae-pump-1", "pump-1"), ("default", "pump-ae", None),
        ("globex", "pump-ae", None), ("globex", "pump-ae-pump-1", "pump-1")]


def test_an_upgrade_that_fails_leaves_the_database_as_it_was(sql_url: str) -> None:
    load_release_0_1(sql_url)
    with_admin(sql_url, "CREATE TABLE customers (id INTEGER PRIMARY KEY)")  # in the way of revision 0002
    database = Database(sql_url)
    messages: list[str] = []
    try:
        with pytest.raises(SchemaError, match=r"migrating .* failed"):
            upgrade(database, messages.append)
        state = inspect_schema(database)
    finally:
        database.close()
    assert (state.revision, state.recorded) == ("0001", True)
    tables = tables_of(sql_url)
    assert "users" not in tables and "audit_log" not in tables  # the whole revision was rolled back
    result = cli("current", "--db", sql_url)
    assert result.returncode == 1 and "python -m cloud db upgrade" in result.stdout


def test_a_database_of_a_newer_release_is_refused(sql_url: str) -> None:
    database = Database(sql_url)
    try:
        ensure_schema(database)
        with_admin(sql_url, "UPDATE alembic_version SET version_num = '0999'")
        for attempt in (ensure_schema, lambda db: upgrade(db, print)):
            with pytest.raises(SchemaError, match="this release is older than the database"):
                attempt(database)
    finally:
        database.close()
    result = cli("upgrade", "--db", sql_url)
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "0999" in result.stderr


def test_db_commands_explain_an_unreachable_database() -> None:
    result = cli("current", "--db", "postgresql://nobody@127.0.0.1:1/none")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "check --db (or PAAS_DB)" in result.stderr


# --- the audit trail --------------------------------------------------------------------------------------------


def test_the_audit_log_refuses_update_and_delete(sql_url: str) -> None:
    database = Database(sql_url)
    audit = METADATA.tables["audit_log"]
    try:
        ensure_schema(database)
        with database.session() as session:
            session.execute(audit.insert().values(
                at=1.0, tenant="acme", actor="user:ann", actor_kind="user", actor_id="1", action="contract.put",
                object_type="contract", object_id="pump-1", client="127.0.0.1"))
        refusals = [audit.update().values(actor="user:mallory"), audit.delete()]
        if sql_url.startswith("postgresql"):
            refusals.append(sa.text("TRUNCATE audit_log"))
        for statement in refusals:
            with pytest.raises(StoreError, match="audit_log is append-only"), database.session() as session:
                session.execute(statement)
        with database.session() as session:
            assert session.execute(sa.select(audit.c.actor)).scalars().all() == ["user:ann"]
    finally:
        database.close()
