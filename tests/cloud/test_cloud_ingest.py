"""The ingest end to end: paho publisher -> private Mosquitto -> cloud service -> HTTP API."""

from __future__ import annotations

import contextlib
import json
import socket
from pathlib import Path

import httpx
import pytest
from authtest_support import RoleClients
from cloudtest_support import PUMP, T0, Publisher, anomaly, service_settings, state, telemetry, wait_until

from cloud.auth.roles import Role
from cloud.broker import MosquittoBroker, free_port
from cloud.errors import BrokerError, ConfigError
from cloud.server import CloudService
from cloud.settings import CloudSettings
from contract.wire import ChannelRef, encode, topic_of


def stored(api: httpx.Client, device: str) -> int:
    response = api.get(f"/assets/{device}")
    return int(response.json()["readings_stored"]) if response.status_code == 200 else 0


def test_valid_batches_are_stored_and_counted_through_the_api(
    cloud: CloudService, api: httpx.Client, clients: RoleClients, publisher: Publisher
) -> None:
    devices = ["pump-1", "pump-2", "pump-3"]
    for device in devices:
        publisher.message(state(device))
        for batch in range(5):
            publisher.message(telemetry(device, batch * 20, 20))
    wait_until(lambda: all(stored(api, d) == 100 for d in devices), what="300 readings stored")
    stats = api.get("/stats").json()
    assert stats["readings_stored"] == 300
    assert stats["assets"] == 3
    assert clients.platform_admin().get("/stats").json()["ingest"]["accepted"] == 18
    assert cloud.ingest_stats().readings_stored == 300
    assert cloud.fleet_counts().readings_stored == 300


def test_malformed_and_hostile_payloads_never_cost_good_readings(
    cloud: CloudService, api: httpx.Client, clients: RoleClients, publisher: Publisher
) -> None:
    topic = topic_of(telemetry("pump-1", 0))
    fahrenheit = tuple(ChannelRef(c.name, "degF" if c.name == "motor_temp" else c.unit) for c in PUMP)
    unconvertible = tuple(ChannelRef(c.name, "V" if c.name == "motor_temp" else c.unit) for c in PUMP)
    version_2 = json.loads(encode(telemetry("pump-1", 500)))
    version_2["v"] = 2
    hostile = [
        b"{not json",
        b"\x00\xff\xfe garbage \x80",
        b"[]",
        b"null",
        json.dumps(version_2).encode(),
        encode(telemetry("pump-1", 600)).replace(b'"values":[1.0', b'"values":[NaN', 1),
        # (An oversized payload never reaches the cloud: the broker's max_packet_size refuses it.)
        encode(telemetry("pump-2", 800)),  # pump-2's payload on pump-1's topic
        encode(telemetry("pump-1", 900, channels=unconvertible)),
    ]
    sent = 0
    for i, payload in enumerate(hostile):
        publisher.message(telemetry("pump-1", i * 10, 10))
        sent += 10
        publisher.send(topic, payload)
    publisher.message(telemetry("pump-3", 0, 10, channels=fahrenheit, value=32.0))  # motor_temp: 36 degF
    wait_until(lambda: stored(api, "pump-1") == sent and stored(api, "pump-3") == 10, what="the good readings")
    wait_until(lambda: cloud.ingest_stats().rejected_total == len(hostile), what="every hostile payload rejected")
    stats = cloud.ingest_stats()
    assert stats.rejected == {"malformed": len(hostile) - 1, "unit": 1}
    assert stats.dead_lettered == len(hostile)  # none thrown away: each kept as it arrived
    letters = clients(Role.OPERATOR).get("/dead-letters", params={"limit": 100}).json()
    assert sorted(letter["reason"] for letter in letters) == sorted(["malformed"] * (len(hostile) - 1) + ["unit"])
    assert {letter["topic"] for letter in letters} == {topic}
    assert stored(api, "pump-2") == 0
    hour = {"start": "2027-01-15T08:00:00Z", "end": "2027-01-15T09:00:00Z", "step": 60}
    series = api.get("/assets/pump-3/telemetry", params=hour).json()
    motor_temp = next(c for c in series["channels"] if c["name"] == "motor_temp")
    assert motor_temp["unit"] == "degC"
    assert motor_temp["mean"][0] == pytest.approx((36.0 - 32.0) * 5 / 9)


