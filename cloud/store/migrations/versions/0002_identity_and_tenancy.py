"""identity and tenancy: accounts, API keys, sign-in failures, an append-only audit log, a tenant on every owned row

New tables: customers, technicians, users, api_keys, refresh_tokens, sign_in_failures and
audit_log, which triggers keep append-only (UPDATE, DELETE, and on PostgreSQL TRUNCATE, are
refused). Contracts, model artifacts, desired states and rollouts gain a `tenant`; the
registry is keyed by (tenant, model id, version). Release 0.1 had one registry visible to all,
so the rows are backfilled as follows, and what has no owner goes to LEGACY_TENANT:

- a contract, a desired state: the tenant of the asset with its device id;
- a model fitted for one device: that device's tenant;
- a generic model (no device): copied into every tenant that has assets;
- a rollout: the tenant of its first device (by position);
- a model a desired state or rollout of another tenant uses (release 0.1 did not forbid it):
  copied into that tenant, so nothing that ran stops resolving.

SQLite cannot change a key in place: there the four tables are rebuilt from their full
definition below (Alembic's batch mode); PostgreSQL alters them. There is no downgrade:
restore the backup taken before upgrading.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cloud.store.migrations import report

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LEGACY_TENANT = "default"
BIGINT_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
ROLES = "('admin', 'planner', 'technician', 'customer', 'operator', 'viewer')"

# The four re-keyed tables as this revision leaves them (SQLite rebuilds them from these).
_AT_0002 = sa.MetaData()
_AT_0002_STUBS = (
    sa.Table("assets", _AT_0002, sa.Column("device_id", sa.String(64), primary_key=True), sa.Column("tenant")),
    sa.Table("customers", _AT_0002, sa.Column("id", BIGINT_ID, primary_key=True)),
    sa.Table("rollout_devices", _AT_0002, sa.Column("rollout_id"), sa.Column("device_id"), sa.Column("position")),
)
MODEL_ARTIFACTS = sa.Table(
    "model_artifacts", _AT_0002,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("model_id", sa.String(128), primary_key=True),
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("asset_kind", sa.String(64), nullable=False),
    sa.Column("device_id", sa.String(64)),
    sa.Column("channels", sa.JSON(), nullable=False),
    sa.Column("window", sa.Integer(), nullable=False),
    sa.Column("normalisation", sa.JSON(), nullable=False),
    sa.Column("threshold", sa.Double(), nullable=False),
    sa.Column("training_fingerprint", sa.String(128), nullable=False),
    sa.Column("metrics", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("registered_at", sa.Double(), nullable=False),
    sa.Column("registered_by", sa.String(128), nullable=False),
    sa.Column("size_bytes", sa.Integer(), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("signature", sa.String(128), nullable=False),
    sa.Column("signing_key_id", sa.String(64), nullable=False),
    sa.Column("meta", sa.JSON(), nullable=False),
    sa.Column("content", sa.LargeBinary(), nullable=False),
    sa.Index("ix_model_artifacts_kind", "kind"),
    sa.Index("ix_model_artifacts_asset_kind", "asset_kind"),
    sa.Index("ix_model_artifacts_device_id", "device_id"),
)
_MODEL_FK = (["tenant", "model_id", "model_version"],
             ["model_artifacts.tenant", "model_artifacts.model_id", "model_artifacts.version"])
DESIRED_STATE = sa.Table(
    "desired_state", _AT_0002,
    sa.Column("id", BIGINT_ID, primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("device_id", sa.String(64), sa.ForeignKey("assets.device_id"), nullable=False),
    sa.Column("model_id", sa.String(128), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("requested_by", sa.String(128), nullable=False),
    sa.Column("requested_at", sa.Double(), nullable=False),
    sa.Column("explanation", sa.Text(), nullable=False),
    sa.Column("command_message_id", sa.String(64)),
    sa.Column("command_published_at", sa.Double()),
    sa.Column("sample_rate_hz", sa.Double()),
    sa.ForeignKeyConstraint(*_MODEL_FK, name="fk_desired_state_model"),
    sa.Index("ix_desired_state_device", "device_id", "id"),
)
ROLLOUTS = sa.Table(
    "rollouts", _AT_0002,
    sa.Column("id", BIGINT_ID, primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("model_id", sa.String(128), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("plan", sa.JSON(), nullable=False),
    sa.Column("current_stage", sa.Integer(), nullable=False),
    sa.Column("failure_budget", sa.Integer(), nullable=False),
    sa.Column("device_deadline_s", sa.Double(), nullable=False),
    sa.Column("requested_by", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=False),
    sa.Column("halted_reason", sa.Text()),
    sa.ForeignKeyConstraint(*_MODEL_FK, name="fk_rollouts_model"),
    sa.CheckConstraint("status IN ('running', 'completed', 'halted')", name="ck_rollouts_status"),
    sa.Index("ix_rollouts_tenant", "tenant"),
    sa.Index("ix_rollouts_status", "status"),
)
CONTRACTS = sa.Table(
    "contracts", _AT_0002,
    sa.Column("device_id", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("maintenance_horizon_cycles", sa.Double(), nullable=False),
    sa.Column("customer", sa.String(256)),
    sa.Column("customer_id", BIGINT_ID, sa.ForeignKey("customers.id")),
    sa.Column("updated_at", sa.Double(), nullable=False),
    sa.Index("ix_contracts_tenant", "tenant"),
    sa.Index("ix_contracts_customer_id", "customer_id"),
)


def upgrade() -> None:
    report("creating customers, technicians, users, api_keys, refresh_tokens, sign_in_failures, audit_log")
    _create_directory_and_accounts()
    _create_audit_log()
    report("adding a tenant to contracts, model artifacts, desired states and rollouts, from their assets")
    for table in ("contracts", "model_artifacts", "desired_state", "rollouts"):
        op.add_column(table, sa.Column("tenant", sa.String(64)))
    op.add_column("contracts", sa.Column("customer_id", BIGINT_ID))
    _backfill_tenants()
    report("keying the model registry by tenant; copying shared models into each tenant")
    _rekey_model_artifacts()
    _copy_models_into_tenants()
    _rekey_users_of_models()


def _create_directory_and_accounts() -> None:
    for name in ("customers", "technicians"):
        op.create_table(
            name,
            sa.Column("id", BIGINT_ID, primary_key=True),
            sa.Column("tenant", sa.String(64), nullable=False),
            sa.Column("name", sa.String(256), nullable=False),
            sa.Column("created_at", sa.Double(), nullable=False),
            sa.UniqueConstraint("tenant", "name", name=f"uq_{name}_tenant_name"),
        )
        op.create_index(f"ix_{name}_tenant", name, ["tenant"])
    op.create_table(
        "users",
        sa.Column("id", BIGINT_ID, primary_key=True),
        sa.Column("username", sa.String(128), nullable=False, unique=True),
        sa.Column("tenant", sa.String(64)),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("customer_id", BIGINT_ID, sa.ForeignKey("customers.id")),
        sa.Column("technician_id", BIGINT_ID, sa.ForeignKey("technicians.id")),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.CheckConstraint(f"role IN {ROLES}", name="ck_users_role"),
    )
    op.create_index("ix_users_tenant", "users", ["tenant"])
    op.create_table(
        "api_keys",
        sa.Column("id", BIGINT_ID, primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("tenant", sa.String(64)),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("customer_id", BIGINT_ID, sa.ForeignKey("customers.id")),
        sa.Column("technician_id", BIGINT_ID, sa.ForeignKey("technicians.id")),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("revoked_at", sa.Double()),
        sa.CheckConstraint(f"role IN {ROLES}", name="ck_api_keys_role"),
    )
    op.create_index("ix_api_keys_tenant", "api_keys", ["tenant"])
    op.create_table(
        "refresh_tokens",
        sa.Column("id", BIGINT_ID, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", BIGINT_ID, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("family", sa.String(32), nullable=False),
        sa.Column("issued_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("used_at", sa.Double()),
        sa.Column("revoked_at", sa.Double()),
    )
    op.create_index("ix_refresh_tokens_user_id", "refresh_tokens", ["user_id"])
    op.create_index("ix_refresh_tokens_family", "refresh_tokens", ["family"])
    op.create_table(
        "sign_in_failures",
        sa.Column("id", BIGINT_ID, primary_key=True),
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
    )
    op.create_index("ix_sign_in_failures_username_at", "sign_in_failures", ["username", "at"])
    op.create_index("ix_sign_in_failures_client_at", "sign_in_failures", ["client", "at"])


def _create_audit_log() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", BIGINT_ID, primary_key=True),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("tenant", sa.String(64)),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("actor_role", sa.String(16)),
        sa.Column("actor_tenant", sa.String(64)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String(200), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("before", sa.JSON()),
        sa.Column("after", sa.JSON()),
    )
    op.create_index("ix_audit_log_tenant_at", "audit_log", ["tenant", "at"])
    op.create_index("ix_audit_log_actor", "audit_log", ["actor"])
    op.create_index("ix_audit_log_object", "audit_log", ["object_type", "object_id"])
    if op.get_bind().dialect.name == "sqlite":
        for event, verb in (("UPDATE", "changed"), ("DELETE", "deleted")):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: its rows cannot be {verb}'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'audit_log is append-only: % is refused', TG_OP; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
    )


def _backfill_tenants() -> None:
    assets, rollout_devices = _AT_0002.tables["assets"], _AT_0002.tables["rollout_devices"]

    def tenant_of(device_id: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
        owner = sa.select(assets.c.tenant).where(assets.c.device_id == device_id).scalar_subquery()
        return sa.func.coalesce(owner, LEGACY_TENANT)

    for table in (CONTRACTS, DESIRED_STATE):
        op.execute(table.update().values(tenant=tenant_of(table.c.device_id)))
    bound = MODEL_ARTIFACTS.c.device_id.is_not(None)
    op.execute(MODEL_ARTIFACTS.update().where(bound).values(tenant=tenant_of(MODEL_ARTIFACTS.c.device_id)))
    # A shared model goes to the first tenant here; _copy_models_into_tenants gives the others their copy.
    first_tenant = sa.func.coalesce(sa.select(sa.func.min(assets.c.tenant)).scalar_subquery(), LEGACY_TENANT)
    op.execute(MODEL_ARTIFACTS.update().where(~bound).values(tenant=first_tenant))
    # Correlated to the row being updated explicitly: nested two levels deep, it would not be by itself.
    first_device = (
        sa.select(rollout_devices.c.device_id).where(rollout_devices.c.rollout_id == ROLLOUTS.c.id)
        .order_by(rollout_devices.c.position, rollout_devices.c.device_id).limit(1)
        .correlate(ROLLOUTS).scalar_subquery()
    )
    op.execute(ROLLOUTS.update().values(tenant=tenant_of(first_device)))


def _rekey_model_artifacts() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(MODEL_ARTIFACTS)
        return
    # Release 0.1's foreign keys were unnamed: these are the names PostgreSQL gave them.
    op.drop_constraint("desired_state_model_id_model_version_fkey", "desired_state", type_="foreignkey")
    op.drop_constraint("rollouts_model_id_model_version_fkey", "rollouts", type_="foreignkey")
    op.drop_constraint("model_artifacts_pkey", "model_artifacts", type_="primary")
    op.alter_column("model_artifacts", "tenant", nullable=False)
    op.create_primary_key("model_artifacts_pkey", "model_artifacts", ["tenant", "model_id", "version"])


def _copy_models_into_tenants() -> None:
    models, assets = MODEL_ARTIFACTS, _AT_0002.tables["assets"]
    rest = [c for c in models.c if c.name != "tenant"]
    names = ["tenant", *(c.name for c in rest)]
    tenants = sa.select(assets.c.tenant).distinct().subquery("tenants")
    shared = (
        sa.select(tenants.c.tenant, *rest).select_from(models.join(tenants, tenants.c.tenant != models.c.tenant))
        .where(models.c.device_id.is_(None))
    )
    op.execute(models.insert().from_select(names, shared))
    used = sa.union(
        sa.select(DESIRED_STATE.c.tenant, DESIRED_STATE.c.model_id, DESIRED_STATE.c.model_version),
        sa.select(ROLLOUTS.c.tenant, ROLLOUTS.c.model_id, ROLLOUTS.c.model_version),
    ).subquery("used")
    other = models.alias("other")
    same_model = sa.and_(other.c.model_id == used.c.model_id, other.c.version == used.c.model_version)
    source_tenant = sa.select(sa.func.min(other.c.tenant)).where(same_model).scalar_subquery()
    missing = (
        sa.select(used.c.tenant, *rest)
        .select_from(used.join(models, sa.and_(models.c.model_id == used.c.model_id,
                                                models.c.version == used.c.model_version)))
        .where(models.c.tenant == source_tenant, ~sa.select(other.c.tenant).where(
            same_model, other.c.tenant == used.c.tenant).exists())
    )
    op.execute(models.insert().from_select(names, missing))


def _rekey_users_of_models() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in (DESIRED_STATE, ROLLOUTS, CONTRACTS):
            _rebuild(table)
        return
    for name in ("desired_state", "rollouts", "contracts"):
        op.alter_column(name, "tenant", nullable=False)
    op.create_foreign_key("fk_desired_state_model", "desired_state", "model_artifacts",
                          ["tenant", "model_id", "model_version"], ["tenant", "model_id", "version"])
    op.create_foreign_key("fk_rollouts_model", "rollouts", "model_artifacts",
                          ["tenant", "model_id", "model_version"], ["tenant", "model_id", "version"])
    op.create_index("ix_rollouts_tenant", "rollouts", ["tenant"])
    op.create_index("ix_contracts_tenant", "contracts", ["tenant"])
    op.create_index("ix_contracts_customer_id", "contracts", ["customer_id"])
    op.create_foreign_key(None, "contracts", "customers", ["customer_id"], ["id"])


def _rebuild(table: sa.Table) -> None:
    """SQLite: recreate `table` as defined above, copying its rows (foreign keys are checked before commit)."""
    with op.batch_alter_table(table.name, copy_from=table, recreate="always"):
        pass


def downgrade() -> None:
    raise NotImplementedError("revision 0002 cannot be undone: restore the backup taken before upgrading")
