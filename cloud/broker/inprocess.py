"""An in-process MQTT broker (amqtt) for machines without Mosquitto.

Limits, measured: MQTT 3.1.1 only, no shared subscriptions, about 7k QoS 1 msg/s,
sessions in memory only. Good enough for the zero-install demo, not for production.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from typing import Any

from cloud.errors import BrokerError


class InProcessBroker:
    """amqtt running on its own event loop in a daemon thread, bound to 127.0.0.1:`port`."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._broker: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        try:
            from amqtt.broker import Broker
        except ImportError as exc:
            raise BrokerError("neither mosquitto nor amqtt is installed; run 'make install'") from exc
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        logging.getLogger("amqtt").setLevel(logging.WARNING)
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._broker = Broker(config, loop=loop)
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._broker.start())
            started.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="amqtt-broker", daemon=True)
        self._thread.start()
        if not started.wait(timeout_s):
            raise BrokerError(f"the in-process broker did not start on port {self.port}")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise BrokerError(f"the in-process broker does not accept connections on port {self.port}")

    def stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        # amqtt logs its own cancelled tasks as errors at shutdown; they are expected.
        logging.getLogger("amqtt").setLevel(logging.CRITICAL)
        future = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), loop)
        with contextlib.suppress(Exception):
            future.result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
