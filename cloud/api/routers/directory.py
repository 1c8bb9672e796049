"""The tenant's directory: customer records (whose customer users see their assets) and technicians."""

from __future__ import annotations

from fastapi import APIRouter, status

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.account_schemas import DirectoryEntryCreate, DirectoryEntryPublic
from cloud.api.deps import SessionDep
from cloud.api.timestamps import utc
from cloud.auth.accounts import list_customers, list_technicians
from cloud.auth.roles import Permission
from cloud.store.account_tables import CustomerRow, TechnicianRow

router = APIRouter(tags=["directory"])

_READ, _WRITE = allow(Permission.DIRECTORY_READ), allow(Permission.DIRECTORY_WRITE)


@router.get("/customers", dependencies=[_READ])
def read_customers(session: SessionDep, principal: PrincipalDep) -> list[DirectoryEntryPublic]:
    return [entry_public(row) for row in list_customers(session, principal.scope)]


@router.post("/customers", status_code=status.HTTP_201_CREATED, dependencies=[_WRITE],
             responses={409: {"description": "a customer of this name exists"}})
def add_customer(body: DirectoryEntryCreate, session: SessionDep, auditor: AuditDep) -> DirectoryEntryPublic:
    row = auditor.account_changes().customer(auditor.principal.tenant_for(body.tenant), body.name)
    session.commit()
    return entry_public(row)


@router.get("/technicians", dependencies=[_READ])
def read_technicians(session: SessionDep, principal: PrincipalDep) -> list[DirectoryEntryPublic]:
    return [entry_public(row) for row in list_technicians(session, principal.scope)]


@router.post("/technicians", status_code=status.HTTP_201_CREATED, dependencies=[_WRITE],
             responses={409: {"description": "a technician of this name exists"}})
def add_technician(body: DirectoryEntryCreate, session: SessionDep, auditor: AuditDep) -> DirectoryEntryPublic:
    row = auditor.account_changes().technician(auditor.principal.tenant_for(body.tenant), body.name)
    session.commit()
    return entry_public(row)


def entry_public(row: CustomerRow | TechnicianRow) -> DirectoryEntryPublic:
    return DirectoryEntryPublic(id=row.id, tenant=row.tenant, name=row.name, created_at=utc(row.created_at))
