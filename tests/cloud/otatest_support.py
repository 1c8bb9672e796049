"""Shared by the device-state and rollout tests: the API with a recording command publisher, state messages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
from cloudtest_support import TENANT, Stores, raw
from registrytest_support import ServedApi, api_over, artifact

from contract.wire import Command, DeviceState, DeviceStatus, ModelRef

OCTETS = {"content-type": "application/octet-stream"}
PUBLIC_URL = "http://cloud.example"  # PAAS_PUBLIC_API_URL: where devices are sent to fetch artifacts


@dataclass
class Commands:
    """Records published commands; `accept` False plays a broker that does not acknowledge."""

    sent: list[Command] = field(default_factory=list)
    accept: bool = True

    def publish(self, command: Command) -> bool:
        self.sent.append(command)
        return self.accept

    def to(self, device: str) -> list[Command]:
        return [c for c in self.sent if c.device_id == device]


@contextmanager
def api_with_commands(stores: Stores, db_url: str) -> Iterator[tuple[ServedApi, Commands]]:
    """The real HTTP API over `stores` (no MQTT), public at PUBLIC_URL; commands are recorded, not sent."""
    commands = Commands()
    with api_over(stores, db_url, publish_command=commands.publish, public_api_url=PUBLIC_URL) as api:
        yield api, commands


def register(client: httpx.Client, model_id: str = "pump-det", version: str = "1", seed: int = 0) -> dict[str, str]:
    response = client.post("/models", content=artifact(model_id, version, seed), headers=OCTETS)
    assert response.status_code in (200, 201), response.text
    body: dict[str, str] = response.json()
    return body


def report(stores: Stores, device: str, ts: float, model: tuple[str, str] | None = None, status: str = "",
           target: str = "", kind: str = "pump", rate: float | None = None) -> None:
    """The device's retained state as its agent sends it (update_* in the health), through the ingest."""
    health: dict[str, float | int | str] = {"queue_depth": 0}
    if status:
        health["update_status"] = status
    if target:
        health["update_target"] = target
    if rate is not None:
        health["sample_rate_hz"] = rate
    message = DeviceState(TENANT, device, ts, DeviceStatus.ONLINE, asset_kind=kind, agent_version="0.1.0",
                          model=None if model is None else ModelRef(*model), health=health)
    [outcome] = stores.handler.apply([raw(message)])
    assert outcome.accepted, outcome
