"""The relational store's schema migrations (Alembic), shipped inside the package so every install can upgrade.

Revision 0001 is the schema of release 0.1, which created its tables without Alembic: a
database holding those tables but no `alembic_version` table is therefore at 0001, and
`cloud.store.schema` stamps it so before upgrading. Each later revision is one file in
`versions/`; an upgrade applies them in one transaction (on SQLite too). `env.py` says how to add one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import op

from cloud.store.tables import METADATA

SCRIPT_LOCATION = Path(__file__).resolve().parent
BASELINE_REVISION = "0001"
# What release 0.1 created with METADATA.create_all (ts_series and ts_readings belong to the time-series store).
BASELINE_TABLES = frozenset({
    "assets", "events", "usage_reports", "work_orders", "model_artifacts", "desired_state", "contracts",
    "work_order_findings", "device_credentials", "rollouts", "rollout_devices",
})
# Where cloud.store.schema puts the open connection and the progress callback in the Alembic config.
CONNECTION_ATTRIBUTE = "connection"
PROGRESS_ATTRIBUTE = "progress"


def report(message: str) -> None:
    """From inside a revision: tell whoever runs the upgrade what a long step is doing (nothing if no one listens)."""
    config = op.get_context().config
    progress = config.attributes.get(PROGRESS_ATTRIBUTE) if config is not None else None
    if progress is not None:
        progress(message)


def is_ours(name: str | None, type_: str, _parent_names: Any) -> bool:
    """Alembic's `include_name`: compare only our tables (PostgreSQL may also hold the time-series store's)."""
    return type_ != "table" or name in METADATA.tables
