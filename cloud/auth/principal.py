"""The caller of a request, as its credential proves it: a user, an API key or a device with a signed link."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cloud.auth.roles import DEVICE_PERMISSIONS, Permission, Role, permissions_of
from cloud.errors import NotFoundError, PermissionDeniedError, ScopeRequiredError
from cloud.store.scope import Scope


class PrincipalKind(StrEnum):
    USER = "user"
    API_KEY = "api_key"
    DEVICE = "device"  # holds a signed, expiring artifact link, nothing more
    CLI = "cli"  # an operator on the service's host (python -m cloud ...)
    SYSTEM = "system"  # the service itself (a rule, the rollout ticker)


@dataclass(frozen=True)
class ArtifactGrant:
    """What a signed artifact link lets a device fetch: one model version of one tenant."""

    device_id: str
    model_id: str
    version: str


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    id: str
    name: str
    tenant: str | None  # None: a platform administrator (or the service itself), across tenants
    role: Role | None = None
    customer_id: int | None = None
    technician_id: int | None = None
    artifact: ArtifactGrant | None = None

    @property
    def label(self) -> str:
        """How the audit trail and `decided_by` name the caller, e.g. `user:alice`."""
        return f"{self.kind.value}:{self.name}"

    @property
    def permissions(self) -> frozenset[Permission]:
        if self.kind is PrincipalKind.DEVICE:
            return DEVICE_PERMISSIONS
        if self.kind in (PrincipalKind.CLI, PrincipalKind.SYSTEM):
            return frozenset(Permission)
        return frozenset() if self.role is None else permissions_of(self.role)

    @property
    def platform(self) -> bool:
        """Spans every tenant."""
        return self.tenant is None

    @property
    def scope(self) -> Scope:
        """The rows this caller may see: its tenant's, and for a customer only its own assets."""
        customer = self.customer_id if self.role is Role.CUSTOMER else None
        return Scope(self.tenant, customer)

    def require(self, permission: Permission) -> None:
        if permission not in self.permissions:
            who = self.role.value if self.role is not None else self.kind.value
            raise PermissionDeniedError(f"a {who} may not do this (needs {permission.value})")

    def narrowed(self, requested: str | None) -> Scope:
        """The caller's scope, narrowed to the tenant it names (a platform administrator choosing one of many)."""
        if requested is None:
            return self.scope
        if not self.scope.owns(requested):
            raise NotFoundError(f"tenant {requested!r} does not exist")
        return Scope(requested, self.scope.customer_id)

    def tenant_for(self, requested: str | None) -> str:
        """The tenant a new object goes to: the caller's own, or for a platform administrator the one it names."""
        if self.tenant is None:
            if not requested:
                raise ScopeRequiredError("a platform administrator must say which tenant (the `tenant` field)")
            return requested
        if requested and requested != self.tenant:
            raise NotFoundError(f"tenant {requested!r} does not exist")
        return self.tenant


SERVICE = Principal(PrincipalKind.SYSTEM, "service", "service", None)


def cli_principal(os_user: str) -> Principal:
    """An operator running a command on the service's host: trusted, across tenants, named in the audit trail."""
    return Principal(PrincipalKind.CLI, os_user, os_user, None)
