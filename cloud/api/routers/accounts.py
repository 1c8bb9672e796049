"""Users and API keys of a tenant, managed by its administrators (a platform administrator names the tenant)."""

from __future__ import annotations

from fastapi import APIRouter, status

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.account_schemas import ApiKeyCreate, ApiKeyIssued, ApiKeyPublic, UserCreate, UserPublic
from cloud.api.deps import SessionDep
from cloud.api.params import KeyIdPath, RowIdPath
from cloud.api.timestamps import optional_utc, utc
from cloud.audit.trail import Change
from cloud.auth.account_changes import user_fields
from cloud.auth.accounts import Binding, get_user, list_api_keys, list_users
from cloud.auth.principal import Principal
from cloud.auth.roles import Permission, Role
from cloud.store.account_tables import ApiKeyRow, UserRow

router = APIRouter(tags=["accounts"])

_READ, _WRITE = allow(Permission.ACCOUNTS_READ), allow(Permission.ACCOUNTS_WRITE)


@router.get("/users", dependencies=[_READ])
def read_users(session: SessionDep, principal: PrincipalDep) -> list[UserPublic]:
    return [user_public(row) for row in list_users(session, principal.scope)]


@router.post("/users", status_code=status.HTTP_201_CREATED, dependencies=[_WRITE],
             responses={409: {"description": "the username is taken"}, 422: {}})
def add_user(body: UserCreate, session: SessionDep, auditor: AuditDep) -> UserPublic:
    """Create a user who signs in with this password; customers and technicians are bound to their record."""
    binding = _binding(auditor.principal, body.tenant, body.role, body.customer_id, body.technician_id)
    row = auditor.account_changes().user(body.username, body.password, binding)
    session.commit()
    return user_public(row)


@router.post("/users/{user_id}/deactivate", dependencies=[_WRITE], responses={404: {}})
def deactivate_user(user_id: RowIdPath, session: SessionDep, auditor: AuditDep) -> UserPublic:
    """The user can no longer sign in, and its access tokens stop working at once."""
    row = get_user(session, auditor.principal.scope, user_id)
    before = user_fields(row)
    row.active = False
    auditor.record(Change("deactivate", "user", str(row.id), row.tenant, before=before, after=user_fields(row)))
    session.commit()
    return user_public(row)


@router.get("/api-keys", dependencies=[_READ])
def read_api_keys(session: SessionDep, principal: PrincipalDep) -> list[ApiKeyPublic]:
    return [api_key_public(row) for row in list_api_keys(session, principal.scope)]


@router.post("/api-keys", status_code=status.HTTP_201_CREATED, dependencies=[_WRITE], responses={422: {}})
def add_api_key(body: ApiKeyCreate, session: SessionDep, auditor: AuditDep) -> ApiKeyIssued:
    """Create an API key; the key is in this response only (it is stored as a hash)."""
    binding = _binding(auditor.principal, body.tenant, body.role, body.customer_id, body.technician_id)
    row, key = auditor.account_changes().api_key(body.name, binding)
    session.commit()
    return ApiKeyIssued(**api_key_public(row).model_dump(), key=key)


@router.delete("/api-keys/{key_id}", dependencies=[_WRITE], responses={404: {}})
def revoke_key(key_id: KeyIdPath, session: SessionDep, auditor: AuditDep) -> ApiKeyPublic:
    """Revoke an API key; requests with it are refused from now on."""
    row, _changed = auditor.account_changes().revoke_api_key(key_id, auditor.principal.scope)
    session.commit()
    return api_key_public(row)


def _binding(principal: Principal, tenant: str | None, role: Role, customer_id: int | None,
             technician_id: int | None) -> Binding:
    # A platform administrator may create another platform administrator by naming no tenant and role admin.
    spans = principal.platform and tenant is None and role is Role.ADMIN
    return Binding(None if spans else principal.tenant_for(tenant), role, customer_id, technician_id)


def user_public(row: UserRow) -> UserPublic:
    return UserPublic(id=row.id, username=row.username, tenant=row.tenant, role=Role(row.role),
                      customer_id=row.customer_id, technician_id=row.technician_id, active=row.active,
                      created_at=utc(row.created_at), created_by=row.created_by)


def api_key_public(row: ApiKeyRow) -> ApiKeyPublic:
    return ApiKeyPublic(key_id=row.key_id, name=row.name, tenant=row.tenant, role=Role(row.role),
                        customer_id=row.customer_id, technician_id=row.technician_id, created_at=utc(row.created_at),
                        created_by=row.created_by, revoked_at=optional_utc(row.revoked_at))
