"""A customer's consent ledger: what its data may be used for, recorded by the customer or by a planner for it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.deps import NowDep, SessionDep
from cloud.api.offer_schemas import ConsentEntryPublic, ConsentIn, ConsentRecorded, ConsentsPublic, ConsentStatePublic
from cloud.api.params import RowIdPath
from cloud.api.timestamps import optional_utc, utc
from cloud.auth.accounts import get_customer
from cloud.auth.roles import Permission
from cloud.consent.ledger import Purpose, history, states
from cloud.consent.recording import set_consent
from cloud.errors import NotFoundError
from cloud.store.consent_tables import ConsentRow
from cloud.store.scope import Scope

router = APIRouter(tags=["consent"])
PurposePath = Annotated[Purpose, Path(description="what the data may be used for")]


@router.get("/customers/{customer_id}/consents", dependencies=[allow(Permission.CONSENTS_READ)],
            responses={404: {}})
def read_consents(customer_id: RowIdPath, session: SessionDep, principal: PrincipalDep) -> ConsentsPublic:
    """What holds now for each purpose, and every entry of the ledger, oldest first."""
    _visible(session, principal.scope, customer_id)
    current = [ConsentStatePublic(purpose=s.purpose, granted=s.granted,
                                  since=None if s.latest is None else optional_utc(s.latest.recorded_at))
               for s in states(session, customer_id)]
    return ConsentsPublic(customer_id=customer_id, current=current,
                          history=[entry_public(row) for row in history(session, customer_id)])


@router.put("/customers/{customer_id}/consents/{purpose}", dependencies=[allow(Permission.CONSENTS_WRITE)],
            responses={404: {}})
def put_consent(customer_id: RowIdPath, purpose: PurposePath, body: ConsentIn, session: SessionDep,
                auditor: AuditDep, now: NowDep) -> ConsentRecorded:
    """Grant or withdraw consent for one purpose; a withdrawal holds at once and stops offers relying on it."""
    row, changes = set_consent(session, auditor.principal.scope, customer_id, purpose, body.granted, body.source,
                               body.text, auditor.principal.label, now)
    for change in changes:
        auditor.record(change)
    session.commit()
    withdrawn = [int(c.object_id) for c in changes if c.object_type == "offer"]
    return ConsentRecorded(customer_id=customer_id, entry=entry_public(row), withdrawn_offers=withdrawn)


def _visible(session: SessionDep, scope: Scope, customer_id: int) -> None:
    if scope.customer_id is not None and scope.customer_id != customer_id:
        raise NotFoundError(f"customer {customer_id} does not exist")
    get_customer(session, scope, customer_id)


def entry_public(row: ConsentRow) -> ConsentEntryPublic:
    return ConsentEntryPublic(id=row.id, purpose=Purpose(row.purpose), granted=row.granted, source=row.source,
                              text=row.text, recorded_at=utc(row.recorded_at), recorded_by=row.recorded_by)
