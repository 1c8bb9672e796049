"""ingest reliability: a dead-letter store; events and usage reports deduplicated per device and install

New table `dead_letters`: every message the ingest cannot store, with its raw topic and payload.
Events were unique by message id across the whole platform, so one device reusing another's id
(by accident, or on purpose) hid the other's event: they are now unique per (device, message id).
Usage reports gain `install` (the device's outbox; "" for everything stored before) and are
unique per (device, install, seq) and per (device, message id): a device whose state directory
was lost numbers its reports from 1 again under a new install, and those are no longer taken
for duplicates. Existing rows keep their meaning: install "" is the one outbox they came from.

SQLite cannot drop a constraint: there the two tables are rebuilt from their definition below
(Alembic's batch mode); PostgreSQL alters them. There is no downgrade: restore the backup.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cloud.store.migrations import report

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")

# The two re-keyed tables as this revision leaves them (SQLite rebuilds them from these).
_AT_0003 = sa.MetaData()
_AT_0003_STUBS = (
    sa.Table("assets", _AT_0003, sa.Column("device_id", sa.String(64), primary_key=True)),
    sa.Table("work_orders", _AT_0003, sa.Column("id", BIGINT_ID, primary_key=True)),
)
EVENTS = sa.Table(
    "events", _AT_0003,
    sa.Column("id", BIGINT_ID, primary_key=True),
    sa.Column("message_id", sa.String(64), nullable=False),
    sa.Column("device_id", sa.String(64), sa.ForeignKey("assets.device_id"), nullable=False),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("seq", sa.BigInteger(), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("ts", sa.Double(), nullable=False),
    sa.Column("received_at", sa.Double(), nullable=False),
    sa.Column("score", sa.Double(), nullable=False),
    sa.Column("threshold", sa.Double(), nullable=False),
    sa.Column("is_anomaly", sa.Boolean(), nullable=False),
    sa.Column("contributions", sa.JSON(), nullable=False),
    sa.Column("model_id", sa.String(128), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("window_start", sa.Double(), nullable=False),
    sa.Column("window_end", sa.Double(), nullable=False),
    sa.Column("window_samples", sa.Integer(), nullable=False),
    sa.Column("rul_cycles", sa.Double()),
    sa.Column("rul_lower", sa.Double()),
    sa.Column("rul_upper", sa.Double()),
    sa.Column("work_order_id", BIGINT_ID, sa.ForeignKey("work_orders.id")),
    sa.UniqueConstraint("device_id", "message_id", name="uq_events_device_message"),
    sa.Index("ix_events_device_ts", "device_id", "ts"),
    sa.Index("ix_events_work_order_id", "work_order_id"),
)
USAGE_REPORTS = sa.Table(
    "usage_reports", _AT_0003,
    sa.Column("id", BIGINT_ID, primary_key=True),
    sa.Column("message_id", sa.String(64), nullable=False),
    sa.Column("device_id", sa.String(64), sa.ForeignKey("assets.device_id"), nullable=False),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("install", sa.String(64), nullable=False, server_default=""),
    sa.Column("seq", sa.BigInteger(), nullable=False),
    sa.Column("ts", sa.Double(), nullable=False),
    sa.Column("period_start", sa.Double(), nullable=False),
    sa.Column("period_end", sa.Double(), nullable=False),
    sa.Column("received_at", sa.Double(), nullable=False),
    sa.Column("counters", sa.JSON(), nullable=False),
    sa.Column("units", sa.JSON(), nullable=False),
    sa.UniqueConstraint("device_id", "install", "seq", name="uq_usage_reports_device_install_seq"),
    sa.UniqueConstraint("device_id", "message_id", name="uq_usage_reports_device_message"),
    sa.Index("ix_usage_reports_device_ts", "device_id", "ts"),
)


def upgrade() -> None:
    report("creating dead_letters")
    _create_dead_letters()
    report("keying events by (device, message id), usage reports by (device, install, seq) and (device, message id)")
    op.add_column("usage_reports", sa.Column("install", sa.String(64), nullable=False, server_default=""))
    if op.get_bind().dialect.name == "sqlite":
        for table in (EVENTS, USAGE_REPORTS):
            with op.batch_alter_table(table.name, copy_from=table, recreate="always"):
                pass
        return
    # Release 0.1's unique constraints were unnamed: these are the names PostgreSQL gave them.
    op.drop_constraint("events_message_id_key", "events", type_="unique")
    op.create_unique_constraint("uq_events_device_message", "events", ["device_id", "message_id"])
    op.drop_constraint("usage_reports_message_id_key", "usage_reports", type_="unique")
    op.drop_constraint("uq_usage_reports_device_seq", "usage_reports", type_="unique")
    op.create_unique_constraint("uq_usage_reports_device_install_seq", "usage_reports",
                                ["device_id", "install", "seq"])
    op.create_unique_constraint("uq_usage_reports_device_message", "usage_reports", ["device_id", "message_id"])


def _create_dead_letters() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", BIGINT_ID, primary_key=True),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(64)),
        sa.Column("tenant", sa.String(64)),
        sa.Column("device_id", sa.String(64)),
        sa.Column("replayed_at", sa.Double()),
        sa.Column("replay_result", sa.Text()),
    )
    op.create_index("ix_dead_letters_tenant_received", "dead_letters", ["tenant", "received_at"])
    op.create_index("ix_dead_letters_device", "dead_letters", ["device_id", "id"])
    op.create_index("ix_dead_letters_reason", "dead_letters", ["reason"])


def downgrade() -> None:
    raise NotImplementedError("revision 0003 cannot be undone: restore the backup taken before upgrading")
