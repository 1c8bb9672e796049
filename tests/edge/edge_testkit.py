"""Test helpers for the edge agent: a tiny real ONNX artifact, and an MQTT observer that decodes what arrives.

The observer can also play the cloud's part in end-to-end confirmation (`confirm=True`):
for each telemetry batch, event and usage report it receives, it publishes the
`Confirm` the cloud would publish after storing it, on the device's confirm topic.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import paho.mqtt.client as mqtt
from onnx import TensorProto, helper
from paho.mqtt.enums import CallbackAPIVersion

from contract.channels import PUMP_CHANNELS, Channel
from contract.wire import (
    TOPIC_ROOT,
    Confirm,
    DeviceState,
    Event,
    Message,
    TelemetryBatch,
    Usage,
    decode,
    encode,
    topic_of,
)
from edge.runtime import METADATA_KEY
from edge.settings import parse_broker_url

# Nominal healthy pump levels (firmware_sim.pump's SKAB-like unit at rated speed).
PUMP_CENTER = (0.2, 0.29, 2.2, 1.2, 89.0, 29.0, 232.0, 122.0)


def healthy_center(device_id: str, steps: int = 100, dt_s: float = 0.02) -> tuple[float, ...]:
    """The mean of a device's own healthy simulated readings (its speed and unit spread differ per seed)."""
    from edge.settings import seed_for
    from firmware_sim.pump import PumpSimulator

    sim = PumpSimulator(seed_for(device_id))
    return tuple(float(v) for v in np.mean([sim.step(dt_s) for _ in range(steps)], axis=0))


def build_model(
    path: Path,
    *,
    channels: Sequence[Channel] = PUMP_CHANNELS,
    center: Sequence[float] = PUMP_CENTER,
    scale: Sequence[float] | None = None,
    window: int = 10,
    threshold: float = 4.0,
    model_id: str = "test-pump",
    version: str = "0.0.1-test",
    kind: str = "anomaly",
) -> Path:
    """Write a z-score anomaly model: contributions = mean over time of z^2, score = their mean.

    The default scale, 5 % of each level, keeps a healthy unit near its center well under 1
    while a worn bearing (3x vibration) scores in the hundreds.
    """
    n = len(channels)
    scale = scale or [0.05 * abs(c) for c in center]
    graph = helper.make_graph(
        [
            helper.make_node("Sub", ["window", "center"], ["centered"]),
            helper.make_node("Div", ["centered", "scale"], ["z"]),
            helper.make_node("Mul", ["z", "z"], ["z2"]),
            helper.make_node("ReduceMean", ["z2"], ["contributions"], axes=[1], keepdims=0),
            helper.make_node("ReduceMean", ["contributions"], ["score"], axes=[1], keepdims=0),
        ],
        "zscore",
        [helper.make_tensor_value_info("window", TensorProto.FLOAT, ["N", window, n])],
        [
            helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"]),
            helper.make_tensor_value_info("contributions", TensorProto.FLOAT, ["N", n]),
        ],
        initializer=[
            helper.make_tensor("center", TensorProto.FLOAT, [n], np.asarray(center[:n], np.float32).tolist()),
            helper.make_tensor("scale", TensorProto.FLOAT, [n], np.asarray(scale[:n], np.float32).tolist()),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    meta = {
        "id": model_id, "version": version, "kind": kind, "asset_kind": "pump",
        "channels": [c.name for c in channels], "units": [c.unit for c in channels],
        "window": window, "threshold": threshold,
    }
    helper.set_model_props(model, {METADATA_KEY: json.dumps(meta)})
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


def seq_ranges(seqs: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """Sorted seqs as inclusive (first, last) runs of consecutive numbers, as a Confirm lists them."""
    runs: list[list[int]] = []
    for seq in sorted(set(seqs)):
        if runs and seq == runs[-1][1] + 1:
            runs[-1][1] = seq
        else:
            runs.append([seq, seq])
    return tuple((first, last) for first, last in runs)


def confirm_of(msg: Message) -> Confirm | None:
    """The Confirm the cloud publishes once it stored `msg` (None for messages it does not confirm)."""
    if isinstance(msg, TelemetryBatch):
        return Confirm(tenant=msg.tenant, device_id=msg.device_id, ts=time.time(), install=msg.install,
                       readings=seq_ranges([r.seq for r in msg.readings]))
    if isinstance(msg, Event):
        return Confirm(tenant=msg.tenant, device_id=msg.device_id, ts=time.time(), install=msg.install,
                       events=(msg.message_id,))
    if isinstance(msg, Usage):
        return Confirm(tenant=msg.tenant, device_id=msg.device_id, ts=time.time(), install=msg.install,
                       usage=(msg.message_id,))
    return None


class Observer:
    """A QoS 1 subscriber to everything under paas/v1, decoding each message with contract.wire.

    With `confirm` (settable at any time) it confirms what it receives as the cloud would.
    """

    def __init__(self, url: str, *, client_id: str = "observer", persistent: bool = False,
                 confirm: bool = False) -> None:
        host, port = parse_broker_url(url)
        self._lock = threading.Lock()
        self.confirm = confirm
        self.messages: list[Message] = []
        self.errors: list[str] = []
        self.retained: list[Message] = []
        self._subscribed = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                   clean_session=not persistent, protocol=mqtt.MQTTv311)
        self._client.reconnect_delay_set(min_delay=1, max_delay=2)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(host, port, keepalive=10)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise AssertionError("observer could not subscribe")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        self._client._reset_sockets()  # close paho's wake-up socket pair now, not at garbage collection

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        client.subscribe(f"{TOPIC_ROOT}/#", qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            decoded = decode(msg.topic, bytes(msg.payload))
        except Exception as exc:  # a test wants to see any malformed message, not lose it in a thread
            with self._lock:
                self.errors.append(f"{msg.topic}: {exc}")
            return
        with self._lock:
            (self.retained if msg.retain else self.messages).append(decoded)
        confirm = confirm_of(decoded) if self.confirm else None
        if confirm is not None:
            client.publish(topic_of(confirm), encode(confirm), qos=1)

    def publish(self, msg: Message) -> None:
        """Publish as the cloud would (QoS 1) and wait until the broker has it."""
        self.publish_raw(topic_of(msg), encode(msg))

    def publish_raw(self, topic: str, payload: bytes) -> None:
        """Publish any payload (QoS 1), e.g. a malformed one, and wait until the broker has it."""
        self._client.publish(topic, payload, qos=1).wait_for_publish(5)

    def all(self) -> list[Message]:
        with self._lock:
            return [*self.retained, *self.messages]

    def telemetry(self, device_id: str) -> list[TelemetryBatch]:
        return [m for m in self.all() if isinstance(m, TelemetryBatch) and m.device_id == device_id]

    def seqs(self, device_id: str) -> list[int]:
        """Every reading seq received, in arrival order, duplicates included."""
        return [r.seq for batch in self.telemetry(device_id) for r in batch.readings]

    def confirms(self, device_id: str) -> list[Confirm]:
        return [m for m in self.all() if isinstance(m, Confirm) and m.device_id == device_id]

    def events(self, device_id: str) -> list[Event]:
        return [m for m in self.all() if isinstance(m, Event) and m.device_id == device_id]

    def states(self, device_id: str) -> list[DeviceState]:
        return [m for m in self.all() if isinstance(m, DeviceState) and m.device_id == device_id]
