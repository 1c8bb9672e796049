"""A customer's record: its name, language and contacts, and the channel it prefers (from its contact point)."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.contract_schemas import ContactIn, CustomerRecordPublic, CustomerUpdate
from cloud.api.deps import NowDep, SessionDep
from cloud.api.params import RowIdPath
from cloud.api.timestamps import utc
from cloud.audit.trail import Change
from cloud.auth.roles import Permission
from cloud.store.customer_records import CustomerRecord, customer_record, update_customer_record

router = APIRouter(tags=["directory"])


@router.get("/customers/{customer_id}", dependencies=[allow(Permission.DIRECTORY_READ)], responses={404: {}})
def read_customer(customer_id: RowIdPath, session: SessionDep, principal: PrincipalDep) -> CustomerRecordPublic:
    """The customer's record with its language, contacts and preferred channel."""
    return _public(customer_record(session, principal.scope, customer_id))


@router.put("/customers/{customer_id}", dependencies=[allow(Permission.DIRECTORY_WRITE)], responses={404: {}})
def update_customer(customer_id: RowIdPath, body: CustomerUpdate, session: SessionDep, auditor: AuditDep,
                    now: NowDep) -> CustomerRecordPublic:
    """Change the customer's language or contacts (fields left out stay)."""
    contacts = None if body.contacts is None else [c.model_dump(mode="json") for c in body.contacts]
    before, after = update_customer_record(session, auditor.principal.scope, customer_id, body.language, contacts,
                                           now)
    auditor.record(Change("update", "customer", str(customer_id), after.row.tenant, before=before.fields(),
                          after=after.fields()))
    session.commit()
    return _public(after)


def _public(record: CustomerRecord) -> CustomerRecordPublic:
    row = record.row
    return CustomerRecordPublic(id=row.id, tenant=row.tenant, name=row.name, created_at=utc(row.created_at),
                                language=record.language, contacts=[ContactIn(**c) for c in record.contacts],
                                preferred_channel=record.preferred_channel)
