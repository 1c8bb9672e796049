"""Request and response bodies of sign-in, accounts, the customer/technician directory and the audit trail.

Create schemas take what a caller may choose; Public schemas show what a caller may see,
and none of them has a field for a password hash or a key's secret.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from cloud.api.params import NO_SPACE, NOT_BLANK, RowId, TenantName
from cloud.auth.roles import Role


class TokenPublic(BaseModel):
    """OAuth2 token response (RFC 6749 §5.1)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds the access token is valid")
    refresh_token: str = Field(description="use once with grant_type=refresh_token for a new pair")


class SignOut(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class PrincipalPublic(BaseModel):
    """Who the credential of this request is."""

    kind: str
    id: str
    name: str
    tenant: str | None = Field(description="null: a platform administrator, across tenants")
    role: Role | None
    customer_id: int | None
    technician_id: int | None
    permissions: list[str]


class UserCreate(BaseModel):
    username: str = Field(min_length=1, max_length=128, pattern=NO_SPACE, description="no white space")
    password: str = Field(min_length=12, max_length=1024)
    role: Role
    tenant: TenantName | None = Field(default=None, description="platform administrators only: whose")
    customer_id: RowId | None = Field(default=None, description="required for role customer")
    technician_id: RowId | None = Field(default=None, description="required for role technician")


class UserPublic(BaseModel):
    id: int
    username: str
    tenant: str | None
    role: Role
    customer_id: int | None
    technician_id: int | None
    active: bool
    created_at: datetime
    created_by: str


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=128, pattern=NOT_BLANK)
    role: Role
    tenant: TenantName | None = Field(default=None, description="platform administrators only: whose")
    customer_id: RowId | None = Field(default=None, description="required for role customer")
    technician_id: RowId | None = Field(default=None, description="required for role technician")


class ApiKeyPublic(BaseModel):
    key_id: str
    name: str
    tenant: str | None
    role: Role
    customer_id: int | None
    technician_id: int | None
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


class ApiKeyIssued(ApiKeyPublic):
    key: str = Field(description="the bearer key; shown this once, stored only as a hash")


class DirectoryEntryCreate(BaseModel):
    name: str = Field(min_length=1, max_length=256, pattern=NOT_BLANK)
    tenant: TenantName | None = Field(default=None, description="platform administrators only: whose")


class DirectoryEntryPublic(BaseModel):
    """A customer or a technician record."""

    id: int
    tenant: str
    name: str
    created_at: datetime


class AuditEntryPublic(BaseModel):
    id: int
    at: datetime
    tenant: str | None
    actor: str = Field(description="from the credential: user:NAME, api_key:NAME, cli:USER, system:service")
    actor_kind: str
    actor_id: str
    actor_role: str | None
    action: str
    object_type: str
    object_id: str
    client: str = Field(description="the caller's address (or cli / service)")
    before: dict[str, Any] | None
    after: dict[str, Any] | None
