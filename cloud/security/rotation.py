"""Credential rotation over the existing TLS channel: the new credential is sent, and seen in use, before
anything the device may still hold is revoked.

1. `rotate(device)` issues a new username/password and keeps it as a pending rotation
   (`cloud.security.pending`) before anything is sent; marks the device's other credentials
   superseded (revoked on proof, at the latest when they would have expired anyway); rewrites
   the broker's files (both accepted, each file keeping its owner and mode) and reloads the
   broker. Only once the broker was signalled is `Command("rotate_credentials", {username,
   password, expires_at})` sent on the device's commands topic: a device never switches to a
   password the broker does not know.
2. The agent persists it, reconnects, and its birth and heartbeats report the username it logged
   in with (`health.mqtt_username`); `observe` sees the new name and revokes the others.
3. Until then the rotation is retried with the **same** credential: `sweep()` sends it again
   with exponential back-off and full jitter (`retry_s` doubling up to `retry_max_s`), and a
   device seen on a superseded login (back from being offline, or it missed the command) is sent
   it at once, at most once per `RESEND_AFTER_S`. A failed reload or send is retried the same
   way; it never revokes anything.
4. `sweep()` also starts the rotation of every device below 20 % of its validity, supersedes a
   newest credential that was never sent (the cloud stopped between issuing and keeping it) with
   a fresh rotation, revokes superseded credentials that expired, and re-syncs the broker after
   a failed reload.

The rotator is not thread-safe: one thread drives it (`cloud.security.rotation_service`).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import replace

from cloud.errors import BrokerError, CloudError
from cloud.security.credentials import CredentialInfo, CredentialStore
from cloud.security.layout import SecurityLayout
from cloud.security.pending import PendingRotation, PendingRotations
from cloud.security.provisioning import sync_broker
from contract.backoff import Backoff
from contract.clock import Clock
from contract.wire import Command, DeviceState, DeviceStatus, format_ts
from edge.credentials import HEALTH_USERNAME_KEY, ROTATE_COMMAND

log = logging.getLogger("cloud.security")

ROTATE_WHEN_LEFT = 0.2  # rotate once less than this fraction of a credential's validity is left
# A device seen on its old login this long after the last send did not get it (one that did switches within a
# second, and sends no state while it reconnects): send it again.
RESEND_AFTER_S = 10.0
RETRY_S, RETRY_MAX_S = 60.0, 3600.0


class CredentialRotator:
    """Rotate device credentials; `send` delivers a command over TLS (`SecureCommandChannel.send`), `sync`
    rewrites the broker's files and reloads it (True once the broker was signalled)."""

    def __init__(self, store: CredentialStore, layout: SecurityLayout, send: Callable[[Command], None],
                 clock: Clock, *, valid_s: float, retry_s: float = RETRY_S, retry_max_s: float = RETRY_MAX_S,
                 sync: Callable[[], bool] | None = None, rng: random.Random | None = None) -> None:
        self._store, self._layout, self._send, self._clock = store, layout, send, clock
        self._valid_s, self._retry_s, self._retry_max_s = valid_s, retry_s, retry_max_s
        self._sync = sync or (lambda: sync_broker(store, layout))
        self._rng = rng or random.Random()
        self.pending = PendingRotations(layout.rotations_dir)
        self._unsettled: set[str] | None = None  # devices with a rotation on its way (None: not read yet)
        self._broker_stale = False  # a revocation the broker has not been told about yet

    def rotate(self, device_id: str) -> PendingRotation:
        """Start a rotation (or, when one is on its way, send that one again); the credential sent."""
        current = self._store.current(device_id)
        on_its_way = self.pending.get(current.username)
        if on_its_way is not None:
            return self._deliver(on_its_way)
        new = PendingRotation.of(self._store.issue(current.tenant, device_id, self._valid_s))
        self.pending.put(new)  # before anything is sent: whatever is sent can be sent again
        self._store.supersede(device_id, keep=new.username)
        self._unsettled_devices().add(device_id)
        log.info("event=credentials_issued device=%s username=%s expires_at=%s", device_id, new.username,
                 format_ts(new.expires_at))
        return self._deliver(new)

    def observe(self, state: DeviceState) -> bool:
        """A device state arrived: True if it proved the newest credentials in use and the others were revoked."""
        username = state.health.get(HEALTH_USERNAME_KEY)
        if state.status is not DeviceStatus.ONLINE or not isinstance(username, str):
            return False
        if state.device_id not in self._unsettled_devices():
            return False
        active = self._store.active(state.device_id)
        if not active:
            return False
        newest = active[-1]
        if username == newest.username:
            return self._proved(newest)
        rotation = self.pending.get(newest.username)
        if rotation is not None and any(c.username == username for c in active[:-1]) and (
            rotation.tried_at is None or self._clock.time() - rotation.tried_at >= RESEND_AFTER_S
        ):
            log.info("event=rotation_resent device=%s reason=%r", state.device_id, "seen on a superseded login")
            self._deliver(rotation)
        return False

    def sweep(self) -> list[str]:
        """Retry, start due rotations, revoke expired superseded credentials; the devices whose rotation started."""
        now = self._clock.time()
        self._unsettled = self._store.unsettled()
        newest = {c.device_id: c for c in self._store.active()}
        for rotation in self.pending.all():
            if self._forget_if_done(rotation, newest.get(rotation.device_id)):
                continue
            if rotation.next_at <= now:
                self._deliver(rotation)
        started = []
        for device_id in sorted(self._unsettled):
            if not self.pending.exists(newest[device_id].username):
                # Issued, never kept, so never sent: the device cannot have it. A fresh rotation supersedes it.
                log.warning("event=rotation_restarted device=%s reason=%r", device_id, "newest credential never sent")
                started.append(self.rotate(device_id).device_id)
        for due in self._store.due_for_rotation(ROTATE_WHEN_LEFT):
            if due.device_id not in self._unsettled:
                started.append(self.rotate(due.device_id).device_id)
        if self._store.revoke_superseded(only_due=True):
            self._broker_stale = True
        if self._broker_stale:
            self._try_sync("expired credentials revoked")
        return started

    def _deliver(self, rotation: PendingRotation) -> PendingRotation:
        """Reload the broker (once) and send the command; either failing is logged and retried later."""
        now = self._clock.time()
        delay = Backoff(self._retry_s, self._retry_max_s, self._rng, rotation.attempts).next_delay()
        tried = replace(rotation, attempts=rotation.attempts + 1, tried_at=now, next_at=now + delay)
        try:
            if not rotation.broker_has_it:
                if not self._sync():
                    raise BrokerError(f"no broker runs at the pid in {self._layout.pid_file} (PAAS_BROKER_PID_FILE); "
                                      "the credentials are sent once the broker has re-read its files")
                tried = replace(tried, broker_has_it=True)
            self._send(_command(rotation, now))
            tried = replace(tried, sent_at=now)
            log.info("event=rotation_sent device=%s username=%s attempt=%d", rotation.device_id, rotation.username,
                     tried.attempts)
        except (CloudError, OSError) as exc:
            log.error("event=rotation_not_sent device=%s username=%s attempt=%d retry_in_s=%.0f error=%r",
                      rotation.device_id, rotation.username, tried.attempts, delay, str(exc))
        self.pending.put(tried)
        return tried

    def _proved(self, newest: CredentialInfo) -> bool:
        revoked = self._store.revoke_superseded(newest.device_id)
        self.pending.remove(newest.username)
        self._unsettled_devices().discard(newest.device_id)
        if not revoked:
            return False
        log.info("event=credentials_revoked device=%s reason=%r", newest.device_id, "new credentials in use")
        self._broker_stale = True
        self._try_sync("superseded credentials revoked")
        return True

    def _forget_if_done(self, rotation: PendingRotation, newest: CredentialInfo | None) -> bool:
        """Forget a rotation whose credential was revoked, replaced, or proven (the cloud stopped before forgetting)."""
        unsettled = rotation.device_id in self._unsettled_devices()
        if newest is not None and newest.username == rotation.username and unsettled:
            return False
        self.pending.remove(rotation.username)
        return True

    def _try_sync(self, why: str) -> None:
        try:
            if self._sync():
                self._broker_stale = False
                return
            problem = f"no broker runs at the pid in {self._layout.pid_file}"
        except (CloudError, OSError) as exc:
            problem = str(exc)
        log.error("event=broker_not_reloaded reason=%r error=%r retry=%r", why, problem, "next pass")

    def _unsettled_devices(self) -> set[str]:
        if self._unsettled is None:
            self._unsettled = self._store.unsettled()
        return self._unsettled


def _command(rotation: PendingRotation, now: float) -> Command:
    return Command(
        tenant=rotation.tenant, device_id=rotation.device_id, ts=now, name=ROTATE_COMMAND,
        params={"username": rotation.username, "password": rotation.password,
                "expires_at": format_ts(rotation.expires_at)},
    )

