"""The tenant's directory: customer records (whose customer users see their assets) and technicians, with the
skills, home base, working hours and absences dispatch plans with."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy.orm import Session

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.account_schemas import DirectoryEntryCreate, DirectoryEntryPublic
from cloud.api.deps import NowDep, SessionDep
from cloud.api.field_schemas import (
    AbsenceCreate,
    AbsencePublic,
    AbsenceRecorded,
    Point,
    TechnicianCreate,
    TechnicianFields,
    TechnicianPublic,
    TechnicianUpdate,
    WorkingHours,
)
from cloud.api.params import RowIdPath
from cloud.api.timestamps import epoch, optional_utc, utc
from cloud.audit.trail import Change
from cloud.auth.accounts import get_technician, list_customers, list_technicians
from cloud.auth.roles import Permission
from cloud.field import technicians as field
from cloud.field.calendar import Interval, WeeklyHours, hhmm, parse_hhmm
from cloud.field.replanning import release_for_absence
from cloud.field.sites import Place
from cloud.store.account_tables import CustomerRow, TechnicianRow
from cloud.store.field_tables import AbsenceRow

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
def read_technicians(session: SessionDep, principal: PrincipalDep) -> list[TechnicianPublic]:
    """The tenant's technicians with their skills, home base, time zone and weekly hours."""
    return [technician_public(session, row) for row in list_technicians(session, principal.scope)]


@router.post("/technicians", status_code=status.HTTP_201_CREATED, dependencies=[_WRITE],
             responses={409: {"description": "a technician of this name exists"}})
def add_technician(body: TechnicianCreate, session: SessionDep, auditor: AuditDep, now: NowDep) -> TechnicianPublic:
    """A new technician; skills, home, time zone and working hours may come along (or later, with PUT)."""
    row = auditor.account_changes().technician(auditor.principal.tenant_for(body.tenant), body.name)
    update = _update(body, None)
    if update != field.TechnicianUpdate():
        _apply(session, auditor, row.id, update, now)
    session.commit()
    return technician_public(session, row)


@router.get("/technicians/{technician_id}", dependencies=[_READ], responses={404: {}})
def read_technician(technician_id: RowIdPath, session: SessionDep, principal: PrincipalDep) -> TechnicianPublic:
    return technician_public(session, get_technician(session, principal.scope, technician_id))


@router.put("/technicians/{technician_id}", dependencies=[_WRITE],
            responses={404: {}, 409: {"description": "another technician has this name"}})
def update_technician(technician_id: RowIdPath, body: TechnicianUpdate, session: SessionDep, auditor: AuditDep,
                      now: NowDep) -> TechnicianPublic:
    """Change a technician's name, skills, home base, time zone or working hours (fields left out stay)."""
    row = _apply(session, auditor, technician_id, _update(body, body.name), now)
    session.commit()
    return technician_public(session, row)


@router.get("/technicians/{technician_id}/absences", dependencies=[_READ], responses={404: {}})
def read_absences(technician_id: RowIdPath, session: SessionDep, principal: PrincipalDep) -> list[AbsencePublic]:
    return [absence_public(row) for row in field.list_absences(session, principal.scope, technician_id)]


@router.post("/technicians/{technician_id}/absences", status_code=status.HTTP_201_CREATED, dependencies=[_WRITE],
             responses={404: {}})
def add_absence(technician_id: RowIdPath, body: AbsenceCreate, session: SessionDep, auditor: AuditDep,
                now: NowDep) -> AbsenceRecorded:
    """The technician is away from `start` to `end`: no shift overlaps it, and orders whose visit falls in it are
    unassigned (back to approved) for dispatch to plan anew."""
    span = Interval(epoch(body.start), epoch(body.end))
    principal = auditor.principal
    row = field.add_absence(session, principal.scope, technician_id, span, body.reason, principal.label, now)
    auditor.record(Change("create", "technician_absence", str(row.id), row.tenant, after=field.absence_fields(row)))
    released = release_for_absence(session, technician_id, span, principal, auditor.client, now)
    session.commit()
    return AbsenceRecorded(**absence_public(row).model_dump(), released_work_orders=[o.id for o in released])


@router.delete("/technicians/{technician_id}/absences/{absence_id}", status_code=status.HTTP_204_NO_CONTENT,
               dependencies=[_WRITE], responses={404: {}})
def remove_absence(technician_id: RowIdPath, absence_id: RowIdPath, session: SessionDep, auditor: AuditDep,
                   now: NowDep) -> None:
    row = field.delete_absence(session, auditor.principal.scope, technician_id, absence_id, now)
    auditor.record(Change("delete", "technician_absence", str(absence_id), row.tenant,
                          before=field.absence_fields(row)))
    session.commit()


def _update(body: TechnicianFields, name: str | None) -> field.TechnicianUpdate:
    hours = None if body.working_hours is None else tuple(
        WeeklyHours(h.weekday, parse_hhmm(h.start), parse_hhmm(h.end)) for h in body.working_hours)
    return field.TechnicianUpdate(
        name=name, skills=None if body.skills is None else frozenset(body.skills),
        home=None if body.home is None else Place(body.home.lat, body.home.lon),
        time_zone=body.time_zone, hours=hours,
    )


def _apply(session: Session, auditor: AuditDep, technician_id: int, update: field.TechnicianUpdate,
           now: float) -> TechnicianRow:
    row, before = field.update_technician(session, auditor.principal.scope, technician_id, update, now)
    after = field.technician_fields(row, field.hours_of(session, row.id))
    auditor.record(Change("update", "technician", str(row.id), row.tenant, before=before, after=after))
    return row


def entry_public(row: CustomerRow | TechnicianRow) -> DirectoryEntryPublic:
    return DirectoryEntryPublic(id=row.id, tenant=row.tenant, name=row.name, created_at=utc(row.created_at))


def technician_public(session: Session, row: TechnicianRow) -> TechnicianPublic:
    home = field.home_of(row)
    return TechnicianPublic(
        **entry_public(row).model_dump(), skills=list(row.skills or []),
        home=None if home is None else Point(lat=home.lat, lon=home.lon), time_zone=row.time_zone or "UTC",
        working_hours=[WorkingHours(weekday=h.weekday, start=hhmm(h.start_min), end=hhmm(h.end_min))
                       for h in field.hours_of(session, row.id)],
        updated_at=optional_utc(row.updated_at),
    )


def absence_public(row: AbsenceRow) -> AbsencePublic:
    return AbsencePublic(id=row.id, technician_id=row.technician_id, start=utc(row.start_at), end=utc(row.end_at),
                         reason=row.reason, created_at=utc(row.created_at), created_by=row.created_by)
