"""The MQTT link on its own: PUBACKs map back to tokens, in-flight is bounded, reconnects by itself."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from edge_testkit import Observer, wait_until

from cloud.broker import MosquittoBroker
from contract.backoff import Backoff
from contract.wire import DeviceState, DeviceStatus
from edge.link import MqttLink

pytestmark = pytest.mark.mosquitto
T0 = 1_800_000_000.0


def state(status: DeviceStatus) -> DeviceState:
    return DeviceState(tenant="demo", device_id="link-1", ts=T0, status=status, asset_kind="pump")


@pytest.fixture
def link_and_acks(mosquitto: MosquittoBroker) -> Iterator[tuple[MqttLink, list[object]]]:
    acks: list[object] = []
    lock = threading.Lock()

    def on_ack(token: object) -> None:
        with lock:
            acks.append(token)

    link = MqttLink(mosquitto.url, "edge-test-link-1", birth=lambda: state(DeviceStatus.ONLINE),
                    will=lambda: state(DeviceStatus.OFFLINE), on_ack=on_ack, max_inflight=3,
                    backoff=Backoff(base_s=0.05, cap_s=0.2))
    link.start(connect_timeout_s=5)
    yield link, acks
    link.close(state(DeviceStatus.OFFLINE))


def test_every_token_is_acknowledged_once_and_in_flight_stays_bounded(
    link_and_acks: tuple[MqttLink, list[object]], observe: Callable[..., Observer]
) -> None:
    link, acks = link_and_acks
    sent = 0
    while sent < 50:
        if link.publish(state(DeviceStatus.ONLINE), token=sent):
            sent += 1
        assert link.inflight <= link.max_inflight + 1  # + the birth, which is never refused
    assert link.wait_idle(5)
    assert sorted(acks) == list(range(50))  # type: ignore[type-var]


def test_nothing_is_accepted_while_disconnected_and_it_reconnects(
    link_and_acks: tuple[MqttLink, list[object]], mosquitto: MosquittoBroker
) -> None:
    link, _ = link_and_acks
    mosquitto.stop()
    wait_until(lambda: not link.connected, what="disconnect noticed")
    assert link.capacity() == 0
    assert not link.publish(state(DeviceStatus.ONLINE), token="refused")
    mosquitto.start()
    wait_until(lambda: link.connected, what="reconnect")
    assert link.reconnects == 1
    assert link.publish(state(DeviceStatus.ONLINE), token="accepted")
    assert link.wait_idle(5)


def test_the_will_says_offline_when_the_connection_dies(
    mosquitto: MosquittoBroker, observe: Callable[..., Observer]
) -> None:
    observer = observe()
    link = MqttLink(mosquitto.url, "edge-test-will", birth=lambda: state(DeviceStatus.ONLINE),
                    will=lambda: state(DeviceStatus.OFFLINE), on_ack=lambda token: None, keepalive_s=1)
    link.start(connect_timeout_s=5)
    wait_until(lambda: bool(observer.states("link-1")), what="birth")
    link._client.socket().close()  # type: ignore[union-attr]  # a dead network, not a clean disconnect
    wait_until(lambda: observer.states("link-1")[-1].status is DeviceStatus.OFFLINE, what="last will")
    link.close()
