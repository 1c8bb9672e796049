"""Builders for wire-protocol messages and a small MQTT publisher, shared by the cloud tests."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cloud.ingest.handler import MessageHandler
from cloud.ingest.stats import IngestCounters, IngestStats
from cloud.settings import CloudSettings
from cloud.store.database import Database
from cloud.store.timeseries import SqlTimeSeriesStore
from contract.channels import PUMP_CHANNELS
from contract.clock import ManualClock
from contract.wire import (
    ChannelRef,
    DeviceState,
    DeviceStatus,
    Event,
    EventKind,
    Message,
    ModelRef,
    Reading,
    TelemetryBatch,
    encode,
    topic_of,
)
from firmware_sim.pump import PumpSimulator

TENANT = "acme"
T0 = 1_800_000_000.0
MODEL = ModelRef("pump-ae", "1.2.0")
PUMP = tuple(ChannelRef(c.name, c.unit) for c in PUMP_CHANNELS)
_seq = itertools.count(1)


def telemetry(
    device: str,
    first_seq: int,
    n: int = 10,
    t0: float = T0,
    period: float = 1.0,
    channels: Sequence[ChannelRef] = PUMP,
    value: float = 1.0,
    tenant: str = TENANT,
) -> TelemetryBatch:
    readings = tuple(
        Reading(first_seq + i, t0 + (first_seq + i) * period, tuple(value + j for j in range(len(channels))))
        for i in range(n)
    )
    return TelemetryBatch(tenant, device, tuple(channels), readings, sent_at=t0 + (first_seq + n) * period)


def anomaly(device: str, ts: float, score: float = 0.9, is_anomaly: bool = True, tenant: str = TENANT) -> Event:
    return Event(
        tenant=tenant,
        device_id=device,
        seq=next(_seq),
        ts=ts,
        kind=EventKind.ANOMALY,
        score=score,
        threshold=0.5,
        is_anomaly=is_anomaly,
        contributions={"accel1_rms": 0.6 * score, "current": 0.3 * score, "pressure": 0.1 * score},
        model=MODEL,
        window_start=ts - 10,
        window_end=ts,
        window_samples=10,
    )


def state(
    device: str, ts: float = T0, status: DeviceStatus = DeviceStatus.ONLINE, kind: str = "pump", tenant: str = TENANT
) -> DeviceState:
    return DeviceState(
        tenant, device, ts, status, asset_kind=kind, agent_version="0.1.0", model=MODEL, health={"queue": 0}
    )


def raw(message: Message) -> tuple[str, bytes]:
    return topic_of(message), encode(message)


class Publisher:
    """A QoS 1 publisher that waits for each PUBACK (so the broker holds the message)."""

    def __init__(self, broker_url: str, client_id: str = "test-publisher") -> None:
        url = urlsplit(broker_url)
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        self._client.connect(url.hostname or "127.0.0.1", url.port or 1883)
        self._client.loop_start()

    def send(self, topic: str, payload: bytes, retain: bool = False) -> None:
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout=10)
        assert info.is_published(), f"not published: {topic}"

    def message(self, message: Message) -> None:
        self.send(*raw(message))

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0, what: str = "condition") -> None:
    """Poll `condition` until it holds; fail the test with `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)


def service_settings(broker_url: str, data_dir: Path, **overrides: object) -> CloudSettings:
    values: dict[str, object] = {
        "broker_url": broker_url,
        "db_url": f"sqlite:///{data_dir / 'cloud.db'}",
        "tsdb_url": f"sqlite:///{data_dir / 'timeseries.db'}",
        "port": 0,
        "ingest_linger_s": 0.02,
        **overrides,
    }
    return CloudSettings(**values)  # type: ignore[arg-type]


@dataclass
class Stores:
    """The ingest's message handler over real stores, with a manual clock."""

    database: Database
    timeseries: SqlTimeSeriesStore
    handler: MessageHandler
    counters: IngestCounters
    clock: ManualClock


def publish_pump_fleet(broker_url: str, stats: Callable[[], IngestStats], devices: Sequence[str], now: float,
                       client_id: str, tenant: str = TENANT) -> None:
    """Pumps with 100 readings each and three anomalies (so a work order each), and one dead letter; waits for both."""
    publisher = Publisher(broker_url, client_id=client_id)
    try:
        pump = PumpSimulator(7)
        rows = tuple(Reading(seq, T0 + seq, pump.step(1.0)) for seq in range(100))
        for device in devices:
            publisher.message(state(device, tenant=tenant))
            publisher.message(TelemetryBatch(tenant, device, PUMP, rows, sent_at=T0 + 100))
            for i in range(3):
                publisher.message(anomaly(device, now - 30 + i, tenant=tenant))
        publisher.send(topic_of(state(devices[0], tenant=tenant)), b"{not json")  # kept as a dead letter
        wait_until(lambda: stats().work_orders_opened == len(devices), what="a work order per pump")
        wait_until(lambda: stats().dead_lettered == 1, what="a dead letter")
    finally:
        publisher.close()
