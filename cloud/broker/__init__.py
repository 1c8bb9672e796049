"""MQTT brokers the project starts itself: a private Mosquitto, or an in-process amqtt.

Production runs a managed broker (Mosquitto, EMQX, HiveMQ); these are for the demo
and the tests. `start_embedded_broker` prefers the `mosquitto` binary when on PATH.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Protocol

from cloud.broker.mosquitto import MosquittoBroker, free_port


class RunningBroker(Protocol):
    """A broker this process started: where to reach it, and how to stop it."""

    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...


def start_embedded_broker(data_dir: Path, port: int | None = None) -> RunningBroker:
    """Start the best broker available here: Mosquitto if installed, else in-process amqtt."""
    port = port or free_port()
    if shutil.which("mosquitto"):
        broker = MosquittoBroker(port=port, data_dir=data_dir)
        broker.start()
        return broker
    from cloud.broker.inprocess import InProcessBroker

    inprocess = InProcessBroker(port=port)
    inprocess.start()
    return inprocess


__all__ = ["MosquittoBroker", "RunningBroker", "free_port", "start_embedded_broker"]
