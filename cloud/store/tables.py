"""The relational schema: assets, their events and usage reports, work orders, and the model registry with its labels.

Times are stored as UTC epoch seconds (float), as on the wire: the same on SQLite and
PostgreSQL, and no time-zone conversion can shift them. Every row a tenant owns carries
its `tenant`, so each query can be scoped (cloud.store.scope). Accounts and the audit
trail live in `cloud.store.account_tables`; the schema changes only through a migration
(cloud/store/migrations), and a test checks that the migrations build exactly these tables.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cloud.maintenance.status import OPEN_STATUSES as OPEN_WORK_ORDER_STATUSES
from cloud.maintenance.status import Priority, WorkOrderStatus
from cloud.store.base import ID_LEN, Base

# As plain strings: they are written into SQL (the check constraints and the open-order index) and into queries.
OPEN_STATUSES = tuple(status.value for status in OPEN_WORK_ORDER_STATUSES)
WORK_ORDER_STATUSES = tuple(status.value for status in WorkOrderStatus)
PRIORITIES = tuple(priority.value for priority in Priority)


class AssetRow(Base):
    """One device and the machine it watches, as last heard of."""

    __tablename__ = "assets"

    # Device ids are unique across tenants; the tenant is recorded and checked on every message.
    device_id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    asset_kind: Mapped[str] = mapped_column(sa.String(ID_LEN), default="")
    first_seen: Mapped[float]
    last_seen: Mapped[float]
    online: Mapped[bool] = mapped_column(default=True)
    state_ts: Mapped[float | None] = mapped_column(default=None, doc="device time of the last applied state")
    agent_version: Mapped[str] = mapped_column(sa.String(ID_LEN), default="")
    model_id: Mapped[str] = mapped_column(sa.String(128), default="")
    model_version: Mapped[str] = mapped_column(sa.String(ID_LEN), default="")
    channels: Mapped[list[dict[str, str]]] = mapped_column(default=list, doc="[{name, unit}] canonical")
    health: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_score: Mapped[float | None] = mapped_column(default=None)
    last_score_at: Mapped[float | None] = mapped_column(default=None)
    last_anomaly_at: Mapped[float | None] = mapped_column(default=None)
    # Where a technician goes (cloud.field.sites); an asset without a site cannot be dispatched.
    site_name: Mapped[str | None] = mapped_column(sa.String(256), default=None)
    site_lat: Mapped[float | None] = mapped_column(default=None, doc="WGS84 degrees")
    site_lon: Mapped[float | None] = mapped_column(default=None)


class EventRow(Base):
    """An anomaly or RUL event as the device sent it (its message id, per device, makes redelivery harmless)."""

    __tablename__ = "events"
    __table_args__ = (
        # Per device, not global: another device reusing an id (by accident or on purpose) must not hide this one's.
        sa.UniqueConstraint("device_id", "message_id", name="uq_events_device_message"),
        sa.Index("ix_events_device_ts", "device_id", "ts"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    message_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    device_id: Mapped[str] = mapped_column(sa.String(ID_LEN), sa.ForeignKey("assets.device_id"))
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN))
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    kind: Mapped[str] = mapped_column(sa.String(16))
    ts: Mapped[float]
    received_at: Mapped[float]
    score: Mapped[float]
    threshold: Mapped[float]
    is_anomaly: Mapped[bool]
    contributions: Mapped[dict[str, Any]]
    model_id: Mapped[str] = mapped_column(sa.String(128))
    model_version: Mapped[str] = mapped_column(sa.String(ID_LEN))
    window_start: Mapped[float]
    window_end: Mapped[float]
    window_samples: Mapped[int]
    rul_cycles: Mapped[float | None] = mapped_column(default=None)
    rul_lower: Mapped[float | None] = mapped_column(default=None)
    rul_upper: Mapped[float | None] = mapped_column(default=None)
    work_order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("work_orders.id"), default=None, index=True)
    closed_at: Mapped[float | None] = mapped_column(
        default=None, doc="when the alarm was closed: its order was done and the asset stayed quiet long enough"
    )


class UsageReportRow(Base):
    """A device's usage report (cumulative counters), stored once per (device, message id) and per
    (device, install, seq): a re-installed device numbers its reports from 1 again under a new install id."""

    __tablename__ = "usage_reports"
    __table_args__ = (
        sa.UniqueConstraint("device_id", "install", "seq", name="uq_usage_reports_device_install_seq"),
        sa.UniqueConstraint("device_id", "message_id", name="uq_usage_reports_device_message"),
        sa.Index("ix_usage_reports_device_ts", "device_id", "ts"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    message_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    device_id: Mapped[str] = mapped_column(sa.String(ID_LEN), sa.ForeignKey("assets.device_id"))
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN))
    install: Mapped[str] = mapped_column(sa.String(ID_LEN), default="", server_default="", doc="the device's outbox")
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    ts: Mapped[float]
    period_start: Mapped[float]
    period_end: Mapped[float]
    received_at: Mapped[float]
    counters: Mapped[dict[str, Any]] = mapped_column(doc="counter name -> cumulative value")
    units: Mapped[dict[str, Any]] = mapped_column(doc="counter name -> unit")


class WorkOrderRow(Base):
    """A maintenance job proposed by a rule, decided by a planner (or a contract's policy), done by a technician.

    Its statuses and moves are cloud.maintenance.lifecycle's; every move is also a `WorkOrderTransitionRow`.
    """

    __tablename__ = "work_orders"
    __table_args__ = (
        sa.CheckConstraint(f"status IN {WORK_ORDER_STATUSES!r}", name="ck_work_orders_status"),
        sa.CheckConstraint(f"priority IN {PRIORITIES!r}", name="ck_work_orders_priority"),
        # At most one open order per asset, whatever a future second ingest worker does.
        sa.Index(
            "uq_work_orders_open_per_asset",
            "device_id",
            unique=True,
            sqlite_where=sa.text(f"status IN {OPEN_STATUSES!r}"),
            postgresql_where=sa.text(f"status IN {OPEN_STATUSES!r}"),
        ),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    device_id: Mapped[str] = mapped_column(sa.String(ID_LEN), sa.ForeignKey("assets.device_id"), index=True)
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN))
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    rule: Mapped[str] = mapped_column(sa.String(ID_LEN))
    reason: Mapped[str] = mapped_column(sa.Text)
    evidence: Mapped[dict[str, Any]]
    created_at: Mapped[float]
    updated_at: Mapped[float]
    decided_by: Mapped[str | None] = mapped_column(sa.String(128), default=None)
    decided_at: Mapped[float | None] = mapped_column(default=None)
    decision_note: Mapped[str | None] = mapped_column(sa.Text, default=None)
    # Added by revision 0006 (issue 11): planning and dispatch. Nullable or defaulted, so old rows need no backfill.
    priority: Mapped[str] = mapped_column(sa.String(16), default=Priority.NORMAL.value,
                                          server_default=Priority.NORMAL.value)
    due_at: Mapped[float | None] = mapped_column(default=None, doc="when it should be done at the latest")
    required_skill: Mapped[str | None] = mapped_column(sa.String(ID_LEN), default=None)
    notes: Mapped[str | None] = mapped_column(sa.Text, default=None, doc="the planner's notes for the technician")
    confidence: Mapped[float | None] = mapped_column(default=None, doc="cloud.maintenance.urgency, 0..1")
    approved_by_policy: Mapped[str | None] = mapped_column(sa.String(ID_LEN), default=None)
    technician_id: Mapped[int | None] = mapped_column(sa.ForeignKey("technicians.id"), default=None, index=True)
    planned_start: Mapped[float | None] = mapped_column(default=None, doc="the visit window's start")
    planned_end: Mapped[float | None] = mapped_column(default=None, doc="the visit window's end")
    declined_by: Mapped[list[int] | None] = mapped_column(sa.JSON, default=None, doc="technician ids who declined")
    merged_into: Mapped[int | None] = mapped_column(sa.ForeignKey("work_orders.id"), default=None)


class WorkOrderTransitionRow(Base):
    """One move of a work order: from which status to which, by which action, who (from the credential), when
    and why. Append-only; the order's history is these rows in id order."""

    __tablename__ = "work_order_transitions"
    __table_args__ = (sa.Index("ix_work_order_transitions_order", "work_order_id", "id"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    work_order_id: Mapped[int] = mapped_column(sa.ForeignKey("work_orders.id"))
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN))
    from_status: Mapped[str | None] = mapped_column(sa.String(16), default=None, doc="NULL: the order was proposed")
    to_status: Mapped[str] = mapped_column(sa.String(16))
    action: Mapped[str] = mapped_column(sa.String(16))
    actor: Mapped[str] = mapped_column(sa.String(200), doc="e.g. user:ann, system:policy:critical-confident")
    at: Mapped[float]
    reason: Mapped[str | None] = mapped_column(sa.Text, default=None)
    technician_id: Mapped[int | None] = mapped_column(default=None, doc="assigned to, or who declined")


class AttachmentRow(Base):
    """A photo a technician attached to a work order (JPEG, PNG or WebP by its bytes, size-limited)."""

    __tablename__ = "work_order_attachments"
    __table_args__ = (sa.Index("ix_work_order_attachments_order", "work_order_id", "id"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    work_order_id: Mapped[int] = mapped_column(sa.ForeignKey("work_orders.id"))
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN))
    content_type: Mapped[str] = mapped_column(sa.String(32))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    uploaded_by: Mapped[str] = mapped_column(sa.String(200))
    uploaded_at: Mapped[float]
    content: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)


