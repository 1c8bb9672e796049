"""The demo's outcome: gathered through the public HTTP API (as the demo's admin), shown to a person and as JSON."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import asdict, dataclass, field
from string import Template
from typing import Any

from cloud.auth.roles import Role
from cloud.demo.accounts import DemoAccounts

SUMMARY = Template("""\

Demo finished: $devices simulated devices for $seconds s ($faulty with an injected fault).
  readings published by the edge agents : $readings_published
  readings stored by the cloud          : $readings_stored  ($storage_verdict)
  anomaly events                        : $anomaly_events
  maintenance work orders proposed      : $work_orders
  faulty assets with a work order       : $faulty_assets_with_work_order of $faulty
  healthy assets with a work order      : $healthy_assets_with_work_order of $healthy
  work orders assigned by dispatch      : $assigned_work_orders
  work orders by status                 : $status_list
  statements issued for $billed_period         : $statements
  offers drafted (for a planner)        : $offers_drafted
Faults injected: $fault_list
API: $api_url  (OpenAPI docs at $api_url/docs)
""")

SIGN_IN = Template("""\
Sign in (tenant $tenant; every API call needs a credential; the passwords are shown only here):
  users    : $first_user
$user_lines
  /docs    : "Authorize" with one of these usernames and passwords
  a token  : curl -d grant_type=password -d username=$planner -d 'password=$planner_password' \\
               $api_url/api/v1/auth/token    then send -H "Authorization: Bearer <access_token>"
  API key  : KEY='$admin_api_key'    (admin of tenant $tenant)
             curl -H "Authorization: Bearer $$KEY" $api_url/api/v1/assets
""")
USER_LINE = Template("$username / $password  ($role$note)")
INDENT = " " * 13


@dataclass(frozen=True)
class DemoReport:
    """The numbers the demo promises; `to_json` is its machine-readable last line."""

    devices: int
    seconds: float
    readings_published: int
    readings_stored: int
    anomaly_events: int
    work_orders: int
    faulty_assets: int
    faulty_assets_with_work_order: int
    healthy_assets_with_work_order: int
    api_url: str
    faults: dict[str, str]
    work_orders_by_status: dict[str, int] = field(default_factory=dict)  # after dispatch and the technician's work
    assigned_work_orders: int = 0  # assigned by the demo's dispatch commit
    statements: int = 0  # issued for `billed_period` (cloud.demo.billing)
    offers_drafted: int = 0  # by the offer rules after the month was closed; none is sent unapproved
    billed_period: str = ""  # YYYY-MM

    @property
    def all_stored(self) -> bool:
        return self.readings_stored == self.readings_published

    def to_json(self, admin_api_key: str | None = None) -> str:
        """The summary as one JSON line; with `admin_api_key` (local runs only) scripts can call the API."""
        summary: dict[str, Any] = asdict(self)
        if admin_api_key is not None:
            summary["admin_api_key"] = admin_api_key
        return json.dumps(summary, separators=(",", ":"), sort_keys=False)

    def to_text(self) -> str:
        healthy = self.devices - self.faulty_assets
        return SUMMARY.substitute(
            asdict(self),
            faulty=self.faulty_assets,
            healthy=healthy,
            storage_verdict="all stored, none twice" if self.all_stored else "MISMATCH",
            fault_list=", ".join(f"{device} {fault}" for device, fault in sorted(self.faults.items())) or "none",
            status_list=", ".join(f"{status} {count}" for status, count in self.work_orders_by_status.items())
            or "none",
        )


def sign_in_text(api_url: str, accounts: DemoAccounts, customer_assets: list[str]) -> str:
    """How a person signs in to the demo's API: the users with their passwords, a token request, the API key."""

    def note(role: Role) -> str:
        if role is Role.CUSTOMER:
            return f", customer {accounts.customer_name!r}: sees {', '.join(customer_assets) or 'no asset'}"
        return f", technician {accounts.technician_name!r}" if role is Role.TECHNICIAN else ""

    planner = accounts.user(Role.PLANNER)
    first, *others = [USER_LINE.substitute(username=u.username, password=u.password, role=u.role.value,
                                           note=note(u.role)) for u in accounts.users]
    return SIGN_IN.substitute(
        tenant=accounts.tenant, api_url=api_url, planner=planner.username, planner_password=planner.password,
        admin_api_key=accounts.admin_api_key, first_user=first,
        user_lines="\n".join(f"{INDENT}{line}" for line in others),
    )


def get_json(url: str, api_key: str, timeout_s: float = 10.0) -> Any:
    """GET a JSON document from the cloud API, as the holder of `api_key`."""
    return _call(urllib.request.Request(url, headers=_bearer(api_key)), timeout_s)


def put_json(url: str, api_key: str, body: dict[str, Any], timeout_s: float = 10.0) -> Any:
    """PUT a JSON document to the cloud API, as the holder of `api_key`."""
    headers = {**_bearer(api_key), "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="PUT")
    return _call(request, timeout_s)


def post_json(url: str, api_key: str, body: dict[str, Any], timeout_s: float = 30.0) -> Any:
    """POST a JSON document to the cloud API, as the holder of `api_key`."""
    headers = {**_bearer(api_key), "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    return _call(request, timeout_s)


def _bearer(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def _call(request: urllib.request.Request, timeout_s: float) -> Any:
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return json.loads(response.read())


def collect(
    api_url: str, api_key: str, devices: int, seconds: float, published: int, faults: dict[str, str]
) -> DemoReport:
    """Ask the API what it stored and decided, and compare with what the fleet did."""
    base = f"{api_url}/api/v1"
    stats = get_json(f"{base}/stats", api_key)
    orders = get_json(f"{base}/work-orders", api_key)
    with_order = {str(order["device_id"]) for order in orders}
    return DemoReport(
        devices=devices,
        seconds=seconds,
        readings_published=published,
        readings_stored=int(stats["readings_stored"]),
        anomaly_events=int(stats["anomalies"]),
        work_orders=len(orders),
        faulty_assets=len(faults),
        faulty_assets_with_work_order=len(with_order & faults.keys()),
        healthy_assets_with_work_order=len(with_order - faults.keys()),
        api_url=api_url,
        faults=faults,
    )
