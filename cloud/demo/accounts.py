"""The demo's sign-ins: one user per role in its tenant, and the API keys its own calls use (admin, planner and
the simulated technician's).

Made with the same audited account changes as `python -m cloud users|api-keys create`,
so the demo's audit trail starts like a real tenant's. The passwords are generated and
shown once in the summary; the database is the demo's own throw-away one.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloud.auth.account_changes import AccountChanges, operator
from cloud.auth.accounts import Binding
from cloud.auth.roles import Role
from cloud.auth.secrets import new_password
from cloud.store.database import Database

CLIENT = "demo"
CUSTOMER_NAME = "Demo Customer"
TECHNICIAN_NAME = "Demo Technician"
KEY_NAME = "demo-admin-key"
PLANNER_KEY_NAME = "demo-planner-key"
TECHNICIAN_KEY_NAME = "demo-technician-key"


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: Role


@dataclass(frozen=True)
class DemoAccounts:
    """Who can sign in to the demo's API (tenant admins of `tenant`, not platform admins)."""

    tenant: str
    users: tuple[DemoUser, ...]  # one per role, in `Role` order
    admin_api_key: str
    customer_id: int
    customer_name: str
    technician_name: str
    technician_id: int
    planner_api_key: str  # the demo's planner approves and dispatches with it
    technician_api_key: str  # the simulated technician works its tasks with it

    def user(self, role: Role) -> DemoUser:
        return next(user for user in self.users if user.role is role)


def create_demo_accounts(db_url: str, tenant: str, now: float) -> DemoAccounts:
    """A customer and a technician record, `demo-<role>` users bound to them, and an admin API key."""
    database = Database(db_url)
    try:
        with database.session() as session:
            changes = AccountChanges(session, operator(), CLIENT, now)
            customer = changes.customer(tenant, CUSTOMER_NAME)
            technician = changes.technician(tenant, TECHNICIAN_NAME)
            users = []
            for role in Role:
                binding = Binding(tenant, role, customer.id if role is Role.CUSTOMER else None,
                                  technician.id if role is Role.TECHNICIAN else None)
                user = DemoUser(f"{tenant}-{role.value}", new_password(), role)
                changes.user(user.username, user.password, binding)
                users.append(user)
            _row, key = changes.api_key(KEY_NAME, Binding(tenant, Role.ADMIN))
            _row, planner_key = changes.api_key(PLANNER_KEY_NAME, Binding(tenant, Role.PLANNER))
            _row, technician_key = changes.api_key(TECHNICIAN_KEY_NAME,
                                                   Binding(tenant, Role.TECHNICIAN, technician_id=technician.id))
    finally:
        database.close()
    return DemoAccounts(tenant, tuple(users), key, customer.id, customer.name, technician.name, technician.id,
                        planner_key, technician_key)