# --- The model registry, deployments, contracts and technicians' findings -------------------------------------

MODEL_ID_LEN = 128
FINDINGS = ("true_fault", "false_alarm")


class ModelArtifactRow(Base):
    """One immutable model version: the ONNX bytes (< 1 MB, so in the relational store), what they say, and proof.

    `signature` is the cloud's Ed25519 signature of the raw sha256 digest of `content`, so a device that
    pinned the public key can trust bytes fetched over any link.
    """

    __tablename__ = "model_artifacts"

    # Each tenant has its own registry: the same id and version may exist in two tenants with other bytes.
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    model_id: Mapped[str] = mapped_column(sa.String(MODEL_ID_LEN), primary_key=True)
    version: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16), index=True)
    asset_kind: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    device_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), index=True, doc="set when fitted for one asset")
    channels: Mapped[list[dict[str, str]]] = mapped_column(doc="[{name, unit}] in input order")
    window: Mapped[int]
    normalisation: Mapped[dict[str, Any]]
    threshold: Mapped[float]
    training_fingerprint: Mapped[str] = mapped_column(sa.String(128))
    metrics: Mapped[dict[str, Any]]
    created_at: Mapped[str] = mapped_column(sa.String(40), doc="as the artifact says (ISO-8601)")
    registered_at: Mapped[float]
    registered_by: Mapped[str] = mapped_column(sa.String(128))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    signature: Mapped[str] = mapped_column(sa.String(128), doc="base64 Ed25519 signature of the sha256 digest")
    signing_key_id: Mapped[str] = mapped_column(sa.String(64))
    meta: Mapped[dict[str, Any]] = mapped_column(doc="the artifact's whole `paas.model` metadata")
    content: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)


