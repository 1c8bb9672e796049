"""manifest counters: each desired state carries a signed manifest with a per-device anti-rollback counter

New table `manifest_counters`, one row per device: the last counter given to it (raised in
the transaction that stores the device's next desired state, see cloud.registry.manifests).
`desired_state` gains the manifest sent with the row (its counter, text, signature and key
id), unique per (device, counter). Nothing is backfilled: rows stored before have no
manifest (NULL), a device's first manifest gets counter 1, and re-sending an old wish signs
it anew. There is no downgrade: restore the backup taken before upgrading.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cloud.store.migrations import report

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    report("creating manifest_counters")
    op.create_table(
        "manifest_counters",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("last_counter", sa.BigInteger(), nullable=False),
    )
    report("adding the signed manifest to desired_state")
    op.add_column("desired_state", sa.Column("manifest_counter", sa.BigInteger(), nullable=True))
    op.add_column("desired_state", sa.Column("manifest", sa.Text(), nullable=True))
    op.add_column("desired_state", sa.Column("manifest_signature", sa.String(128), nullable=True))
    op.add_column("desired_state", sa.Column("manifest_key_id", sa.String(64), nullable=True))
    op.create_index("uq_desired_state_device_counter", "desired_state", ["device_id", "manifest_counter"],
                    unique=True)


def downgrade() -> None:
    raise NotImplementedError("revision 0005 cannot be undone: restore the backup taken before upgrading")
