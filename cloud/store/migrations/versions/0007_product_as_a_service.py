"""product as a service: contracts with versioned plans, metering, statements, offers, consent, a human to ask

New tables: `service_contracts` (a customer's contract over assets, `contract_assets` with
from/to), `contract_versions` (a plan's terms in force from a date; the past never rewritten),
`customer_details` (language, contacts), `asset_state_log` (every online/offline state a device
reported, for downtime), `statements` (issued monthly statements and their corrections:
immutable documents), `consents` (the append-only ledger per customer and purpose),
`offer_plans` and `offers` (the catalogue and the drafted, reviewed, sent and answered offers),
`help_requests` and `help_answers` (a customer asking for a person, and the answers).
`notifications` may now also carry offers and answers to help requests: its kind check is
rebuilt (SQLite: the table is rebuilt from its definition below). Nothing is backfilled: the
per-asset contracts stay as they were (their horizon still applies where no service contract
sets one), the state log starts empty. There is no downgrade: restore the backup.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cloud.store.migrations import report

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
NOTIFICATION_KINDS = "('assignment', 'visit_window', 'help_answer', 'offer')"

# notifications as this revision leaves it (SQLite rebuilds it from this).
_AT_0007 = sa.MetaData()
NOTIFICATIONS = sa.Table(
    "notifications", _AT_0007,
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
    sa.CheckConstraint(f"kind IN {NOTIFICATION_KINDS}", name="ck_notifications_kind"),
    sa.CheckConstraint("recipient_kind IN ('technician', 'customer')", name="ck_notifications_recipient_kind"),
    sa.Index("ix_notifications_due", "status", "next_attempt_at"),
    sa.Index("ix_notifications_tenant_created", "tenant", "created_at"),
    sa.Index("ix_notifications_order_id", "order_id"),
)


def upgrade() -> None:
    report("creating the contract, metering, statement, consent, offer and help-request tables")
    _create_tables()
    report("letting notifications carry offers and answers")
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("notifications", copy_from=NOTIFICATIONS, recreate="always"):
            pass
    else:
        op.drop_constraint("ck_notifications_kind", "notifications", type_="check")
        op.create_check_constraint("ck_notifications_kind", "notifications", f"kind IN {NOTIFICATION_KINDS}")


def _create_tables() -> None:
    op.create_table('asset_state_log',
    sa.Column('id', BIGINT_ID, nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('ts', sa.Double(), nullable=False),
    sa.Column('online', sa.Boolean(), nullable=False),
    sa.Column('received_at', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('device_id', 'message_id', name='uq_asset_state_log_device_message')
    )
    op.create_index('ix_asset_state_log_device_ts', 'asset_state_log', ['device_id', 'ts'])
    op.create_table('offer_plans',
    sa.Column('id', BIGINT_ID, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('price_per_hour', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('price_per_cycle', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('price_per_kwh', sa.Numeric(precision=18, scale=6), nullable=True),
    sa.Column('monthly_minimum', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('monthly_fee', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('expected_saving', sa.Numeric(precision=18, scale=6), nullable=False),
    sa.Column('basis', sa.Text(), nullable=False),
    sa.Column('created_at', sa.Double(), nullable=False),
    sa.CheckConstraint("kind IN ('plan', 'extended_care', 'operator_training')", name='ck_offer_plans_kind'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant', 'name', name='uq_offer_plans_tenant_name')
    )
    op.create_index('ix_offer_plans_tenant', 'offer_plans', ['tenant'])
    op.create_table('consents',
    sa.Column('id', BIGINT_ID, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('customer_id', BIGINT_ID, nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('granted', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('recorded_at', sa.Double(), nullable=False),
    sa.Column('recorded_by', sa.String(length=200), nullable=False),
    sa.CheckConstraint(
        "purpose IN ('maintenance', 'usage_analytics', 'personalised_offers', 'partner_sharing')",
        name='ck_consents_purpose',
    ),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_consents_customer_purpose', 'consents', ['customer_id', 'purpose', 'id'])
    op.create_index('ix_consents_tenant', 'consents', ['tenant'])
    op.create_table('customer_details',
    sa.Column('customer_id', BIGINT_ID, nullable=False),
    sa.Column('language', sa.String(length=35), server_default='en', nullable=False),
    sa.Column('contacts', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.Double(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('customer_id')
    )
    op.create_table('help_requests',
    sa.Column('id', BIGINT_ID, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('customer_id', BIGINT_ID, nullable=False),
    sa.Column('about_kind', sa.String(length=16), nullable=True),
    sa.Column('about_id', BIGINT_ID, nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('complaint', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('history', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.Double(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('first_answered_at', sa.Double(), nullable=True),
    sa.Column('first_answered_by', sa.String(length=200), nullable=True),
    sa.Column('closed_at', sa.Double(), nullable=True),
    sa.Column('closed_by', sa.String(length=200), nullable=True),
    sa.CheckConstraint(
        "about_kind IS NULL OR about_kind IN ('statement', 'offer', 'notification', 'work_order')",
        name='ck_help_requests_about_kind',
    ),
    sa.CheckConstraint("status IN ('open', 'answered', 'closed')", name='ck_help_requests_status'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_help_requests_customer_id', 'help_requests', ['customer_id'])
    op.create_index('ix_help_requests_tenant_status', 'help_requests', ['tenant', 'status', 'created_at'])
    op.create_table('offers',
    sa.Column('id', BIGINT_ID, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('customer_id', BIGINT_ID, nullable=False),
    sa.Column('contract_id', BIGINT_ID, nullable=True),
    sa.Column('device_id', sa.String(length=64), nullable=True),
    sa.Column('plan_id', BIGINT_ID, nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('explanation', sa.Text(), nullable=False),
    sa.Column('expected_value', sa.Numeric(precision=18, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('data_used', sa.JSON(), nullable=False),
    sa.Column('purposes', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.Double(), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_at', sa.Double(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('sent_at', sa.Double(), nullable=True),
    sa.Column('notification_id', BIGINT_ID, nullable=True),
    sa.Column('responded_at', sa.Double(), nullable=True),
    sa.Column('response_note', sa.Text(), nullable=True),
    sa.CheckConstraint(
        "kind IN ('cheaper_plan', 'smaller_plan', 'extended_care', 'operator_training', 'operation_advice')",
        name='ck_offers_kind',
    ),
    sa.CheckConstraint(
        "status IN ('draft', 'approved', 'sent', 'rejected', 'withdrawn', 'accepted', 'declined')",
        name='ck_offers_status',
    ),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.ForeignKeyConstraint(['plan_id'], ['offer_plans.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe_key')
    )
    op.create_index('ix_offers_customer_id', 'offers', ['customer_id'])
    op.create_index('ix_offers_tenant_status', 'offers', ['tenant', 'status'])
    op.create_table('service_contracts',
    sa.Column('id', BIGINT_ID, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('customer_id', BIGINT_ID, nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.Double(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_service_contracts_customer_id', 'service_contracts', ['customer_id'])
    op.create_index('ix_service_contracts_tenant', 'service_contracts', ['tenant'])
    op.create_table('contract_assets',
    sa.Column('id', BIGINT_ID, nullable=False),
    sa.Column('contract_id', BIGINT_ID, nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('from_ts', sa.Double(), nullable=False),
    sa.Column('to_ts', sa.Double(), nullable=True),
    sa.ForeignKeyConstraint(['contract_id'], ['service_contracts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_contract_assets_contract', 'contract_assets', ['contract_id', 'from_ts'])
    op.create_index('ix_contract_assets_device', 'contract_assets', ['device_id', 'from_ts'])
    op.create_table('contract_versions',
    sa.Column('id', BIGINT_ID, nullable=False),
    sa.Column('contract_id', BIGINT_ID, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('terms', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.Double(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['contract_id'], ['service_contracts.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('contract_id', 'effective_from', name='uq_contract_versions_contract_effective'),
    sa.UniqueConstraint('contract_id', 'version', name='uq_contract_versions_contract_version')
    )
    op.create_table('help_answers',
    sa.Column('id', BIGINT_ID, nullable=False),
    sa.Column('request_id', BIGINT_ID, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('answered_by', sa.String(length=200), nullable=False),
    sa.Column('answered_at', sa.Double(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['help_requests.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_help_answers_request', 'help_answers', ['request_id', 'id'])
    op.create_table('statements',
    sa.Column('id', BIGINT_ID, nullable=False),
    sa.Column('tenant', sa.String(length=64), nullable=False),
    sa.Column('contract_id', BIGINT_ID, nullable=False),
    sa.Column('customer_id', BIGINT_ID, nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('corrects_id', BIGINT_ID, nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('total', sa.String(length=40), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('closed_at', sa.Double(), nullable=False),
    sa.Column('closed_by', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.CheckConstraint('revision >= 0', name='ck_statements_revision'),
    sa.ForeignKeyConstraint(['contract_id'], ['service_contracts.id'], ),
    sa.ForeignKeyConstraint(['corrects_id'], ['statements.id'], ),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('contract_id', 'period', 'revision', name='uq_statements_contract_period_revision')
    )
    op.create_index('ix_statements_contract_id', 'statements', ['contract_id'])
    op.create_index('ix_statements_customer_id', 'statements', ['customer_id'])
    op.create_index('ix_statements_tenant', 'statements', ['tenant'])


def downgrade() -> None:
    raise NotImplementedError("revision 0007 cannot be undone: restore the backup taken before upgrading")
