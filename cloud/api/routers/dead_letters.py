"""Dead letters: what the ingest could not store, kept with its payload; list, read, and replay once fixed."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.dead_letter_schemas import DeadLetterDetail, DeadLetterPublic, ReplayPublic
from cloud.api.deps import NowDep, ReplayDep, SessionDep
from cloud.api.params import NO_NUL, DeviceQuery, RowIdPath
from cloud.api.timestamps import IsoTime, epoch, optional_utc, utc
from cloud.auth.roles import Permission
from cloud.ingest.replay import replay_letter
from cloud.store.dead_letter_tables import DeadLetterRow
from cloud.store.dead_letters import MAX_LIMIT, get_dead_letter, list_dead_letters

router = APIRouter(prefix="/dead-letters", tags=["dead letters"])

_READ, _REPLAY = allow(Permission.DEAD_LETTERS_READ), allow(Permission.DEAD_LETTERS_REPLAY)


@router.get("", dependencies=[_READ])
def read_dead_letters(
    session: SessionDep,
    principal: PrincipalDep,
    reason: Annotated[str | None, Query(max_length=64, pattern=NO_NUL,
                                        description="e.g. malformed, unit, device_rate_limited")] = None,
    device: DeviceQuery = None,
    since: Annotated[IsoTime | None, Query(description="ISO-8601; received at or after this time")] = None,
    pending_only: Annotated[bool, Query(description="only those not replayed yet")] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> list[DeadLetterPublic]:
    """The caller's tenant's dead letters (a platform administrator's: all), newest first, without payloads."""
    rows = list_dead_letters(session, principal.scope, reason=reason, device_id=device,
                             since=None if since is None else epoch(since), pending_only=pending_only, limit=limit)
    return [dead_letter_public(row) for row in rows]


@router.get("/{dead_letter_id}", dependencies=[_READ], responses={404: {}})
def read_dead_letter(dead_letter_id: RowIdPath, session: SessionDep, principal: PrincipalDep) -> DeadLetterDetail:
    """One dead letter with its payload as received."""
    row = get_dead_letter(session, dead_letter_id, principal.scope)
    try:
        return DeadLetterDetail(**dead_letter_public(row).model_dump(), payload=row.payload.decode("utf-8"),
                                payload_encoding="utf-8")
    except UnicodeDecodeError:
        return DeadLetterDetail(**dead_letter_public(row).model_dump(),
                                payload=base64.b64encode(row.payload).decode("ascii"), payload_encoding="base64")


@router.post("/{dead_letter_id}/replay", dependencies=[_REPLAY],
             responses={404: {}, 503: {"description": "the stores cannot take messages now"}})
def replay_dead_letter(
    dead_letter_id: RowIdPath, session: SessionDep, auditor: AuditDep, replay: ReplayDep, now: NowDep
) -> ReplayPublic:
    """Feed the dead letter's topic and payload through the ingest again (once its cause is fixed).

    Stored: the letter is marked replayed. Refused again: it stays pending, with why. Harmless to repeat.
    """
    row = get_dead_letter(session, dead_letter_id, auditor.principal.scope)
    outcome, change = replay_letter(row, replay, now)
    auditor.record(change)
    # Committed before answering, so a failed write is a 503, not a 200 that did not happen.
    session.commit()
    return ReplayPublic(stored=outcome.accepted, reason=outcome.reason, detail=outcome.detail,
                        dead_letter=dead_letter_public(row))


def dead_letter_public(row: DeadLetterRow) -> DeadLetterPublic:
    return DeadLetterPublic(
        id=row.id, received_at=utc(row.received_at), topic=row.topic, reason=row.reason, detail=row.detail,
        message_id=row.message_id, tenant=row.tenant, device_id=row.device_id, size=row.size,
        status="pending" if row.replayed_at is None else "replayed", replayed_at=optional_utc(row.replayed_at),
        replay_result=row.replay_result,
    )
