"""Accounts and the directory they bind to: customers, technicians, users and API keys, created and found.

A customer user (or key) is bound to a customer record of its tenant, a technician user
to a technician record; a platform administrator (tenant None) is always an `admin`. The
callers (API routers, CLI) write the audit entry; nothing here ever returns a secret
except the new API key, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.auth.passwords import hash_password
from cloud.auth.principal import Principal, PrincipalKind
from cloud.auth.roles import Role
from cloud.auth.secrets import digest, new_api_key, same_digest, split_api_key
from cloud.errors import AuthenticationError, ConflictError, InvalidAccountError, NotFoundError
from cloud.store.account_tables import ApiKeyRow, CustomerRow, TechnicianRow, UserRow
from cloud.store.scope import Scope


@dataclass(frozen=True)
class Binding:
    """What an account is: its tenant (None: platform), role, and the customer or technician record it acts as."""

    tenant: str | None
    role: Role
    customer_id: int | None = None
    technician_id: int | None = None


def create_customer(session: Session, tenant: str, name: str, now: float) -> CustomerRow:
    return _add_named(session, CustomerRow(tenant=tenant, name=name, created_at=now), "customer", name)


def create_technician(session: Session, tenant: str, name: str, now: float) -> TechnicianRow:
    return _add_named(session, TechnicianRow(tenant=tenant, name=name, created_at=now), "technician", name)


_Named = TypeVar("_Named", CustomerRow, TechnicianRow)


def _add_named(session: Session, row: _Named, what: str, name: str) -> _Named:
    if not name.strip():
        raise InvalidAccountError(f"a {what} needs a name")
    session.flush()  # what is pending belongs to the outer transaction, not to the savepoint below
    try:
        # In a savepoint, so a clash rolls back this insert only and the caller's transaction goes on.
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise ConflictError(f"a {what} named {name!r} exists in this tenant") from None
    return row


def list_customers(session: Session, scope: Scope) -> Sequence[CustomerRow]:
    query = sa.select(CustomerRow).where(scope.tenant_clause(CustomerRow.tenant))
    if scope.customer_id is not None:
        query = query.where(CustomerRow.id == scope.customer_id)
    return session.scalars(query.order_by(CustomerRow.tenant, CustomerRow.name)).all()


def list_technicians(session: Session, scope: Scope) -> Sequence[TechnicianRow]:
    query = sa.select(TechnicianRow).where(scope.tenant_clause(TechnicianRow.tenant))
    return session.scalars(query.order_by(TechnicianRow.tenant, TechnicianRow.name)).all()


def get_customer(session: Session, scope: Scope, customer_id: int) -> CustomerRow:
    row = session.get(CustomerRow, customer_id)
    if row is None or not scope.owns(row.tenant):
        raise NotFoundError(f"customer {customer_id} does not exist")
    return row


def get_technician(session: Session, scope: Scope, technician_id: int) -> TechnicianRow:
    row = session.get(TechnicianRow, technician_id)
    if row is None or not scope.owns(row.tenant):
        raise NotFoundError(f"technician {technician_id} does not exist")
    return row


def check_binding(session: Session, binding: Binding) -> None:
    """`InvalidAccountError` unless the role's record is given, exists in the tenant, and fits the role."""
    if binding.tenant is None and binding.role is not Role.ADMIN:
        raise InvalidAccountError("only an admin may span every tenant; give a tenant")
    needs_customer, needs_technician = binding.role is Role.CUSTOMER, binding.role is Role.TECHNICIAN
    if needs_customer != (binding.customer_id is not None):
        raise InvalidAccountError("a customer account needs a customer record (customer_id), other roles none")
    if needs_technician != (binding.technician_id is not None):
        raise InvalidAccountError("a technician account needs a technician record (technician_id), other roles none")
    scope = Scope(binding.tenant)
    try:
        if binding.customer_id is not None:
            get_customer(session, scope, binding.customer_id)
        if binding.technician_id is not None:
            get_technician(session, scope, binding.technician_id)
    except NotFoundError as exc:
        raise InvalidAccountError(f"{exc} in tenant {binding.tenant}") from None


def create_user(
    session: Session, username: str, password: str, binding: Binding, created_by: str, now: float
) -> UserRow:
    if not username.strip() or len(username) > 128 or any(ch.isspace() for ch in username):
        raise InvalidAccountError("a username has 1 to 128 characters and no spaces")
    check_binding(session, binding)
    if session.scalar(sa.select(UserRow.id).where(UserRow.username == username)) is not None:
        raise ConflictError(f"the username {username!r} is taken")
    row = UserRow(
        username=username, tenant=binding.tenant, role=binding.role.value, password_hash=hash_password(password),
        customer_id=binding.customer_id, technician_id=binding.technician_id, active=True, created_at=now,
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    return row


def create_api_key(session: Session, name: str, binding: Binding, created_by: str, now: float) -> tuple[ApiKeyRow, str]:
    """The stored row and the key itself, which exists nowhere else from now on."""
    if not name.strip() or len(name) > 128:
        raise InvalidAccountError("an API key needs a name of 1 to 128 characters")
    check_binding(session, binding)
    key_id, secret, key = new_api_key()
    row = ApiKeyRow(
        key_id=key_id, name=name, tenant=binding.tenant, role=binding.role.value, secret_hash=digest(secret),
        customer_id=binding.customer_id, technician_id=binding.technician_id, created_at=now, created_by=created_by,
    )
    session.add(row)
    session.flush()
    return row, key


def revoke_api_key(session: Session, scope: Scope, key_id: str, now: float) -> ApiKeyRow:
    row = session.scalars(sa.select(ApiKeyRow).where(ApiKeyRow.key_id == key_id)).first()
    if row is None or not scope.owns(row.tenant):
        raise NotFoundError(f"API key {key_id!r} does not exist")
    if row.revoked_at is None:
        row.revoked_at = now
    return row


def list_users(session: Session, scope: Scope) -> Sequence[UserRow]:
    query = sa.select(UserRow).where(scope.tenant_clause(UserRow.tenant))
    return session.scalars(query.order_by(UserRow.username)).all()


def list_api_keys(session: Session, scope: Scope) -> Sequence[ApiKeyRow]:
    query = sa.select(ApiKeyRow).where(scope.tenant_clause(ApiKeyRow.tenant))
    return session.scalars(query.order_by(ApiKeyRow.id)).all()


def get_user(session: Session, scope: Scope, user_id: int) -> UserRow:
    row = session.get(UserRow, user_id)
    if row is None or not scope.owns(row.tenant):
        raise NotFoundError(f"user {user_id} does not exist")
    return row


def find_user(session: Session, username: str) -> UserRow | None:
    return session.scalars(sa.select(UserRow).where(UserRow.username == username)).first()


def user_principal(row: UserRow) -> Principal:
    return Principal(PrincipalKind.USER, str(row.id), row.username, row.tenant, Role(row.role), row.customer_id,
                     row.technician_id)


def api_key_principal(session: Session, key: str) -> Principal:
    """The principal of a presented API key; `AuthenticationError` for a malformed, unknown or revoked one."""
    parts = split_api_key(key)
    row = None if parts is None else session.scalars(sa.select(ApiKeyRow).where(ApiKeyRow.key_id == parts[0])).first()
    if parts is None or row is None or not same_digest(parts[1], row.secret_hash):
        raise AuthenticationError("the API key is not valid")
    if row.revoked_at is not None:
        raise AuthenticationError("the API key was revoked")
    return Principal(PrincipalKind.API_KEY, str(row.id), row.name, row.tenant, Role(row.role), row.customer_id,
                     row.technician_id)
