"""Per-device limits at ingest: a device over its message or byte budget has its excess kept as dead letters
(`device_rate_limited`, counted, not confirmed), while every other device is served as usual.

The budgets run on the service's injected clock: a `ManualClock` that stands still refills nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import pytest
from authtest_support import RoleClients, service_database
from cloudtest_support import T0, TENANT, Publisher, service_settings, telemetry, wait_until
from ingesttest_support import ConfirmListener
from paho.mqtt.enums import CallbackAPIVersion

from cloud.auth.roles import Role
from cloud.broker import MosquittoBroker
from cloud.ingest.limits import RATE_LIMITED, DeviceBudget, DeviceLimits
from cloud.server import CloudService
from contract.clock import ManualClock
from contract.wire import encode, topic_of

NOW = T0 + 3600
BURST = 50


def test_a_device_s_budget_refills_with_the_clock_and_each_device_has_its_own() -> None:
    clock = ManualClock()
    limits = DeviceLimits(DeviceBudget(msgs_per_s=2.0, msg_burst=4, bytes_per_s=1000.0, byte_burst=3000), clock)
    noisy, quiet = "paas/v1/acme/noisy/telemetry", "paas/v1/acme/quiet/telemetry"
    assert [limits.refusal(noisy, 10) is None for _ in range(6)] == [True] * 4 + [False] * 2
    assert limits.refusal(quiet, 10) is None  # another device: its own budget
    clock.advance(1.0)  # two messages' worth
    assert [limits.refusal(noisy, 10) is None for _ in range(3)] == [True, True, False]
    clock.advance(10.0)
    assert limits.refusal(noisy, 2999) is None  # 10 s later both buckets are full again (burst: 3000 bytes)
    assert "bytes/s" in (limits.refusal(noisy, 10) or "")  # the byte budget is spent
    assert limits.refusal("not/a/device/topic/at/all", 10) is None  # a topic naming no device: one shared budget


def test_the_least_recently_heard_of_device_is_forgotten_beyond_the_bound() -> None:
    limits = DeviceLimits(DeviceBudget(1.0, 1, 1e6, 1e6), ManualClock(), max_devices=2)
    for device in ("a", "b"):
        assert limits.refusal(f"paas/v1/t/{device}/usage", 1) is None
    assert limits.refusal("paas/v1/t/a/usage", 1) is not None  # a spent its burst; b is now the oldest
    assert limits.refusal("paas/v1/t/c/usage", 1) is None  # a third device: b is forgotten
    assert limits.refusal("paas/v1/t/b/usage", 1) is None  # ... and starts full again


@pytest.fixture
def service(mosquitto: MosquittoBroker, tmp_path: Path) -> Iterator[CloudService]:
    settings = service_settings(mosquitto.url, tmp_path / "cloud", ingest_device_msg_burst=BURST)
    cloud = CloudService(settings, clock=ManualClock(NOW))
    cloud.start()
    try:
        yield cloud
    finally:
        cloud.stop()


def test_a_flooding_device_has_its_excess_dead_lettered_while_another_is_served_promptly(
    service: CloudService, mosquitto: MosquittoBroker, publisher: Publisher
) -> None:
    flood = [telemetry("noisy", seq, 1) for seq in range(1, 2001)]
    normal = [telemetry("quiet", 1 + 10 * i, 10) for i in range(20)]
    confirms = ConfirmListener(mosquitto.url, TENANT, "noisy")
    try:
        flooding = flood_in_background(mosquitto.url, [(topic_of(m), encode(m)) for m in flood])
        for batch in normal:
            publisher.message(batch)
        sent_at = time.monotonic()
        wait_until(lambda: stored(service, "quiet") == 200, timeout_s=10, what="the quiet device's readings")
        promptly = time.monotonic() - sent_at
        flooding.loop_stop()
        flooding.disconnect()
        wait_until(lambda: service.ingest_stats().rejected.get(RATE_LIMITED) == len(flood) - BURST, timeout_s=60,
                   what="the flood's excess")
        assert promptly < 5.0, f"the quiet device waited {promptly:.1f} s"
        assert stored(service, "noisy") == BURST
        with RoleClients(service_database(service), service.api_url, TENANT) as clients:
            ingest = clients.platform_admin().get("/stats").json()["ingest"]
            assert ingest["rejected"] == {RATE_LIMITED: len(flood) - BURST}
            assert ingest["dead_lettered"] == len(flood) - BURST
            letters = clients(Role.OPERATOR).get("/dead-letters", params={"reason": RATE_LIMITED,
                                                                          "limit": 10_000}).json()
        assert {d["device_id"] for d in letters} == {"noisy"} and len(letters) == len(flood) - BURST
        assert sorted(d["message_id"] for d in letters) == sorted(m.message_id for m in flood[BURST:])
        # Only what was stored is confirmed: the agent keeps the excess and sends it again once its budget refills.
        wait_until(lambda: confirms.readings() == list(range(1, BURST + 1)), what="the stored part confirmed")
    finally:
        confirms.close()


def stored(service: CloudService, device: str) -> int:
    running = service._running  # the tests' door into the running service's store
    assert running is not None
    return running.timeseries.count(device)


def flood_in_background(broker_url: str, messages: list[tuple[str, bytes]]) -> mqtt.Client:
    """A device publishing as fast as the broker takes it (QoS 1, a wide in-flight window), on its own thread."""
    url = urlsplit(broker_url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="noisy-device", protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(1000)
    client.connect(url.hostname or "127.0.0.1", url.port or 1883)
    client.loop_start()
    for topic, payload in messages:
        client.publish(topic, payload, qos=1)
    return client
