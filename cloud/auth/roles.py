"""Who may do what: the roles people and machines hold, the permissions each route asks for, and the table between.

A route asks for one permission (`cloud.api.access.Allow`); a caller has it when the table
below gives it to the caller's role. Which rows the caller then sees is the tenant scope
(`cloud.store.scope`), decided separately: a planner may read work orders, but only its
own tenant's. Adding a role or a permission is a line here, not a branch in a router.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"  # everything in its tenant, including users, API keys and the audit trail
    PLANNER = "planner"  # decides work orders, manages contracts, customers and technicians
    TECHNICIAN = "technician"  # works the orders: starts and completes them with a finding
    CUSTOMER = "customer"  # sees only its own customer's assets, contracts and usage
    OPERATOR = "operator"  # models, detectors, rollouts, device state, device profiles and dead letters
    VIEWER = "viewer"  # reads the tenant's fleet, changes nothing


class Permission(StrEnum):
    ASSETS_READ = "assets:read"
    TELEMETRY_READ = "telemetry:read"
    EVENTS_READ = "events:read"
    USAGE_READ = "usage:read"
    STATS_READ = "stats:read"
    WORK_ORDERS_READ = "work_orders:read"
    WORK_ORDERS_DECIDE = "work_orders:decide"  # approve, reject, cancel, merge, edit, assign, unassign
    WORK_ORDERS_WORK = "work_orders:work"  # own tasks: accept, decline, start, findings, photos, complete
    DISPATCH_PLAN = "dispatch:plan"  # preview and commit dispatch plans (assign approved orders to technicians)
    CONTRACTS_READ = "contracts:read"
    CONTRACTS_WRITE = "contracts:write"
    DIRECTORY_READ = "directory:read"  # customers and technicians
    DIRECTORY_WRITE = "directory:write"
    MODELS_READ = "models:read"
    MODELS_WRITE = "models:write"  # register artifacts, fit detectors
    ARTIFACTS_DOWNLOAD = "artifacts:download"
    SIGNING_KEY_READ = "signing_key:read"
    DEVICES_READ = "devices:read"
    DEVICES_WRITE = "devices:write"  # desired state
    ROLLOUTS_READ = "rollouts:read"
    ROLLOUTS_WRITE = "rollouts:write"
    PROFILES_READ = "profiles:read"  # device profiles: the kinds of asset and their channels
    PROFILES_WRITE = "profiles:write"  # register a device profile
    DEAD_LETTERS_READ = "dead_letters:read"  # messages the ingest kept instead of storing, with their payloads
    DEAD_LETTERS_REPLAY = "dead_letters:replay"  # feed one through the ingest again once its cause is fixed
    NOTIFICATIONS_READ = "notifications:read"  # the outbox: who was told what, and what is pending or failed
    NOTIFICATIONS_RETRY = "notifications:retry"  # send a failed (or not yet addressed) notification again
    AUDIT_READ = "audit:read"
    ACCOUNTS_READ = "accounts:read"  # users and API keys
    ACCOUNTS_WRITE = "accounts:write"
    SELF_READ = "self:read"  # who am I
    SUPPORT_ASK = "support:ask"  # ask for a person (a customer for itself, a planner on a customer's behalf)
    SUPPORT_ANSWER = "support:answer"  # answer customers' help requests
    METRICS_READ = "metrics:read"  # trust metrics: offer acceptance, complaints, time to a human, false alarms
    BILLING_READ = "billing:read"  # contracts' billable use and statements (a customer: its own contracts')
    BILLING_CLOSE = "billing:close"  # close a contract's month (issue its statement) and issue corrections
    OFFERS_READ = "offers:read"  # offers (a customer: only those sent to it) and their acceptance rates
    OFFERS_DECIDE = "offers:decide"  # draft offers now, approve or reject drafts, keep the offer catalogue
    OFFERS_RESPOND = "offers:respond"  # a customer accepts or declines an offer sent to it
    CONSENTS_READ = "consents:read"  # a customer's consent ledger (a customer: its own)
    CONSENTS_WRITE = "consents:write"  # record a grant or withdrawal (a customer for itself; a planner with the source)
    CUSTOMERS_EXPORT = "customers:export"  # all of a customer's data as one file (a customer: its own)
    CUSTOMERS_ERASE = "customers:erase"  # erase a customer's data but what invoices legally need


P = Permission

_FLEET_READ = frozenset({
    P.ASSETS_READ, P.TELEMETRY_READ, P.EVENTS_READ, P.USAGE_READ, P.STATS_READ, P.WORK_ORDERS_READ,
    P.CONTRACTS_READ, P.DIRECTORY_READ, P.MODELS_READ, P.SIGNING_KEY_READ, P.DEVICES_READ, P.ROLLOUTS_READ,
    P.PROFILES_READ, P.SELF_READ,
})

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.PLANNER: _FLEET_READ | {P.OFFERS_READ, P.OFFERS_DECIDE, P.CONSENTS_READ, P.CONSENTS_WRITE,
                                 P.CUSTOMERS_EXPORT,
                                 P.BILLING_READ, P.BILLING_CLOSE, P.SUPPORT_ASK, P.SUPPORT_ANSWER, P.METRICS_READ,
                                 P.WORK_ORDERS_DECIDE, P.CONTRACTS_WRITE, P.DIRECTORY_WRITE, P.AUDIT_READ,
                                 P.DISPATCH_PLAN, P.NOTIFICATIONS_READ, P.NOTIFICATIONS_RETRY},
    Role.TECHNICIAN: frozenset({
        P.ASSETS_READ, P.TELEMETRY_READ, P.EVENTS_READ, P.WORK_ORDERS_READ, P.WORK_ORDERS_WORK, P.SELF_READ,
    }),
    # A customer reads the work orders on its own assets (the scope keeps it to them), to see when a visit comes.
    Role.CUSTOMER: frozenset({P.OFFERS_READ, P.OFFERS_RESPOND, P.CONSENTS_READ, P.CONSENTS_WRITE, P.CUSTOMERS_EXPORT,
                              P.BILLING_READ, P.SUPPORT_ASK,
                              P.ASSETS_READ, P.TELEMETRY_READ, P.USAGE_READ, P.CONTRACTS_READ, P.WORK_ORDERS_READ,
                              P.SELF_READ}),
    Role.OPERATOR: _FLEET_READ | {P.MODELS_WRITE, P.ARTIFACTS_DOWNLOAD, P.DEVICES_WRITE, P.ROLLOUTS_WRITE,
                                  P.PROFILES_WRITE, P.DEAD_LETTERS_READ, P.DEAD_LETTERS_REPLAY,
                                  P.NOTIFICATIONS_READ, P.NOTIFICATIONS_RETRY},
    Role.VIEWER: _FLEET_READ | {P.BILLING_READ},
}

# What a device holding a signed artifact link may do: fetch that artifact and the key that verifies it.
DEVICE_PERMISSIONS = frozenset({P.ARTIFACTS_DOWNLOAD, P.SIGNING_KEY_READ})


def permissions_of(role: Role) -> frozenset[Permission]:
    return ROLE_PERMISSIONS[role]


def roles_with(permission: Permission) -> frozenset[Role]:
    """The roles that hold `permission` (the route-walk test and the OpenAPI description use it)."""
    return frozenset(role for role, granted in ROLE_PERMISSIONS.items() if permission in granted)
