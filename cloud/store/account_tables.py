"""Who uses the platform and what they did: customers, technicians, users, API keys, refresh tokens, the audit trail.

Secrets are never stored: a password as its Argon2id hash, an API key and a refresh token
as the SHA-256 of their random part (they carry 256 bits, so a fast hash is enough and
lookups stay cheap). `tenant` is NULL only for a platform administrator, who spans tenants.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cloud.auth.roles import Role
from cloud.store.base import ID_LEN, Base

ROLES = tuple(role.value for role in Role)
NAME_LEN = 128
_BIGINT_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class CustomerRow(Base):
    """Who operates assets under contract; its customer users see only its assets."""

    __tablename__ = "customers"
    __table_args__ = (sa.UniqueConstraint("tenant", "name", name="uq_customers_tenant_name"),)

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    name: Mapped[str] = mapped_column(sa.String(256))
    created_at: Mapped[float]


class TechnicianRow(Base):
    """A field technician of a tenant: skills, home base and time zone (hours and absences: cloud.store.field_tables).

    A technician without a home base cannot be dispatched (nowhere to start from); one without
    working hours has no shift to fill.
    """

    __tablename__ = "technicians"
    __table_args__ = (sa.UniqueConstraint("tenant", "name", name="uq_technicians_tenant_name"),)

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    tenant: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    name: Mapped[str] = mapped_column(sa.String(256))
    created_at: Mapped[float]
    # Server defaults too: rows from before revision 0006 get no skills and UTC.
    skills: Mapped[list[str]] = mapped_column(sa.JSON, default=list, server_default=sa.text("'[]'"),
                                              doc="short names, e.g. mechanical")
    home_lat: Mapped[float | None] = mapped_column(default=None, doc="home base, WGS84 degrees")
    home_lon: Mapped[float | None] = mapped_column(default=None)
    time_zone: Mapped[str] = mapped_column(sa.String(64), default="UTC", server_default="UTC",
                                           doc="IANA name; working hours are local")
    updated_at: Mapped[float | None] = mapped_column(default=None, doc="last change of these fields or hours")


class UserRow(Base):
    """A person who signs in with a password; the username is unique across tenants (the sign-in form has no tenant)."""

    __tablename__ = "users"
    __table_args__ = (sa.CheckConstraint(f"role IN {ROLES!r}", name="ck_users_role"),)

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(NAME_LEN), unique=True)
    tenant: Mapped[str | None] = mapped_column(sa.String(ID_LEN), index=True, doc="NULL: platform administrator")
    role: Mapped[str] = mapped_column(sa.String(16))
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id"), default=None)
    technician_id: Mapped[int | None] = mapped_column(sa.ForeignKey("technicians.id"), default=None)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[float]
    created_by: Mapped[str] = mapped_column(sa.String(200))


class ApiKeyRow(Base):
    """A machine's bearer key `paas_<key_id>_<secret>`: `key_id` finds the row, the secret's hash proves it."""

    __tablename__ = "api_keys"
    __table_args__ = (sa.CheckConstraint(f"role IN {ROLES!r}", name="ck_api_keys_role"),)

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    key_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(NAME_LEN))
    tenant: Mapped[str | None] = mapped_column(sa.String(ID_LEN), index=True, doc="NULL: platform administrator")
    role: Mapped[str] = mapped_column(sa.String(16))
    secret_hash: Mapped[str] = mapped_column(sa.String(64))
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id"), default=None)
    technician_id: Mapped[int | None] = mapped_column(sa.ForeignKey("technicians.id"), default=None)
    created_at: Mapped[float]
    created_by: Mapped[str] = mapped_column(sa.String(200))
    revoked_at: Mapped[float | None] = mapped_column(default=None)


class RefreshTokenRow(Base):
    """One refresh token; used once, then replaced by the next of its family. A reused one revokes the family."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    family: Mapped[str] = mapped_column(sa.String(32), index=True)
    issued_at: Mapped[float]
    expires_at: Mapped[float]
    used_at: Mapped[float | None] = mapped_column(default=None)
    revoked_at: Mapped[float | None] = mapped_column(default=None)


class SignInFailureRow(Base):
    """A failed password sign-in, counted to slow down guessing (per username and per client address)."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (
        sa.Index("ix_sign_in_failures_username_at", "username", "at"),
        sa.Index("ix_sign_in_failures_client_at", "client", "at"),
    )

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(NAME_LEN))
    client: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[float]


class AuditRow(Base):
    """One state-changing call: who (from the credential), what, when, from where, before and after.

    Append-only: the migration adds triggers that refuse UPDATE and DELETE on this table.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        sa.Index("ix_audit_log_tenant_at", "tenant", "at"),
        sa.Index("ix_audit_log_actor", "actor"),
        sa.Index("ix_audit_log_object", "object_type", "object_id"),
    )

    id: Mapped[int] = mapped_column(_BIGINT_ID, primary_key=True)
    at: Mapped[float]
    tenant: Mapped[str | None] = mapped_column(sa.String(ID_LEN), doc="the tenant the object belongs to")
    actor: Mapped[str] = mapped_column(sa.String(200), doc="e.g. user:alice, api_key:ci-bot, system:ingest")
    actor_kind: Mapped[str] = mapped_column(sa.String(16))
    actor_id: Mapped[str] = mapped_column(sa.String(64), doc="the user's or API key's id (names may repeat)")
    actor_role: Mapped[str | None] = mapped_column(sa.String(16), default=None)
    actor_tenant: Mapped[str | None] = mapped_column(sa.String(ID_LEN), default=None)
    action: Mapped[str] = mapped_column(sa.String(64))
    object_type: Mapped[str] = mapped_column(sa.String(32))
    object_id: Mapped[str] = mapped_column(sa.String(200))
    client: Mapped[str] = mapped_column(sa.String(64), doc="the caller's address, or cli / service")
    before: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, default=None)
