"""Credential rotation inside the cloud service: a thread that sweeps periodically and acts on device states.

`cloud serve` runs it when its broker is a secured one (`PAAS_BROKER=mqtts://…`, the cloud
listener): every `PAAS_ROTATION_INTERVAL_S` (60 s) it starts due rotations, retries those not yet
proven, and revokes expired superseded credentials (`CredentialRotator.sweep`); between passes
it reads every device's state (retained births included, so a restart of the service catches
up) and hands it to `CredentialRotator.observe`: a device back on its old login is sent its new
credentials at once, one on its new login gets its old ones revoked. States arrive on paho's
thread and are queued; all the work (database, broker files, sends) happens on this one
thread, so the rotator needs no lock and a send can wait for its PUBACK.

`python -m cloud rotate-credentials` uses the same object without its thread (`rotate_now`,
`settle`), on a client id of its own so that it never takes the service's connection over.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable

from cloud.security.command_channel import SecureCommandChannel, security_login
from cloud.security.credentials import CredentialStore
from cloud.security.layout import SecurityLayout
from cloud.security.pending import PendingRotation
from cloud.security.rotation import CredentialRotator
from cloud.settings import CloudSettings
from cloud.store.database import Database
from contract.clock import Clock
from contract.wire import DeviceState

log = logging.getLogger("cloud.security")

DAY_S = 86400.0
SERVICE_CLIENT_ID = "paas-cloud-rotation"


class RotationService:
    """The rotator, its TLS channel to the cloud listener, and (once started) the thread that drives both."""

    def __init__(self, settings: CloudSettings, database: Database, clock: Clock, *,
                 client_id: str = SERVICE_CLIENT_ID) -> None:
        self._interval_s = settings.rotation_interval_s
        layout = SecurityLayout.from_settings(settings)
        self._states: queue.Queue[DeviceState] = queue.Queue()
        self._channel = SecureCommandChannel(settings.broker_url, security_login(settings, layout),
                                             client_id=client_id, on_state=self._states.put)
        self.rotator = CredentialRotator(
            CredentialStore(database, clock), layout, self._channel.send, clock,
            valid_s=settings.credential_valid_days * DAY_S, retry_s=settings.rotation_retry_s,
            retry_max_s=settings.rotation_retry_max_s,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_command_line(cls, settings: CloudSettings, database: Database, clock: Clock) -> RotationService:
        return cls(settings, database, clock, client_id=f"paas-cloud-cli-{os.getpid()}")

    def open(self) -> None:
        """Connect to the cloud listener and subscribe to device states; `BrokerError` if it cannot."""
        self._channel.open()

    def start(self) -> None:
        """Connect, then sweep at once and every interval on a thread of its own."""
        self.open()
        self._thread = threading.Thread(target=self._run, name="credential-rotation", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
        self._channel.close()

    def rotate_now(self, device_id: str) -> PendingRotation:
        return self.rotator.rotate(device_id)

    def settle(self, device_id: str, timeout_s: float) -> bool:
        """Handle device states for up to `timeout_s`; True once `device_id` proved its new credentials in use."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                state = self._states.get(timeout=left)
            except queue.Empty:
                return False
            if self.rotator.observe(state) and state.device_id == device_id:
                return True
        return False

    def _run(self) -> None:
        # Real time between passes (like cloud.registry.rollout_ticker): the interval paces database work.
        next_pass = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() >= next_pass:
                self._guarded(self.rotator.sweep)
                next_pass = time.monotonic() + self._interval_s
            try:
                state = self._states.get(timeout=max(0.0, min(next_pass - time.monotonic(), 0.5)))
            except queue.Empty:
                continue
            self._guarded(functools.partial(self.rotator.observe, state))

    def _guarded(self, work: Callable[[], object]) -> None:
        try:
            work()
        except Exception:  # a failing pass must not end rotation for good: log it, the next pass retries
            log.exception("event=rotation_pass_failed retry_in_s=%.0f", self._interval_s)
