"""The audit trail of the caller's tenant, for its administrators and planners."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cloud.api.access import PrincipalDep, allow
from cloud.api.account_schemas import AuditEntryPublic
from cloud.api.deps import SessionDep
from cloud.api.params import NO_NUL
from cloud.api.timestamps import IsoTime, epoch, utc
from cloud.audit.trail import MAX_LIMIT, query
from cloud.auth.roles import Permission

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", dependencies=[allow(Permission.AUDIT_READ)])
def read_audit(
    session: SessionDep,
    principal: PrincipalDep,
    since: Annotated[IsoTime | None, Query(description="ISO-8601; entries at or after this time")] = None,
    actor: Annotated[str | None, Query(max_length=200, pattern=NO_NUL,
                                       description="e.g. user:alice or api_key:ci-bot")] = None,
    object: Annotated[str | None, Query(max_length=240, pattern=NO_NUL,
                                        description="TYPE or TYPE:ID, e.g. work_order:12")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> list[AuditEntryPublic]:
    """Who changed what, when, from where, with the state before and after; newest first."""
    rows = query(session, principal.scope, None if since is None else epoch(since), actor, object, limit)
    return [
        AuditEntryPublic(
            id=row.id, at=utc(row.at), tenant=row.tenant, actor=row.actor, actor_kind=row.actor_kind,
            actor_id=row.actor_id, actor_role=row.actor_role, action=row.action, object_type=row.object_type,
            object_id=row.object_id, client=row.client, before=row.before, after=row.after,
        )
        for row in rows
    ]
