"""Credential rotation over the existing TLS channel, with a grace period and revocation on proof of use.

1. `rotate(device)` issues a new username/password, schedules the old ones for revocation after
   the grace period, rewrites the broker's files (both now accepted) and sends the device
   `Command("rotate_credentials", {username, password, expires_at})` on its commands topic.
2. The agent persists them, reconnects, and its birth reports the username it logged in with
   (`health.mqtt_username`); `on_state` sees the new name and revokes the old credentials at once.
3. `sweep()` (periodic) rotates every device with less than 20 % of its validity left and revokes
   superseded credentials whose grace period ran out. A scheduled rotation keeps the old password
   until it would have expired anyway, so a device offline at that moment can still log in; when
   it comes back with a superseded username, `on_state` sends it a fresh rotation (commands are
   not retained, and the cloud never keeps a password it could send again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from cloud.errors import NotFoundError
from cloud.security.credentials import CredentialStore, IssuedCredential
from cloud.security.layout import SecurityLayout
from cloud.security.provisioning import sync_broker
from contract.clock import Clock
from contract.wire import Command, DeviceState, DeviceStatus, format_ts
from edge.credentials import HEALTH_USERNAME_KEY, ROTATE_COMMAND

log = logging.getLogger("cloud.security")

ROTATE_WHEN_LEFT = 0.2  # rotate once less than this fraction of a credential's validity is left
RESEND_AFTER_S = 60.0  # a superseded login this long after a rotation means the device missed it


class CredentialRotator:
    """Rotate device credentials; `send` delivers a command over TLS (`SecureCommandChannel.send`)."""

    def __init__(self, store: CredentialStore, layout: SecurityLayout, send: Callable[[Command], None],
                 clock: Clock, *, valid_s: float, grace_s: float) -> None:
        self._store, self._layout, self._send, self._clock = store, layout, send, clock
        self._valid_s, self._grace_s = valid_s, grace_s

    def rotate(self, device_id: str, grace_s: float | None = None) -> IssuedCredential:
        """Issue and send new credentials; the old ones stay valid until used-proof or the grace period's end."""
        current = self._store.current(device_id)
        new = self._store.issue(current.tenant, device_id, self._valid_s)
        self._store.supersede(device_id, keep=new.username, grace_s=self._grace_s if grace_s is None else grace_s)
        sync_broker(self._store, self._layout)  # the broker accepts the new password before the device has it
        self._send(Command(
            tenant=new.tenant, device_id=device_id, ts=self._clock.time(), name=ROTATE_COMMAND,
            params={"username": new.username, "password": new.password, "expires_at": format_ts(new.expires_at)},
        ))
        log.info("event=credentials_rotated device=%s username=%s expires_at=%s", device_id, new.username,
                 format_ts(new.expires_at))
        return new

    def on_state(self, state: DeviceState) -> bool:
        """A device state arrived: True if it proved the new credentials in use and the old were revoked."""
        username = state.health.get(HEALTH_USERNAME_KEY)
        if state.status is not DeviceStatus.ONLINE or not isinstance(username, str):
            return False
        try:
            current = self._store.current(state.device_id)
        except NotFoundError:
            return False
        if username != current.username:
            if self._clock.time() - current.issued_at > RESEND_AFTER_S and self._is_superseded(username):
                log.info("event=rotation_resent device=%s reason=%r", state.device_id, "still on old credentials")
                self.rotate(state.device_id)
            return False
        if not self._store.revoke_superseded(state.device_id):
            return False
        sync_broker(self._store, self._layout)
        log.info("event=credentials_revoked device=%s reason=%r", state.device_id, "new credentials in use")
        return True

    def sweep(self) -> list[str]:
        """Rotate the devices due for it and revoke superseded credentials past their grace; the rotated ids."""
        now = self._clock.time()
        rotated = [self.rotate(c.device_id, grace_s=max(self._grace_s, c.expires_at - now)).device_id
                   for c in self._store.due_for_rotation(ROTATE_WHEN_LEFT) if not self._rotation_pending(c.device_id)]
        if self._store.revoke_superseded(only_due=True):
            sync_broker(self._store, self._layout)
        return rotated

    def _rotation_pending(self, device_id: str) -> bool:
        return len(self._store.active(device_id)) > 1

    def _is_superseded(self, username: str) -> bool:
        return any(c.username == username and c.revoke_at is not None for c in self._store.active())
