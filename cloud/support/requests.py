"""Help requests: a customer asks for a person, a planner answers, and the time to that first answer is kept.

A request names what it is about (`statement:12`, `offer:3`, `notification:40`,
`work_order:7`, or nothing) and must be the customer's own thing: another customer's is
a 404, as everywhere. It stores a snapshot of the customer's whole history
(cloud.support.history) so the person answering sees it as the customer did. It opens
`open`; the first answer moves it to `answered` and sets `first_answered_at` once; later
answers add to the conversation; `close` ends it. Each change writes an audit entry and
an answer queues a `help_answer` notification, all in the caller's transaction (these
functions never commit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.audit.trail import Change, record
from cloud.auth.accounts import get_customer
from cloud.auth.principal import Principal
from cloud.errors import ConflictError, InvalidHelpRequestError, NotFoundError
from cloud.store.account_tables import CustomerRow
from cloud.store.notify_tables import NotificationRow, RecipientKind
from cloud.store.scope import Scope
from cloud.store.support_tables import AboutKind, HelpAnswerRow, HelpRequestRow, HelpStatus
from cloud.store.tables import ContractRow, WorkOrderRow
from cloud.support.history import customer_devices, customer_history, optional_table, owner_clause
from cloud.support.notices import enqueue_help_answer

MAX_LIMIT = 1000


@dataclass(frozen=True)
class About:
    """What a request is about: a kind and a row id."""

    kind: AboutKind
    id: int

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"

    @classmethod
    def parse(cls, text: str | None) -> About | None:
        """`kind:id` (e.g. `statement:12`) or None; `InvalidHelpRequestError` for anything else."""
        if text is None:
            return None
        kind, _, number = text.partition(":")
        if kind not in AboutKind.__members__.values() or not number.isdigit():
            raise InvalidHelpRequestError(f"about must be kind:id with kind one of {[k.value for k in AboutKind]}")
        return cls(AboutKind(kind), int(number))


def ask_for_a_person(
    session: Session, customer_id: int, about: str | None, message: str, actor: Principal, now: float, *,
    complaint: bool = False, client: str = "service",
) -> HelpRequestRow:
    """Open a help request of `customer_id` (within the actor's scope) about `about`, with its history snapshot."""
    customer = get_customer(session, actor.scope, customer_id)
    if actor.scope.customer_id not in (None, customer_id):
        raise NotFoundError(f"customer {customer_id} does not exist")
    target = About.parse(about)
    if target is not None:
        check_about(session, customer, target)
    row = HelpRequestRow(
        tenant=customer.tenant, customer_id=customer.id, about_kind=None if target is None else target.kind.value,
        about_id=None if target is None else target.id, message=message, complaint=complaint,
        status=HelpStatus.OPEN.value, history=customer_history(session, customer), created_at=now,
        created_by=actor.label[:200],
    )
    session.add(row)
    session.flush()
    record(session, actor, client, Change("ask", "help_request", str(row.id), row.tenant, None, {
        "customer_id": row.customer_id, "about": about, "complaint": complaint}), now)
    return row


def customer_of_about(session: Session, scope: Scope, about: str) -> int:
    """The customer whose thing `about` names (for a planner asking on a customer's behalf without naming it)."""
    target = About.parse(about)
    assert target is not None
    if target.kind is AboutKind.WORK_ORDER:
        order = session.get(WorkOrderRow, target.id)
        contract = None if order is None else session.get(ContractRow, order.device_id)
        if order is not None and scope.owns(order.tenant) and contract is not None and contract.customer_id:
            return contract.customer_id
    elif target.kind is AboutKind.NOTIFICATION:
        notification = session.get(NotificationRow, target.id)
        if (notification is not None and scope.owns(notification.tenant)
                and notification.recipient_kind == RecipientKind.CUSTOMER.value):
            return notification.recipient_id
    else:
        table = optional_table(session, "offers" if target.kind is AboutKind.OFFER else "statements")
        if table is not None and "customer_id" in table.c:
            found = session.scalar(sa.select(table.c.customer_id).where(table.c.id == target.id))
            if found is not None:
                return int(found)
    raise InvalidHelpRequestError(f"say which customer this is for: {about} names no customer's thing")


def check_about(session: Session, customer: CustomerRow, about: About) -> None:
    """`NotFoundError` unless `about` names one of the customer's own things."""
    missing = NotFoundError(f"{about.kind.value.replace('_', ' ')} {about.id} does not exist")
    if about.kind is AboutKind.WORK_ORDER:
        order = session.get(WorkOrderRow, about.id)
        if order is None or order.device_id not in customer_devices(session, customer.id):
            raise missing
    elif about.kind is AboutKind.NOTIFICATION:
        notification = session.get(NotificationRow, about.id)
        if (notification is None or notification.recipient_kind != RecipientKind.CUSTOMER.value
                or notification.recipient_id != customer.id):
            raise missing
    else:
        table = optional_table(session, "offers" if about.kind is AboutKind.OFFER else "statements")
        contracts = optional_table(session, "service_contracts")
        contract_ids: list[int] = [] if contracts is None or "customer_id" not in contracts.c else list(
            session.scalars(sa.select(contracts.c.id).where(contracts.c.customer_id == customer.id)))
        where = None if table is None else owner_clause(table, customer.id, contract_ids)
        if table is None or where is None or session.scalar(
                sa.select(sa.func.count()).select_from(table).where(where, table.c.id == about.id)) == 0:
            raise missing


def get_request(session: Session, scope: Scope, request_id: int) -> HelpRequestRow:
    """The request, if the scope sees it (a customer: only its own); else `NotFoundError`."""
    row = session.get(HelpRequestRow, request_id)
    if row is None or not scope.owns(row.tenant) or scope.customer_id not in (None, row.customer_id):
        raise NotFoundError(f"help request {request_id} does not exist")
    return row


def list_requests(session: Session, scope: Scope, status: HelpStatus | None, limit: int = 100) -> Sequence[
        HelpRequestRow]:
    """The scope's requests (a customer: its own), oldest waiting first for `open`, else newest first."""
    select = sa.select(HelpRequestRow).where(scope.tenant_clause(HelpRequestRow.tenant))
    if scope.customer_id is not None:
        select = select.where(HelpRequestRow.customer_id == scope.customer_id)
    if status is not None:
        select = select.where(HelpRequestRow.status == status.value)
    order = HelpRequestRow.id.asc() if status is HelpStatus.OPEN else HelpRequestRow.id.desc()
    return session.scalars(select.order_by(order).limit(min(limit, MAX_LIMIT))).all()


def answers_of(session: Session, request_ids: Sequence[int]) -> dict[int, list[HelpAnswerRow]]:
    """Each request's answers, in the order given."""
    out: dict[int, list[HelpAnswerRow]] = {request_id: [] for request_id in request_ids}
    for row in session.scalars(sa.select(HelpAnswerRow).where(HelpAnswerRow.request_id.in_(request_ids))
                               .order_by(HelpAnswerRow.id)):
        out[row.request_id].append(row)
    return out


def answer(session: Session, scope: Scope, request_id: int, message: str, actor: Principal, now: float, *,
           client: str = "service") -> HelpAnswerRow:
    """A person's answer: the first one sets `first_answered_at`; the customer is told through the outbox."""
    row = get_request(session, scope, request_id)
    if row.status == HelpStatus.CLOSED:
        raise ConflictError(f"help request {request_id} is closed")
    reply = HelpAnswerRow(request_id=row.id, tenant=row.tenant, message=message, answered_by=actor.label[:200],
                          answered_at=now)
    session.add(reply)
    before = {"status": row.status}
    if row.first_answered_at is None:
        row.first_answered_at, row.first_answered_by = now, actor.label[:200]
    row.status = HelpStatus.ANSWERED.value
    notification_id = enqueue_help_answer(session, row, reply, now)
    record(session, actor, client, Change("answer", "help_request", str(row.id), row.tenant, before, {
        "status": row.status, "answer_id": reply.id, "notification_id": notification_id}), now)
    return reply


def close(session: Session, scope: Scope, request_id: int, actor: Principal, now: float, *,
          client: str = "service") -> HelpRequestRow:
    """End the conversation (the customer or a planner); closing a closed request is a `ConflictError`."""
    row = get_request(session, scope, request_id)
    if row.status == HelpStatus.CLOSED:
        raise ConflictError(f"help request {request_id} is closed already")
    before = {"status": row.status}
    row.status, row.closed_at, row.closed_by = HelpStatus.CLOSED.value, now, actor.label[:200]
    record(session, actor, client, Change("close", "help_request", str(row.id), row.tenant, before,
                                          {"status": row.status}), now)
    return row
