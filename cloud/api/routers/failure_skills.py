"""Which skill each failure kind needs, per tenant (the matching rule: cloud.field.skills, docs/field.md)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.deps import NowDep, SessionDep
from cloud.api.field_schemas import FailureSkillIn, FailureSkillPublic
from cloud.api.params import NAME_PATTERN
from cloud.api.timestamps import utc
from cloud.audit.trail import Change
from cloud.auth.roles import Permission
from cloud.field.skills import FailureKind, failure_skill_fields, list_failure_skills, put_failure_skill
from cloud.store.field_tables import FailureSkillRow

router = APIRouter(prefix="/failure-skills", tags=["directory"])


@router.get("", dependencies=[allow(Permission.DIRECTORY_READ)])
def read_failure_skills(session: SessionDep, principal: PrincipalDep) -> list[FailureSkillPublic]:
    """The tenant's failure kinds with the skill each needs and the evidence that names it."""
    return [failure_skill_public(row) for row in list_failure_skills(session, principal.scope)]


@router.put("/{kind}", dependencies=[allow(Permission.DIRECTORY_WRITE)])
def put_failure_skill_route(
    kind: str = Path(pattern=NAME_PATTERN, max_length=64, description="e.g. bearing_wear"),
    *, body: FailureSkillIn, session: SessionDep, auditor: AuditDep, now: NowDep,
    tenant: str | None = Query(default=None, pattern=NAME_PATTERN, max_length=64,
                               description="platform administrators only: whose"),
) -> FailureSkillPublic:
    """Create or replace a failure kind of the caller's tenant; orders proposed from now on get its skill."""
    owner = auditor.principal.tenant_for(tenant)
    row, before = put_failure_skill(session, owner, FailureKind(kind, body.skill, body.rule, tuple(body.channels)),
                                    now)
    auditor.record(Change("put", "failure_skill", kind, owner, before=before, after=failure_skill_fields(row)))
    session.commit()
    return failure_skill_public(row)


def failure_skill_public(row: FailureSkillRow) -> FailureSkillPublic:
    return FailureSkillPublic(tenant=row.tenant, kind=row.kind, skill=row.skill, rule=row.rule,
                              channels=list(row.channels or []), updated_at=utc(row.updated_at))
