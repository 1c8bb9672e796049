"""The credential table: which passwords (as hashes) the broker accepts for which device, and until when.

A username is issued once and never reused: `{tenant}~{device_id}~{n}` for the device's n-th
credential ("~" cannot occur in an id, so names never collide). Mosquitto holds one password per
username, so a rotation issues a new username; both are accepted during the grace period.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from cloud.errors import NotFoundError
from cloud.security.broker_auth import BrokerUser, hash_password, new_password
from cloud.store.database import Database
from cloud.store.tables import DeviceCredentialRow
from contract.clock import Clock


@dataclass(frozen=True)
class IssuedCredential:
    """A freshly issued credential: the only moment the cloud knows the password in clear."""

    tenant: str
    device_id: str
    username: str
    password: str
    issued_at: float
    expires_at: float

    def __repr__(self) -> str:  # the password must never reach a log line
        return f"IssuedCredential(username={self.username!r}, expires_at={self.expires_at})"


@dataclass(frozen=True)
class CredentialInfo:
    tenant: str
    device_id: str
    username: str
    issued_at: float
    expires_at: float
    revoke_at: float | None


class CredentialStore:
    """Issue, list and revoke device credentials in the relational store."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db, self._clock = db, clock

    def issue(self, tenant: str, device_id: str, valid_s: float) -> IssuedCredential:
        now = self._clock.time()
        password = new_password()
        with self._db.session() as session:
            count = session.scalar(sa.select(sa.func.count()).where(DeviceCredentialRow.device_id == device_id)) or 0
            row = DeviceCredentialRow(
                username=f"{tenant}~{device_id}~{count + 1}", device_id=device_id, tenant=tenant,
                password_hash=hash_password(password), issued_at=now, expires_at=now + valid_s,
            )
            session.add(row)
        return IssuedCredential(tenant, device_id, row.username, password, now, now + valid_s)

    def active(self, device_id: str | None = None) -> list[CredentialInfo]:
        """Credentials the broker accepts (of one device, or all), oldest first."""
        query = sa.select(DeviceCredentialRow).where(DeviceCredentialRow.revoked_at.is_(None))
        if device_id is not None:
            query = query.where(DeviceCredentialRow.device_id == device_id)
        with self._db.session() as session:
            return [_info(row) for row in session.scalars(query.order_by(DeviceCredentialRow.id))]

    def current(self, device_id: str) -> CredentialInfo:
        """The device's newest accepted credential."""
        active = self.active(device_id)
        if not active:
            raise NotFoundError(f"device {device_id!r} has no credentials: provision it first")
        return active[-1]

    def supersede(self, device_id: str, keep: str) -> int:
        """Mark every other accepted credential of the device superseded: revoked once the device proves `keep`
        in use (`revoke_superseded`), at the latest when it would have expired anyway (`revoke_at`)."""
        with self._db.session() as session:
            result = session.execute(
                sa.update(DeviceCredentialRow)
                .where(DeviceCredentialRow.device_id == device_id, DeviceCredentialRow.username != keep,
                       DeviceCredentialRow.revoked_at.is_(None), DeviceCredentialRow.revoke_at.is_(None))
                .values(revoke_at=DeviceCredentialRow.expires_at)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def revoke_superseded(self, device_id: str | None = None, *, only_due: bool = False) -> int:
        """Revoke superseded credentials (of one device, or all); `only_due`: only those past their grace."""
        now = self._clock.time()
        condition: list[sa.ColumnElement[bool]] = [
            DeviceCredentialRow.revoke_at.is_not(None), DeviceCredentialRow.revoked_at.is_(None)
        ]
        if device_id is not None:
            condition.append(DeviceCredentialRow.device_id == device_id)
        if only_due:
            condition.append(DeviceCredentialRow.revoke_at <= now)
        with self._db.session() as session:
            result = session.execute(sa.update(DeviceCredentialRow).where(*condition).values(revoked_at=now))
            return int(result.rowcount)  # type: ignore[attr-defined]

    def revoke_all(self, device_id: str) -> int:
        with self._db.session() as session:
            result = session.execute(
                sa.update(DeviceCredentialRow)
                .where(DeviceCredentialRow.device_id == device_id, DeviceCredentialRow.revoked_at.is_(None))
                .values(revoked_at=self._clock.time())
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def unsettled(self) -> set[str]:
        """Devices with more than one accepted credential: a rotation on its way, not yet proven in use."""
        with self._db.session() as session:
            rows = session.execute(
                sa.select(DeviceCredentialRow.device_id).where(DeviceCredentialRow.revoked_at.is_(None))
                .group_by(DeviceCredentialRow.device_id).having(sa.func.count() > 1)
            )
            return {row[0] for row in rows}

    def due_for_rotation(self, fraction_left: float = 0.2) -> list[CredentialInfo]:
        """Current credentials with less than `fraction_left` of their validity left (expired ones included)."""
        now = self._clock.time()
        newest: dict[str, CredentialInfo] = {}
        for info in self.active():
            newest[info.device_id] = info
        return [c for c in newest.values() if c.expires_at - now < fraction_left * (c.expires_at - c.issued_at)]

    def broker_users(self) -> list[BrokerUser]:
        """Every credential the broker should accept now (expired ones excluded)."""
        now = self._clock.time()
        with self._db.session() as session:
            rows = session.scalars(
                sa.select(DeviceCredentialRow)
                .where(DeviceCredentialRow.revoked_at.is_(None), DeviceCredentialRow.expires_at > now)
                .order_by(DeviceCredentialRow.id)
            )
            return [BrokerUser(r.username, r.password_hash, r.tenant, r.device_id) for r in rows]


def _info(row: DeviceCredentialRow) -> CredentialInfo:
    return CredentialInfo(row.tenant, row.device_id, row.username, row.issued_at, row.expires_at, row.revoke_at)