class DesiredStateRow(Base):
    """A model a device should run, as requested (the newest row per device is the current wish), with the signed
    manifest that tells the device so (cloud.registry.manifests; none on rows from before revision 0005)."""

    __tablename__ = "desired_state"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["tenant", "model_id", "model_version"],
            ["model_artifacts.tenant", "model_artifacts.model_id", "model_artifacts.version"],
            name="fk_desired_state_model",
        ),
        sa.Index("ix_desired_state_device", "device_id", "id"),
        # Backs up the counter allocation: a device is never sent two manifests with one counter.
        sa.Index("uq_desired_state_device_counter", "device_id", "manifest_counter", unique=True),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN))
    device_id: Mapped[str] = mapped_column(sa.String(ID_LEN), sa.ForeignKey("assets.device_id"))
    model_id: Mapped[str] = mapped_column(sa.String(MODEL_ID_LEN))
    model_version: Mapped[str] = mapped_column(sa.String(ID_LEN))
    requested_by: Mapped[str] = mapped_column(sa.String(128))
    requested_at: Mapped[float]
    explanation: Mapped[str] = mapped_column(sa.Text)
    command_message_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN), default=None)
    command_published_at: Mapped[float | None] = mapped_column(default=None)
    sample_rate_hz: Mapped[float | None] = mapped_column(default=None, doc="a sample rate asked for with the model")
    manifest_counter: Mapped[int | None] = mapped_column(sa.BigInteger, default=None, doc="anti-rollback, per device")
    manifest: Mapped[str | None] = mapped_column(sa.Text, default=None, doc="the manifest text, exactly as signed")
    manifest_signature: Mapped[str | None] = mapped_column(sa.String(128), default=None, doc="base64 Ed25519")
    manifest_key_id: Mapped[str | None] = mapped_column(sa.String(64), default=None, doc="the key that signed it")


class ManifestCounterRow(Base):
    """The last manifest counter given to a device: raised in the transaction that stores its next desired state."""

    __tablename__ = "manifest_counters"

    # No foreign key to assets: the counter must outlive anything else known of the device.
    device_id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    last_counter: Mapped[int] = mapped_column(sa.BigInteger)


class ContractRow(Base):
    """The service contract of one asset: how far ahead maintenance must be planned."""

    __tablename__ = "contracts"

    # No foreign key to assets: a contract may be signed before the device first reports.
    device_id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    maintenance_horizon_cycles: Mapped[float]
    customer: Mapped[str | None] = mapped_column(sa.String(256), default=None, doc="the customer's name, as shown")
    customer_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("customers.id"), default=None, index=True, doc="whose asset: its customer users see it"
    )
    updated_at: Mapped[float]
    approval_policy: Mapped[dict[str, Any] | None] = mapped_column(
        sa.JSON, default=None, doc="auto-approve policy (cloud.maintenance.policy); NULL: a planner decides each order"
    )


