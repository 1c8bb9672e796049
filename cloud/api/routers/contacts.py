"""Contact points: where a technician is told of assignments, and how a customer is told of visits."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.deps import NowDep, SessionDep
from cloud.api.notify_schemas import (
    CustomerContactPublic,
    CustomerContactUpdate,
    TechnicianContactPublic,
    TechnicianContactUpdate,
)
from cloud.api.params import RowIdPath
from cloud.api.timestamps import optional_utc
from cloud.auth.roles import Permission
from cloud.notify.contacts import (
    CustomerContact,
    customer_contact,
    set_customer_contact,
    set_technician_email,
    technician_contact,
)
from cloud.store.notify_tables import Channel, ContactPointRow

router = APIRouter(tags=["notifications"])

_READ, _WRITE = allow(Permission.DIRECTORY_READ), allow(Permission.DIRECTORY_WRITE)


@router.get("/technicians/{technician_id}/contact", dependencies=[_READ], responses={404: {}})
def read_technician_contact(technician_id: RowIdPath, session: SessionDep,
                            principal: PrincipalDep) -> TechnicianContactPublic:
    """Where the technician is told of new assignments (`email` null: nowhere yet)."""
    row = technician_contact(session, principal.scope, technician_id)
    return _technician_public(technician_id, row)


@router.put("/technicians/{technician_id}/contact", dependencies=[_WRITE], responses={404: {}})
def put_technician_contact(technician_id: RowIdPath, body: TechnicianContactUpdate, session: SessionDep,
                           auditor: AuditDep, now: NowDep) -> TechnicianContactPublic:
    """Tell the technician at this e-mail address from now on."""
    row, change = set_technician_email(session, auditor.principal.scope, technician_id, body.email, now)
    auditor.record(change)
    session.commit()
    return _technician_public(technician_id, row)


@router.get("/customers/{customer_id}/contact", dependencies=[_READ], responses={404: {}})
def read_customer_contact(customer_id: RowIdPath, session: SessionDep,
                          principal: PrincipalDep) -> CustomerContactPublic:
    """How the customer is told of visits (never the webhook's secret)."""
    row = customer_contact(session, principal.scope, customer_id)
    return _customer_public(customer_id, row, None)


@router.put("/customers/{customer_id}/contact", dependencies=[_WRITE], responses={404: {}})
def put_customer_contact(customer_id: RowIdPath, body: CustomerContactUpdate, session: SessionDep,
                         auditor: AuditDep, now: NowDep) -> CustomerContactPublic:
    """Tell the customer by e-mail or a signed webhook; a new webhook secret is in this answer, and only here."""
    contact = (CustomerContact(Channel.EMAIL, email=body.email) if body.channel == "email" else
               CustomerContact(Channel.WEBHOOK, webhook_url=body.webhook_url, rotate_secret=body.rotate_secret))
    row, secret, change = set_customer_contact(session, auditor.principal.scope, customer_id, contact, now)
    auditor.record(change)
    session.commit()
    return _customer_public(customer_id, row, secret)


def _technician_public(technician_id: int, row: ContactPointRow | None) -> TechnicianContactPublic:
    return TechnicianContactPublic(technician_id=technician_id, email=None if row is None else row.email,
                                   updated_at=None if row is None else optional_utc(row.updated_at))


def _customer_public(customer_id: int, row: ContactPointRow | None, secret: str | None) -> CustomerContactPublic:
    if row is None:
        return CustomerContactPublic(customer_id=customer_id, channel=None, email=None, webhook_url=None,
                                     updated_at=None)
    return CustomerContactPublic(customer_id=customer_id, channel=Channel(row.channel), email=row.email,
                                 webhook_url=row.webhook_url, webhook_secret=secret,
                                 updated_at=optional_utc(row.updated_at))
