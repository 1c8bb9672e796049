"""Always a human: a customer asks for a person about a statement, offer, notification or work order; a planner
answers; the customer reads the answers (docs/billing.md, "Always a human")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.deps import NowDep, SessionDep
from cloud.api.params import RowIdPath
from cloud.api.support_schemas import (
    AboutPublic,
    HelpAnswerIn,
    HelpAnswerPublic,
    HelpRequestCreate,
    HelpRequestDetail,
    HelpRequestPublic,
)
from cloud.api.timestamps import optional_utc, utc
from cloud.auth.roles import Permission
from cloud.errors import InvalidHelpRequestError
from cloud.store.support_tables import AboutKind, HelpAnswerRow, HelpRequestRow, HelpStatus
from cloud.support.requests import (
    MAX_LIMIT,
    answer,
    answers_of,
    ask_for_a_person,
    close,
    customer_of_about,
    get_request,
    list_requests,
)

router = APIRouter(prefix="/help-requests", tags=["help requests"])


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[allow(Permission.SUPPORT_ASK)], responses={
    404: {"description": "the customer, or the thing it is about, is not one the caller may see"},
    422: {"description": "no customer named (a planner), or `about.kind` without `about.id`"}})
def ask(body: HelpRequestCreate, session: SessionDep, auditor: AuditDep, now: NowDep) -> HelpRequestDetail:
    """Ask for a person; the request keeps a snapshot of the customer's whole history for whoever answers."""
    principal = auditor.principal
    about = None
    if body.about is not None and body.about.kind is not None:
        if body.about.id is None:
            raise InvalidHelpRequestError("about.id is needed when about.kind is given")
        about = f"{body.about.kind.value}:{body.about.id}"
    customer_id = body.customer_id or principal.scope.customer_id  # another customer's id: 404 below
    if customer_id is None:
        if about is None:
            raise InvalidHelpRequestError("say which customer this is for: customer_id, or what it is about")
        customer_id = customer_of_about(session, principal.scope, about)
    row = ask_for_a_person(session, customer_id, about, body.message, principal, now, complaint=body.complaint,
                           client=auditor.client)
    session.commit()
    return _detail(row, [])


@router.get("", dependencies=[allow(Permission.SUPPORT_ASK)])
def read_requests(
    session: SessionDep, principal: PrincipalDep,
    status: Annotated[HelpStatus | None, Query(description="only those in this state (open: waiting for a person)")]
    = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> list[HelpRequestPublic]:
    """Help requests with their answers: a planner sees the tenant's (`open` ones oldest first), a customer its own."""
    rows = list_requests(session, principal.scope, status, limit)
    answers = answers_of(session, [row.id for row in rows])
    return [_public(row, answers[row.id]) for row in rows]


@router.get("/{request_id}", dependencies=[allow(Permission.SUPPORT_ASK)], responses={404: {}})
def read_request(request_id: RowIdPath, session: SessionDep, principal: PrincipalDep) -> HelpRequestDetail:
    """One request with its answers and the history snapshot it was asked against."""
    row = get_request(session, principal.scope, request_id)
    return _detail(row, answers_of(session, [row.id])[row.id])


@router.post("/{request_id}/answer", dependencies=[allow(Permission.SUPPORT_ANSWER)], responses={
    404: {}, 409: {"description": "the request is closed"}})
def answer_request(request_id: RowIdPath, body: HelpAnswerIn, session: SessionDep, auditor: AuditDep,
                   now: NowDep) -> HelpRequestDetail:
    """Answer as a person; the first answer's time is kept, and the customer is told by its preferred channel."""
    answer(session, auditor.principal.scope, request_id, body.message, auditor.principal, now, client=auditor.client)
    session.commit()
    return read_request(request_id, session, auditor.principal)


@router.post("/{request_id}/close", dependencies=[allow(Permission.SUPPORT_ASK)], responses={
    404: {}, 409: {"description": "it is closed already"}})
def close_request(request_id: RowIdPath, session: SessionDep, auditor: AuditDep, now: NowDep) -> HelpRequestPublic:
    """Close the conversation (the customer, or a planner)."""
    row = close(session, auditor.principal.scope, request_id, auditor.principal, now, client=auditor.client)
    session.commit()
    return _public(row, answers_of(session, [row.id])[row.id])


def _public(row: HelpRequestRow, answers: list[HelpAnswerRow]) -> HelpRequestPublic:
    about = None if row.about_kind is None or row.about_id is None else AboutPublic(kind=AboutKind(row.about_kind),
                                                                                     id=row.about_id)
    waited = None if row.first_answered_at is None else max(0.0, row.first_answered_at - row.created_at)
    return HelpRequestPublic(
        id=row.id, tenant=row.tenant, customer_id=row.customer_id, about=about, message=row.message,
        complaint=row.complaint, status=HelpStatus(row.status), created_at=utc(row.created_at),
        created_by=row.created_by, first_answered_at=optional_utc(row.first_answered_at),
        time_to_first_answer_s=waited, closed_at=optional_utc(row.closed_at),
        answers=[HelpAnswerPublic(id=a.id, message=a.message, answered_by=a.answered_by,
                                  answered_at=utc(a.answered_at)) for a in answers],
    )


def _detail(row: HelpRequestRow, answers: list[HelpAnswerRow]) -> HelpRequestDetail:
    return HelpRequestDetail(**_public(row, answers).model_dump(), history=row.history)
