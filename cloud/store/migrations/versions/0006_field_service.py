"""field service: the work order's whole life, technicians in space and time, dispatch plans, notifications

Work orders gain the statuses assigned, accepted and cancelled (the open-order index now
counts assigned and accepted orders as open), a priority, a due date, a required skill,
planner notes, the confidence and policy of an automatic approval, the technician and the
visit window, who declined it and what it was merged into. Every move of an order is a row of
the new `work_order_transitions`; photos are `work_order_attachments`. Events gain
`closed_at` (an alarm closed after its order was done and the asset stayed quiet), findings
the parts used, contracts an approval policy. Technicians gain skills, a home base and a
time zone, with their working hours (`technician_hours`) and absences
(`technician_absences`); assets gain a site. New: `failure_skills` (which skill a failure
kind needs), `dispatch_plans` (previews and commits), `contact_points` and `notifications`
(the durable outbox). Nothing is backfilled: existing orders keep their status with priority
normal, existing technicians have no skills, UTC, and no home base until a planner sets one.

SQLite cannot change a constraint: there `work_orders` is rebuilt from its definition below
(Alembic's batch mode); PostgreSQL alters it. There is no downgrade: restore the backup.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cloud.store.migrations import report

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
STATUSES = "('proposed', 'approved', 'assigned', 'accepted', 'in_progress', 'done', 'rejected', 'cancelled')"
OPEN_STATUSES = "('proposed', 'approved', 'assigned', 'accepted', 'in_progress')"
PRIORITIES = "('critical', 'high', 'normal', 'low')"

# work_orders as this revision leaves it (SQLite rebuilds it from this).
_AT_0006 = sa.MetaData()
_AT_0006_STUBS = (
    sa.Table("assets", _AT_0006, sa.Column("device_id", sa.String(64), primary_key=True)),
    sa.Table("technicians", _AT_0006, sa.Column("id", BIGINT_ID, primary_key=True)),
)
WORK_ORDERS = sa.Table(
    "work_orders", _AT_0006,
    sa.Column("id", BIGINT_ID, primary_key=True),
    sa.Column("device_id", sa.String(64), sa.ForeignKey("assets.device_id"), nullable=False),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("rule", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("evidence", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=False),
    sa.Column("decided_by", sa.String(128)),
    sa.Column("decided_at", sa.Double()),
    sa.Column("decision_note", sa.Text()),
    sa.Column("priority", sa.String(16), nullable=False, server_default="normal"),
    sa.Column("due_at", sa.Double()),
    sa.Column("required_skill", sa.String(64)),
    sa.Column("notes", sa.Text()),
    sa.Column("confidence", sa.Double()),
    sa.Column("approved_by_policy", sa.String(64)),
    sa.Column("technician_id", BIGINT_ID, sa.ForeignKey("technicians.id")),
    sa.Column("planned_start", sa.Double()),
    sa.Column("planned_end", sa.Double()),
    sa.Column("declined_by", sa.JSON()),
    sa.Column("merged_into", BIGINT_ID, sa.ForeignKey("work_orders.id")),
    sa.CheckConstraint(f"status IN {STATUSES}", name="ck_work_orders_status"),
    sa.CheckConstraint(f"priority IN {PRIORITIES}", name="ck_work_orders_priority"),
    sa.Index("ix_work_orders_device_id", "device_id"),
    sa.Index("ix_work_orders_status", "status"),
    sa.Index("ix_work_orders_technician_id", "technician_id"),
    sa.Index("uq_work_orders_open_per_asset", "device_id", unique=True,
             sqlite_where=sa.text(f"status IN {OPEN_STATUSES}"),
             postgresql_where=sa.text(f"status IN {OPEN_STATUSES}")),
)
# Columns added to work_orders, in the order above (PostgreSQL adds them; SQLite rebuilds).
_NEW_ORDER_COLUMNS = ("priority", "due_at", "required_skill", "notes", "confidence", "approved_by_policy",
                      "technician_id", "planned_start", "planned_end", "declined_by", "merged_into")


def upgrade() -> None:
    report("extending work orders")
    _extend_work_orders()
    op.add_column("events", sa.Column("closed_at", sa.Double()))
    op.add_column("work_order_findings", sa.Column("parts_used", sa.JSON()))
    op.add_column("contracts", sa.Column("approval_policy", sa.JSON()))
    op.add_column("assets", sa.Column("site_name", sa.String(256)))
    op.add_column("assets", sa.Column("site_lat", sa.Double()))
    op.add_column("assets", sa.Column("site_lon", sa.Double()))
    op.add_column("technicians", sa.Column("skills", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
    op.add_column("technicians", sa.Column("home_lat", sa.Double()))
    op.add_column("technicians", sa.Column("home_lon", sa.Double()))
    op.add_column("technicians", sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC"))
    op.add_column("technicians", sa.Column("updated_at", sa.Double()))
    report("creating work_order_transitions, work_order_attachments")
    _create_order_history()
    report("creating technician_hours, technician_absences, failure_skills, dispatch_plans")
    _create_field_tables()
    report("creating contact_points, notifications")
    _create_notification_tables()


def _extend_work_orders() -> None:
    for name in _NEW_ORDER_COLUMNS:
        column = WORK_ORDERS.c[name]
        op.add_column("work_orders", sa.Column(name, column.type, nullable=column.nullable,
                                               server_default=column.server_default))
    if op.get_bind().dialect.name == "sqlite":
        # Now that every column exists, the rebuild copies all of them into the table as defined above.
        with op.batch_alter_table("work_orders", copy_from=WORK_ORDERS, recreate="always"):
            pass
        return
    # The names PostgreSQL gives the unnamed foreign keys create_all writes.
    op.create_foreign_key("work_orders_technician_id_fkey", "work_orders", "technicians", ["technician_id"], ["id"])
    op.create_foreign_key("work_orders_merged_into_fkey", "work_orders", "work_orders", ["merged_into"], ["id"])
    op.create_index("ix_work_orders_technician_id", "work_orders", ["technician_id"])
    op.drop_constraint("ck_work_orders_status", "work_orders", type_="check")
    op.create_check_constraint("ck_work_orders_status", "work_orders", f"status IN {STATUSES}")
    op.create_check_constraint("ck_work_orders_priority", "work_orders", f"priority IN {PRIORITIES}")
    op.drop_index("uq_work_orders_open_per_asset", "work_orders")
    op.create_index("uq_work_orders_open_per_asset", "work_orders", ["device_id"], unique=True,
                    postgresql_where=sa.text(f"status IN {OPEN_STATUSES}"))


def _create_order_history() -> None:
    op.create_table(
        "work_order_transitions",
        sa.Column("id", BIGINT_ID, primary_key=True),
        sa.Column("work_order_id", BIGINT_ID, sa.ForeignKey("work_orders.id"), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("from_status", sa.String(16)),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("technician_id", sa.Integer()),
    )
    op.create_index("ix_work_order_transitions_order", "work_order_transitions", ["work_order_id", "id"])
    op.create_table(
        "work_order_attachments",
        sa.Column("id", BIGINT_ID, primary_key=True),
        sa.Column("work_order_id", BIGINT_ID, sa.ForeignKey("work_orders.id"), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("uploaded_by", sa.String(200), nullable=False),
        sa.Column("uploaded_at", sa.Double(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_work_order_attachments_order", "work_order_attachments", ["work_order_id", "id"])


def _create_field_tables() -> None:
    op.create_table(
        "technician_hours",
        sa.Column("id", BIGINT_ID, primary_key=True),
        sa.Column("technician_id", BIGINT_ID, sa.ForeignKey("technicians.id"), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_min", sa.Integer(), nullable=False),
        sa.Column("end_min", sa.Integer(), nullable=False),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="ck_technician_hours_weekday"),
        sa.CheckConstraint("start_min >= 0 AND start_min < end_min AND end_min <= 1440",
                           name="ck_technician_hours_span"),
    )
    op.create_index("ix_technician_hours_technician", "technician_hours", ["technician_id", "weekday"])
    op.create_table(
        "technician_absences",
        sa.Column("id", BIGINT_ID, primary_key=True),
        sa.Column("technician_id", BIGINT_ID, sa.ForeignKey("technicians.id"), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("start_at", sa.Double(), nullable=False),
        sa.Column("end_at", sa.Double(), nullable=False),
        sa.Column("reason", sa.String(256), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.CheckConstraint("start_at < end_at", name="ck_technician_absences_span"),
    )
    op.create_index("ix_technician_absences_technician", "technician_absences", ["technician_id", "end_at"])
    op.create_table(
        "failure_skills",
        sa.Column("id", BIGINT_ID, primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("skill", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(64)),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.UniqueConstraint("tenant", "kind", name="uq_failure_skills_tenant_kind"),
    )
    op.create_index("ix_failure_skills_tenant", "failure_skills", ["tenant"])
    op.create_table(
        "dispatch_plans",
        sa.Column("id", BIGINT_ID, primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("horizon_end", sa.Double(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("committed_at", sa.Double()),
        sa.Column("committed_by", sa.String(200)),
    )
    op.create_index("ix_dispatch_plans_tenant_created", "dispatch_plans", ["tenant", "created_at"])


def _create_notification_tables() -> None:
    op.create_table(
        "contact_points",
        sa.Column("recipient_kind", sa.String(16), primary_key=True),
        sa.Column("recipient_id", BIGINT_ID, primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("webhook_url", sa.String(2048), nullable=True),
        sa.Column("webhook_secret", sa.String(128), nullable=True),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.CheckConstraint("recipient_kind IN ('technician', 'customer')", name="ck_contact_points_recipient_kind"),
        sa.CheckConstraint("channel IN ('email', 'webhook')", name="ck_contact_points_channel"),
    )
    op.create_index("ix_contact_points_tenant", "contact_points", ["tenant"])
    op.create_table(
        "notifications",
        sa.Column("id", BIGINT_ID, primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=False),
        sa.Column("delivery_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("recipient_kind", sa.String(16), nullable=False),
        sa.Column("recipient_id", BIGINT_ID, nullable=False),
        sa.Column("order_id", BIGINT_ID, nullable=True),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("address", sa.String(2048), nullable=True),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Double(), nullable=False),
        sa.Column("claim", sa.String(32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("sent_at", sa.Double(), nullable=True),
        sa.UniqueConstraint("dedupe_key"),
        sa.UniqueConstraint("delivery_id"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed', 'no_contact')", name="ck_notifications_status"),
        sa.CheckConstraint("kind IN ('assignment', 'visit_window')", name="ck_notifications_kind"),
        sa.CheckConstraint("recipient_kind IN ('technician', 'customer')", name="ck_notifications_recipient_kind"),
    )
    op.create_index("ix_notifications_due", "notifications", ["status", "next_attempt_at"])
    op.create_index("ix_notifications_tenant_created", "notifications", ["tenant", "created_at"])
    op.create_index("ix_notifications_order_id", "notifications", ["order_id"])


def downgrade() -> None:
    raise NotImplementedError("revision 0006 cannot be undone: restore the backup taken before upgrading")
