"""Write and read the append-only audit trail.

An entry is written in the same transaction as the change it describes, so there is
never a change without its entry nor an entry for a change that was rolled back. The
actor always comes from the caller's credential (a `Principal`), never from a request
body. Before/after hold the fields that changed, never a secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.auth.principal import Principal
from cloud.store.account_tables import AuditRow
from cloud.store.scope import Scope

MAX_LIMIT = 10_000


@dataclass(frozen=True)
class Change:
    """One audited change: an action on an object of a tenant, with what it looked like before and after."""

    action: str
    object_type: str
    object_id: str
    tenant: str | None
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None


def record(session: Session, actor: Principal, client: str, change: Change, now: float) -> AuditRow:
    row = AuditRow(
        at=now, tenant=change.tenant, actor=actor.label[:200], actor_kind=actor.kind.value, actor_id=actor.id[:64],
        actor_role=None if actor.role is None else actor.role.value, actor_tenant=actor.tenant,
        action=change.action, object_type=change.object_type, object_id=change.object_id[:200],
        client=client[:64], before=None if change.before is None else dict(change.before),
        after=None if change.after is None else dict(change.after),
    )
    session.add(row)
    return row


def query(
    session: Session,
    scope: Scope,
    since: float | None = None,
    actor: str | None = None,
    object_ref: str | None = None,
    limit: int = 100,
) -> Sequence[AuditRow]:
    """Entries of the scope's tenant, newest first; `object_ref` is `type` or `type:id` (e.g. `work_order:12`)."""
    select = sa.select(AuditRow).where(scope.tenant_clause(AuditRow.tenant))
    if since is not None:
        select = select.where(AuditRow.at >= since)
    if actor is not None:
        select = select.where(AuditRow.actor == actor)
    if object_ref is not None:
        object_type, _, object_id = object_ref.partition(":")
        select = select.where(AuditRow.object_type == object_type)
        if object_id:
            select = select.where(AuditRow.object_id == object_id)
    return session.scalars(select.order_by(AuditRow.id.desc()).limit(min(limit, MAX_LIMIT))).all()
