"""Account changes made outside the API (the operator CLI, the demo), each with its audit entry.

The API's routers write their entries through `cloud.api.access.Auditor`; a command run on
the service's host has no request, so this writes them for it: in the caller's
transaction, naming the operator (`cli_principal`) as the actor. Secrets never reach an
entry: a user's shows its username and role, a key's its name and role.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.audit.trail import Change, record
from cloud.auth.accounts import Binding, create_api_key, create_customer, create_technician, create_user
from cloud.auth.accounts import revoke_api_key as revoke_key_row
from cloud.auth.principal import Principal, cli_principal
from cloud.store.account_tables import ApiKeyRow, CustomerRow, TechnicianRow, UserRow
from cloud.store.scope import Scope


def operator() -> Principal:
    """The OS user running this command on the service's host, as the audit trail names it (`cli:<user>`)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name in the environment nor the password database (containers)
        user = "unknown"
    return cli_principal(user)


@dataclass(frozen=True)
class AccountChanges:
    """Creates customers, technicians, users and API keys, and revokes keys, as `actor` from `client`, at `now`."""

    session: Session
    actor: Principal
    client: str
    now: float

    def customer(self, tenant: str, name: str) -> CustomerRow:
        row = create_customer(self.session, tenant, name, self.now)
        self._audit(Change("create", "customer", str(row.id), row.tenant, after={"name": row.name}))
        return row

    def technician(self, tenant: str, name: str) -> TechnicianRow:
        row = create_technician(self.session, tenant, name, self.now)
        self._audit(Change("create", "technician", str(row.id), row.tenant, after={"name": row.name}))
        return row

    def user(self, username: str, password: str, binding: Binding) -> UserRow:
        row = create_user(self.session, username, password, binding, self.actor.label, self.now)
        self._audit(Change("create", "user", str(row.id), row.tenant, after=user_fields(row)))
        return row

    def api_key(self, name: str, binding: Binding) -> tuple[ApiKeyRow, str]:
        """The stored row and the key itself (shown once; only its hash is kept)."""
        row, key = create_api_key(self.session, name, binding, self.actor.label, self.now)
        self._audit(Change("create", "api_key", row.key_id, row.tenant, after=key_fields(row)))
        return row, key

    def revoke_api_key(self, key_id: str, scope: Scope | None = None) -> tuple[ApiKeyRow, bool]:
        """The key's row (within `scope`, default all), and whether this call revoked it (False: it already was;
        nothing is written)."""
        found = self.session.scalars(sa.select(ApiKeyRow).where(ApiKeyRow.key_id == key_id)).first()
        changed = found is not None and found.revoked_at is None
        row = revoke_key_row(self.session, scope or Scope.everything(), key_id, self.now)
        if changed:
            before = {**key_fields(row), "revoked": False}
            self._audit(Change("revoke", "api_key", row.key_id, row.tenant, before=before, after=key_fields(row)))
        return row, changed

    def _audit(self, change: Change) -> None:
        record(self.session, self.actor, self.client, change, self.now)


def user_fields(row: UserRow) -> dict[str, object]:
    """What the audit trail shows of a user (never its password hash)."""
    return {"username": row.username, "role": row.role, "tenant": row.tenant, "customer_id": row.customer_id,
            "technician_id": row.technician_id, "active": row.active}


def key_fields(row: ApiKeyRow) -> dict[str, object]:
    """What the audit trail shows of an API key (never its secret nor the secret's hash)."""
    return {"name": row.name, "role": row.role, "tenant": row.tenant, "revoked": row.revoked_at is not None}
