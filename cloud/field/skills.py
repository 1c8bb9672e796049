"""Which skill an order needs: its failure kind, read from its evidence, and the tenant's kind -> skill table.

The one matching rule (documented in docs/field.md): a tenant lists failure kinds, each with
the skill it needs, the rule that proposes it (None: any rule) and the channels that point to
it (empty: any channel). An order's failure kind is found by walking its evidence's top
contributing channels, largest contribution first; for each channel, a kind naming that
channel and the order's rule wins over one naming the channel and any rule. When no channel
matches, a kind naming no channel wins: the order's rule first, then any rule. Ties within a
step go to the kind whose name sorts first, so the answer never depends on insertion order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.field.technicians import check_skills
from cloud.store.field_tables import FailureSkillRow
from cloud.store.scope import Scope
from cloud.store.tables import WorkOrderRow


@dataclass(frozen=True)
class FailureKind:
    """A failure kind of a tenant: the skill it needs and the evidence that names it."""

    kind: str
    skill: str
    rule: str | None = None
    channels: tuple[str, ...] = ()


def failure_kind_of(kinds: Iterable[FailureKind], rule: str, top_channels: Sequence[str]) -> FailureKind | None:
    """The failure kind of an order proposed by `rule` whose top channels are `top_channels` (largest first)."""
    ordered = sorted(kinds, key=lambda k: k.kind)
    for channel in top_channels:
        for wanted_rule in (rule, None):
            match = next((k for k in ordered if channel in k.channels and k.rule == wanted_rule), None)
            if match is not None:
                return match
    for wanted_rule in (rule, None):
        match = next((k for k in ordered if not k.channels and k.rule == wanted_rule), None)
        if match is not None:
            return match
    return None


def evidence_channels(evidence: Mapping[str, Any]) -> list[str]:
    """The top contributing channels an order's evidence names, largest contribution first (none for RUL orders)."""
    tops = evidence.get("top_channels") or []
    return [str(top["channel"]) for top in tops if isinstance(top, Mapping) and "channel" in top]


def kinds_of(session: Session, tenant: str) -> list[FailureKind]:
    rows = session.scalars(sa.select(FailureSkillRow).where(FailureSkillRow.tenant == tenant)).all()
    return [FailureKind(r.kind, r.skill, r.rule, tuple(r.channels or ())) for r in rows]


def skill_for(session: Session, order: WorkOrderRow) -> str | None:
    """The skill `order` needs by its tenant's table (None: any technician will do). Called when it is proposed."""
    kind = failure_kind_of(kinds_of(session, order.tenant), order.rule, evidence_channels(order.evidence))
    return None if kind is None else kind.skill


def list_failure_skills(session: Session, scope: Scope) -> Sequence[FailureSkillRow]:
    query = sa.select(FailureSkillRow).where(scope.tenant_clause(FailureSkillRow.tenant))
    return session.scalars(query.order_by(FailureSkillRow.tenant, FailureSkillRow.kind)).all()


def put_failure_skill(session: Session, tenant: str, kind: FailureKind,
                      now: float) -> tuple[FailureSkillRow, dict[str, object] | None]:
    """Create or replace the tenant's `kind`; the row and its fields before (None: it is new)."""
    check_skills([kind.skill])
    row = session.scalars(sa.select(FailureSkillRow).where(
        FailureSkillRow.tenant == tenant, FailureSkillRow.kind == kind.kind)).first()
    before = None if row is None else failure_skill_fields(row)
    if row is None:
        row = FailureSkillRow(tenant=tenant, kind=kind.kind, skill=kind.skill, updated_at=now)
        session.add(row)
    row.skill, row.rule, row.channels, row.updated_at = kind.skill, kind.rule, list(kind.channels), now
    session.flush()
    return row, before


def failure_skill_fields(row: FailureSkillRow) -> dict[str, object]:
    return {"kind": row.kind, "skill": row.skill, "rule": row.rule, "channels": list(row.channels or [])}
