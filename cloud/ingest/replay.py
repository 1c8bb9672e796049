"""Replaying a dead letter: its raw topic and payload through the ingest's handler again, recorded on the row.

Used by `POST /api/v1/dead-letters/{id}/replay` and `python -m cloud dead-letters replay`,
each of which writes the returned audit `Change` for its own caller. A replay is
idempotent (the stores dedupe), so a letter may be replayed again; `replayed_at` is set
only by one that stored the message, and a refusal leaves the letter pending with why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloud.audit.trail import Change
from cloud.ingest.handler import Outcome
from cloud.store.dead_letter_tables import DeadLetterRow
from cloud.store.dead_letters import mark_replayed

Replay = Callable[[str, bytes], Outcome]
STORED = "stored"


def replay_letter(row: DeadLetterRow, replay: Replay, now: float) -> tuple[Outcome, Change]:
    """Replay `row` (in its session: the caller commits the mark); the outcome, and the audit entry to write."""
    before = letter_state(row)
    outcome = replay(row.topic, row.payload)
    result = STORED if outcome.accepted else f"refused again: {outcome.reason}: {outcome.detail}"
    mark_replayed(row, outcome.accepted, result, now)
    return outcome, Change("replay", "dead_letter", str(row.id), row.tenant, before=before, after=letter_state(row))


def letter_state(row: DeadLetterRow) -> dict[str, Any]:
    """What the audit trail shows of a dead letter (never its payload)."""
    return {"reason": row.reason, "device_id": row.device_id, "message_id": row.message_id,
            "replayed_at": row.replayed_at, "replay_result": row.replay_result}