def test_a_persistent_anomaly_opens_one_work_order_that_a_planner_approves(
    cloud: CloudService, api: httpx.Client, clients: RoleClients, publisher: Publisher
) -> None:
    publisher.message(telemetry("pump-1", 0, 100))
    for i in range(4):
        publisher.message(anomaly("pump-1", T0 + 50 + 10 * i, score=0.8 + i / 100))
    publisher.message(anomaly("pump-2", T0 + 50))  # a single blip elsewhere
    wait_until(lambda: api.get("/events", params={"anomalies_only": True}).json().__len__() == 5, what="5 events")
    [order] = api.get("/work-orders").json()
    assert (order["device_id"], order["status"]) == ("pump-1", "proposed")
    detail = api.get(f"/work-orders/{order['id']}").json()
    assert detail["evidence"]["event_count"] == 4
    assert detail["evidence"]["max_score"] == pytest.approx(0.83)
    assert detail["evidence"]["top_channels"][0]["channel"] == "accel1_rms"
    planner = clients(Role.PLANNER)
    approved = planner.post(f"/work-orders/{order['id']}/approve", json={})
    assert approved.status_code == 200
    assert (approved.json()["status"], approved.json()["decided_by"]) == ("approved", "api_key:planner-acme")
    assert planner.post(f"/work-orders/{order['id']}/approve", json={}).status_code == 409
    assets = {a["device_id"]: a for a in api.get("/assets").json()}
    assert assets["pump-1"]["open_work_orders"] == 1
    assert assets["pump-2"]["open_work_orders"] == 0


def test_messages_sent_while_the_cloud_is_down_are_ingested_after_a_restart(
    cloud: CloudService, publisher: Publisher
) -> None:
    publisher.message(telemetry("pump-1", 0, 10))
    wait_until(lambda: cloud.ingest_stats().readings_stored == 10, what="the first batch")
    for restart in range(2):  # start/stop several times in one process
        cloud.stop()
        publisher.message(telemetry("pump-1", 100 * (restart + 1), 10))  # queued in the persistent session
        cloud.start()
        wait_until(lambda: cloud.ingest_stats().readings_stored == 10, what="the batch sent while down")
    assert cloud.fleet_counts().readings_stored == 30


def test_the_ingest_reconnects_after_the_broker_restarts(cloud: CloudService, mosquitto: MosquittoBroker) -> None:
    first = Publisher(mosquitto.url, client_id="before-restart")
    first.message(telemetry("pump-1", 0, 10))
    first.close()
    wait_until(lambda: cloud.ingest_stats().readings_stored == 10, what="the first batch")
    mosquitto.stop()
    wait_until(lambda: not httpx.get(f"{cloud.api_url}/healthz").json()["broker_connected"], what="the drop noticed")
    mosquitto.start()
    wait_until(lambda: httpx.get(f"{cloud.api_url}/healthz").json()["broker_connected"], what="the reconnect")
    second = Publisher(mosquitto.url, client_id="after-restart")
    batch = telemetry("pump-1", 10, 10)
    try:
        # Sent until stored, as a device would: a broker that lost its sessions drops what arrives before the
        # ingest has subscribed again, and the dedupe makes the repeats harmless.
        for _ in range(20):
            second.message(batch)
            with contextlib.suppress(AssertionError):
                wait_until(lambda: cloud.ingest_stats().readings_stored >= 20, timeout_s=1, what="the batch")
                break
        assert cloud.fleet_counts().readings_stored == 20
    finally:
        second.close()


def test_start_says_what_to_do_when_the_broker_is_unreachable(tmp_path: Path) -> None:
    settings = CloudSettings(
        broker_url=f"mqtt://127.0.0.1:{free_port()}",
        db_url=f"sqlite:///{tmp_path}/c.db",
        tsdb_url=f"sqlite:///{tmp_path}/t.db",
        port=0,
    )
    service = CloudService(settings)
    with pytest.raises(BrokerError, match=r"cannot reach the MQTT broker at mqtt://127\.0\.0\.1:\d+.*--broker"):
        service.start()
    assert not service.running
    service.stop()  # harmless when not running


def test_start_says_what_to_do_when_the_api_port_is_taken(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        service = CloudService(service_settings(mosquitto.url, tmp_path, port=port))
        with pytest.raises(ConfigError, match=rf"cannot listen on 127\.0\.0\.1:{port}.*--port"):
            service.start()
    assert not service.running
