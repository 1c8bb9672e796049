"""release 0.1: assets, events, usage, work orders, the model registry, contracts, credentials, rollouts

The schema release 0.1 (commit ce1b3d3) created with `METADATA.create_all`, spelled out here so
it stays what that release wrote whatever the tables become. A database of that release has
these tables and no `alembic_version`; `cloud.store.schema` stamps it as this revision.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
OPEN_STATUSES = "('proposed', 'approved', 'in_progress')"


def _col(name: str, type_: sa.types.TypeEngine[Any], *args: SchemaItem, null: bool = False,
         unique: bool = False) -> sa.Column[Any]:
    """A column as release 0.1 mapped it: NOT NULL unless its annotation was Optional."""
    return sa.Column(name, type_, *args, nullable=null, unique=unique)


def upgrade() -> None:
    _create_fleet()
    _create_registry()
    _create_security_and_rollouts()


def _create_fleet() -> None:
    op.create_table(
        "assets",
        sa.Column("device_id", sa.String(64), primary_key=True),
        _col("tenant", sa.String(64)),
        _col("asset_kind", sa.String(64)),
        _col("first_seen", sa.Double()),
        _col("last_seen", sa.Double()),
        _col("online", sa.Boolean()),
        _col("state_ts", sa.Double(), null=True),
        _col("agent_version", sa.String(64)),
        _col("model_id", sa.String(128)),
        _col("model_version", sa.String(64)),
        _col("channels", sa.JSON()),
        _col("health", sa.JSON()),
        _col("last_score", sa.Double(), null=True),
        _col("last_score_at", sa.Double(), null=True),
        _col("last_anomaly_at", sa.Double(), null=True),
    )
    op.create_index("ix_assets_tenant", "assets", ["tenant"])
    op.create_table(
        "work_orders",
        sa.Column("id", BIGINT_ID, primary_key=True),
        _col("device_id", sa.String(64), sa.ForeignKey("assets.device_id")),
        _col("tenant", sa.String(64)),
        _col("status", sa.String(16)),
        _col("rule", sa.String(64)),
        _col("reason", sa.Text()),
        _col("evidence", sa.JSON()),
        _col("created_at", sa.Double()),
        _col("updated_at", sa.Double()),
        _col("decided_by", sa.String(128), null=True),
        _col("decided_at", sa.Double(), null=True),
        _col("decision_note", sa.Text(), null=True),
        sa.CheckConstraint(
            "status IN ('proposed', 'approved', 'in_progress', 'done', 'rejected')", name="ck_work_orders_status"
        ),
    )
    op.create_index("ix_work_orders_device_id", "work_orders", ["device_id"])
    op.create_index("ix_work_orders_status", "work_orders", ["status"])
    op.create_index(
        "uq_work_orders_open_per_asset", "work_orders", ["device_id"], unique=True,
        sqlite_where=sa.text(f"status IN {OPEN_STATUSES}"), postgresql_where=sa.text(f"status IN {OPEN_STATUSES}"),
    )
    op.create_table(
        "events",
        sa.Column("id", BIGINT_ID, primary_key=True),
        _col("message_id", sa.String(64), unique=True),
        _col("device_id", sa.String(64), sa.ForeignKey("assets.device_id")),
        _col("tenant", sa.String(64)),
        _col("seq", sa.BigInteger()),
        _col("kind", sa.String(16)),
        _col("ts", sa.Double()),
        _col("received_at", sa.Double()),
        _col("score", sa.Double()),
        _col("threshold", sa.Double()),
        _col("is_anomaly", sa.Boolean()),
        _col("contributions", sa.JSON()),
        _col("model_id", sa.String(128)),
        _col("model_version", sa.String(64)),
        _col("window_start", sa.Double()),
        _col("window_end", sa.Double()),
        _col("window_samples", sa.Integer()),
        _col("rul_cycles", sa.Double(), null=True),
        _col("rul_lower", sa.Double(), null=True),
        _col("rul_upper", sa.Double(), null=True),
        _col("work_order_id", BIGINT_ID, sa.ForeignKey("work_orders.id"), null=True),
    )
    op.create_index("ix_events_device_ts", "events", ["device_id", "ts"])
    op.create_index("ix_events_work_order_id", "events", ["work_order_id"])
    op.create_table(
        "usage_reports",
        sa.Column("id", BIGINT_ID, primary_key=True),
        _col("message_id", sa.String(64), unique=True),
        _col("device_id", sa.String(64), sa.ForeignKey("assets.device_id")),
        _col("tenant", sa.String(64)),
        _col("seq", sa.BigInteger()),
        _col("ts", sa.Double()),
        _col("period_start", sa.Double()),
        _col("period_end", sa.Double()),
        _col("received_at", sa.Double()),
        _col("counters", sa.JSON()),
        _col("units", sa.JSON()),
        sa.UniqueConstraint("device_id", "seq", name="uq_usage_reports_device_seq"),
    )
    op.create_index("ix_usage_reports_device_ts", "usage_reports", ["device_id", "ts"])


def _create_registry() -> None:
    op.create_table(
        "model_artifacts",
        sa.Column("model_id", sa.String(128), primary_key=True),
        sa.Column("version", sa.String(64), primary_key=True),
        _col("kind", sa.String(16)),
        _col("asset_kind", sa.String(64)),
        _col("device_id", sa.String(64), null=True),
        _col("channels", sa.JSON()),
        _col("window", sa.Integer()),
        _col("normalisation", sa.JSON()),
        _col("threshold", sa.Double()),
        _col("training_fingerprint", sa.String(128)),
        _col("metrics", sa.JSON()),
        _col("created_at", sa.String(40)),
        _col("registered_at", sa.Double()),
        _col("registered_by", sa.String(128)),
        _col("size_bytes", sa.Integer()),
        _col("sha256", sa.String(64)),
        _col("signature", sa.String(128)),
        _col("signing_key_id", sa.String(64)),
        _col("meta", sa.JSON()),
        _col("content", sa.LargeBinary()),
    )
    for column in ("kind", "asset_kind", "device_id"):
        op.create_index(f"ix_model_artifacts_{column}", "model_artifacts", [column])
    op.create_table(
        "desired_state",
        sa.Column("id", BIGINT_ID, primary_key=True),
        _col("device_id", sa.String(64), sa.ForeignKey("assets.device_id")),
        _col("model_id", sa.String(128)),
        _col("model_version", sa.String(64)),
        _col("requested_by", sa.String(128)),
        _col("requested_at", sa.Double()),
        _col("explanation", sa.Text()),
        _col("command_message_id", sa.String(64), null=True),
        _col("command_published_at", sa.Double(), null=True),
        _col("sample_rate_hz", sa.Double(), null=True),
        sa.ForeignKeyConstraint(["model_id", "model_version"], ["model_artifacts.model_id", "model_artifacts.version"]),
    )
    op.create_index("ix_desired_state_device", "desired_state", ["device_id", "id"])
    op.create_table(
        "contracts",
        sa.Column("device_id", sa.String(64), primary_key=True),
        _col("maintenance_horizon_cycles", sa.Double()),
        _col("customer", sa.String(256), null=True),
        _col("updated_at", sa.Double()),
    )
    op.create_table(
        "work_order_findings",
        sa.Column("id", BIGINT_ID, primary_key=True),
        _col("work_order_id", BIGINT_ID, sa.ForeignKey("work_orders.id"), unique=True),
        _col("device_id", sa.String(64)),
        _col("model_id", sa.String(128)),
        _col("model_version", sa.String(64)),
        _col("finding", sa.String(16)),
        _col("technician", sa.String(128)),
        _col("notes", sa.Text(), null=True),
        _col("recorded_at", sa.Double()),
        sa.CheckConstraint("finding IN ('true_fault', 'false_alarm')", name="ck_findings_finding"),
    )
    op.create_index("ix_findings_model", "work_order_findings", ["model_id", "model_version"])


def _create_security_and_rollouts() -> None:
    op.create_table(
        "device_credentials",
        sa.Column("id", BIGINT_ID, primary_key=True),
        _col("username", sa.String(200), unique=True),
        _col("device_id", sa.String(64)),
        _col("tenant", sa.String(64)),
        _col("password_hash", sa.String(256)),
        _col("issued_at", sa.Double()),
        _col("expires_at", sa.Double()),
        _col("revoke_at", sa.Double(), null=True),
        _col("revoked_at", sa.Double(), null=True),
    )
    op.create_index("ix_device_credentials_device", "device_credentials", ["device_id", "id"])
    op.create_table(
        "rollouts",
        sa.Column("id", BIGINT_ID, primary_key=True),
        _col("model_id", sa.String(128)),
        _col("model_version", sa.String(64)),
        _col("status", sa.String(16)),
        _col("plan", sa.JSON()),
        _col("current_stage", sa.Integer()),
        _col("failure_budget", sa.Integer()),
        _col("device_deadline_s", sa.Double()),
        _col("requested_by", sa.String(128)),
        _col("created_at", sa.Double()),
        _col("updated_at", sa.Double()),
        _col("halted_reason", sa.Text(), null=True),
        sa.ForeignKeyConstraint(["model_id", "model_version"], ["model_artifacts.model_id", "model_artifacts.version"]),
        sa.CheckConstraint("status IN ('running', 'completed', 'halted')", name="ck_rollouts_status"),
    )
    op.create_index("ix_rollouts_status", "rollouts", ["status"])
    op.create_table(
        "rollout_devices",
        sa.Column("rollout_id", BIGINT_ID, sa.ForeignKey("rollouts.id"), primary_key=True),
        sa.Column("device_id", sa.String(64), sa.ForeignKey("assets.device_id"), primary_key=True),
        _col("position", sa.Integer()),
        _col("stage", sa.Integer()),
        _col("status", sa.String(16)),
        _col("detail", sa.Text()),
        _col("sent_at", sa.Double(), null=True),
        _col("command_published", sa.Boolean()),
        _col("finished_at", sa.Double(), null=True),
        sa.CheckConstraint(
            "status IN ('waiting', 'pending', 'applied', 'failed', 'stuck')", name="ck_rollout_devices_status"
        ),
    )


def downgrade() -> None:
    for table in ("rollout_devices", "rollouts", "device_credentials", "work_order_findings", "contracts",
                  "desired_state", "model_artifacts", "usage_reports", "events", "work_orders", "assets"):
        op.drop_table(table)
