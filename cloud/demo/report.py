"""The demo's outcome: gathered through the public HTTP API, shown to a person and as JSON."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import asdict, dataclass
from string import Template
from typing import Any

SUMMARY = Template("""\

Demo finished: $devices simulated devices for $seconds s ($faulty with an injected fault).
  readings published by the edge agents : $readings_published
  readings stored by the cloud          : $readings_stored  ($storage_verdict)
  anomaly events                        : $anomaly_events
  maintenance work orders proposed      : $work_orders
  faulty assets with a work order       : $faulty_assets_with_work_order of $faulty
  healthy assets with a work order      : $healthy_assets_with_work_order of $healthy
Faults injected: $fault_list
API: $api_url  (OpenAPI docs at $api_url/docs)
""")


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

    @property
    def all_stored(self) -> bool:
        return self.readings_stored == self.readings_published

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=False)

    def to_text(self) -> str:
        healthy = self.devices - self.faulty_assets
        return SUMMARY.substitute(
            asdict(self),
            faulty=self.faulty_assets,
            healthy=healthy,
            storage_verdict="all stored, none twice" if self.all_stored else "MISMATCH",
            fault_list=", ".join(f"{device} {fault}" for device, fault in sorted(self.faults.items())) or "none",
        )


def get_json(url: str, timeout_s: float = 10.0) -> Any:
    """GET a JSON document from the cloud API."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return json.loads(response.read())


def collect(api_url: str, devices: int, seconds: float, published: int, faults: dict[str, str]) -> DemoReport:
    """Ask the API what it stored and decided, and compare with what the fleet did."""
    base = f"{api_url}/api/v1"
    stats = get_json(f"{base}/stats")
    orders = get_json(f"{base}/work-orders")
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
