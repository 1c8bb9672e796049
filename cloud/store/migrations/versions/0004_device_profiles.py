"""device profiles: the kinds of asset a tenant registers beyond the built-in pump and turbofan

New table `device_profiles`, one row per (tenant, kind): the kind's channels (name, unit,
label), a description and the model it usually runs. Nothing is backfilled: the built-in
profiles are not rows (they live in contract/channels.py), and an asset already stored with
another kind (e.g. `custom`, whose telemetry release 0.1 refused) simply has no profile yet:
it is listed as pending until its tenant registers one. There is no downgrade: restore the
backup taken before upgrading.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cloud.store.migrations import report

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    report("creating device_profiles")
    op.create_table(
        "device_profiles",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(64), primary_key=True),
        sa.Column("description", sa.String(1000), nullable=False),
        sa.Column("model_id", sa.String(128), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("revision 0004 cannot be undone: restore the backup taken before upgrading")
