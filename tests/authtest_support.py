"""Credentials for tests of the API: API keys and users made straight in the service's database.

The cloud tests call the real HTTP API, which answers only callers with a credential;
these helpers create one with the same code the CLI uses (cloud.auth.accounts).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from cloud.auth.accounts import Binding, create_api_key, create_customer, create_technician, create_user
from cloud.auth.roles import Role
from cloud.server import CloudService
from cloud.store.database import Database

TEST_PASSWORD = "correct horse battery staple"


def service_database(service: CloudService) -> Database:
    running = service._running  # the tests' door into the running service's store
    assert running is not None, "the service is not running"
    return running.database


def api_key(
    database: Database, tenant: str | None, role: Role = Role.ADMIN, name: str = "test-key",
    customer_id: int | None = None, technician_id: int | None = None,
) -> str:
    """A new API key of `role` in `tenant` (None: platform administrator)."""
    with database.session() as session:
        _row, key = create_api_key(session, name, Binding(tenant, role, customer_id, technician_id), "test", 0.0)
    return key


def customer(database: Database, tenant: str, name: str) -> int:
    with database.session() as session:
        return create_customer(session, tenant, name, 0.0).id


def technician(database: Database, tenant: str, name: str) -> int:
    with database.session() as session:
        return create_technician(session, tenant, name, 0.0).id


def user(
    database: Database, username: str, tenant: str | None, role: Role, password: str = TEST_PASSWORD,
    customer_id: int | None = None, technician_id: int | None = None,
) -> int:
    with database.session() as session:
        return create_user(session, username, password, Binding(tenant, role, customer_id, technician_id), "test",
                           0.0).id


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@contextmanager
def api_client(service: CloudService, key: str, prefix: str = "/api/v1") -> Iterator[httpx.Client]:
    """An HTTP client of the running service's API sending `key` on every request."""
    with httpx.Client(base_url=f"{service.api_url}{prefix}", headers=bearer(key), timeout=10.0) as client:
        yield client


def role_key(service: CloudService, tenant: str | None, role: Role, name: str | None = None) -> str:
    """A key of `role` in `tenant`, with the customer or technician record that role needs made for it."""
    return database_role_key(service_database(service), tenant, role, name)


def database_role_key(database: Database, tenant: str | None, role: Role, name: str | None = None) -> str:
    """`role_key` for an API served over `database` by the test itself (not a `CloudService`)."""
    label = name or f"{role.value}-{tenant or 'platform'}"
    customer_id = customer(database, tenant, f"customer of {label}") if role is Role.CUSTOMER and tenant else None
    technician_id = technician(database, tenant, f"technician {label}") if role is Role.TECHNICIAN and tenant else None
    return api_key(database, tenant, role, label, customer_id, technician_id)


def sign_in(service: CloudService, username: str, password: str = TEST_PASSWORD) -> httpx.Response:
    """The real password grant (POST /api/v1/auth/token, form-encoded), as a browser or a script sends it."""
    form = {"grant_type": "password", "username": username, "password": password}
    return httpx.post(f"{service.api_url}/api/v1/auth/token", data=form, timeout=10.0)


class RoleClients:
    """HTTP clients of one API for the roles of one tenant, each with a key of its own (named `<role>-<tenant>`,
    so the trail shows `api_key:planner-acme`), made on first use and closed together."""

    def __init__(self, database: Database, api_url: str, tenant: str, prefix: str = "/api/v1") -> None:
        self.tenant = tenant
        self._database, self._base_url = database, f"{api_url}{prefix}"
        self._clients: dict[tuple[str | None, Role], httpx.Client] = {}

    def __call__(self, role: Role) -> httpx.Client:
        """A client of `role` in this tenant."""
        return self._client(self.tenant, role)

    def platform_admin(self) -> httpx.Client:
        """A client of an administrator of the whole platform (no tenant)."""
        return self._client(None, Role.ADMIN)

    def _client(self, tenant: str | None, role: Role) -> httpx.Client:
        if (tenant, role) not in self._clients:
            key = database_role_key(self._database, tenant, role)
            self._clients[tenant, role] = httpx.Client(base_url=self._base_url, headers=bearer(key), timeout=20.0)
        return self._clients[tenant, role]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def __enter__(self) -> RoleClients:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