class FindingRow(Base):
    """A technician's finding on a completed work order: the label of the model that proposed it."""

    __tablename__ = "work_order_findings"
    __table_args__ = (
        sa.CheckConstraint(f"finding IN {FINDINGS!r}", name="ck_findings_finding"),
        sa.Index("ix_findings_model", "model_id", "model_version"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    work_order_id: Mapped[int] = mapped_column(sa.ForeignKey("work_orders.id"), unique=True)
    device_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    model_id: Mapped[str] = mapped_column(sa.String(MODEL_ID_LEN))
    model_version: Mapped[str] = mapped_column(sa.String(ID_LEN))
    finding: Mapped[str] = mapped_column(sa.String(16))
    technician: Mapped[str] = mapped_column(sa.String(128))
    notes: Mapped[str | None] = mapped_column(sa.Text, default=None)
    recorded_at: Mapped[float]
    parts_used: Mapped[list[dict[str, Any]] | None] = mapped_column(sa.JSON, default=None, doc="[{part, quantity}]")


class DeviceCredentialRow(Base):
    """One MQTT password of a device (cloud.security): only its Mosquitto PBKDF2 hash is kept.

    A device has one current credential and, during a rotation's grace period, the one it replaces
    (`revoke_at` set); `revoked_at` marks a credential the broker no longer accepts.
    """

    __tablename__ = "device_credentials"
    __table_args__ = (sa.Index("ix_device_credentials_device", "device_id", "id"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    # No foreign key to assets: a device is provisioned before it first reports.
    username: Mapped[str] = mapped_column(sa.String(200), unique=True)
    device_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN))
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    issued_at: Mapped[float]
    expires_at: Mapped[float]
    revoke_at: Mapped[float | None] = mapped_column(default=None, doc="end of the grace period once superseded")
    revoked_at: Mapped[float | None] = mapped_column(default=None)


ROLLOUT_STATUSES = ("running", "completed", "halted")
ROLLOUT_DEVICE_STATUSES = ("waiting", "pending", "applied", "failed", "stuck")


class RolloutRow(Base):
    """A model version rolled out to a group of devices in stages (cloud.registry.rollouts)."""

    __tablename__ = "rollouts"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["tenant", "model_id", "model_version"],
            ["model_artifacts.tenant", "model_artifacts.model_id", "model_artifacts.version"],
            name="fk_rollouts_model",
        ),
        sa.CheckConstraint(f"status IN {ROLLOUT_STATUSES!r}", name="ck_rollouts_status"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    model_id: Mapped[str] = mapped_column(sa.String(MODEL_ID_LEN))
    model_version: Mapped[str] = mapped_column(sa.String(ID_LEN))
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    plan: Mapped[dict[str, Any]] = mapped_column(doc="{stages: cumulative device counts, group: what was asked}")
    current_stage: Mapped[int]
    failure_budget: Mapped[int]
    device_deadline_s: Mapped[float]
    requested_by: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[float]
    updated_at: Mapped[float]
    halted_reason: Mapped[str | None] = mapped_column(sa.Text, default=None)


class RolloutDeviceRow(Base):
    """One device of a rollout: its stage and how its update went."""

    __tablename__ = "rollout_devices"
    __table_args__ = (sa.CheckConstraint(f"status IN {ROLLOUT_DEVICE_STATUSES!r}", name="ck_rollout_devices_status"),)

    rollout_id: Mapped[int] = mapped_column(sa.ForeignKey("rollouts.id"), primary_key=True)
    device_id: Mapped[str] = mapped_column(sa.String(ID_LEN), sa.ForeignKey("assets.device_id"), primary_key=True)
    position: Mapped[int]
    stage: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(16))
    detail: Mapped[str] = mapped_column(sa.Text, default="")
    sent_at: Mapped[float | None] = mapped_column(default=None)
    command_published: Mapped[bool] = mapped_column(default=False)
    finished_at: Mapped[float | None] = mapped_column(default=None)


# Imported for their side effect: the account, audit, dead-letter, field-service (technicians' hours and absences,
# failure skills, dispatch plans), notification (contact points, the outbox) and device-profile tables join the
# same metadata.
from cloud.store import (  # noqa: E402, F401
    account_tables,
    asset_state_log,
    consent_tables,
    contract_tables,
    dead_letter_tables,
    field_tables,
    notify_tables,
    offer_tables,
    profile_tables,
    statement_tables,
    support_tables,
)

METADATA = Base.metadata
