"""Technicians in space and time: skills, home base, time zone, weekly hours and absences, kept in the store.

Every change here is checked (a real time zone, hours within a day, a point on Earth, an
absence that ends after it starts) before it is written; the routers audit it in the same
transaction. Another tenant's technician is missing (`NotFoundError`), as everywhere.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.auth.accounts import get_technician
from cloud.errors import ConflictError, InvalidFieldDataError, NotFoundError
from cloud.field.calendar import Interval, WeeklyHours, shifts, zone
from cloud.field.sites import Place
from cloud.store.account_tables import TechnicianRow
from cloud.store.field_tables import AbsenceRow, WorkingHoursRow
from cloud.store.scope import Scope

SKILL_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MAX_SKILLS = 32


@dataclass(frozen=True)
class TechnicianUpdate:
    """What a planner changes on a technician; None leaves a field as it is. `hours` replaces the whole week."""

    name: str | None = None
    skills: frozenset[str] | None = None
    home: Place | None = None
    time_zone: str | None = None
    hours: tuple[WeeklyHours, ...] | None = None


def check_skills(skills: Iterable[str]) -> frozenset[str]:
    """The skills as a set; `InvalidFieldDataError` for a name that is not a short lower-case word."""
    found = frozenset(skills)
    for skill in found:
        if not SKILL_PATTERN.match(skill):
            raise InvalidFieldDataError(f"skill {skill!r}: 1-64 of a-z 0-9 _ . -, starting with a letter or digit")
    if len(found) > MAX_SKILLS:
        raise InvalidFieldDataError(f"{len(found)} skills; at most {MAX_SKILLS}")
    return found


def update_technician(session: Session, scope: Scope, technician_id: int, update: TechnicianUpdate,
                      now: float) -> tuple[TechnicianRow, dict[str, object]]:
    """Apply `update`; the technician and its fields as they were (for the audit trail)."""
    row = get_technician(session, scope, technician_id)
    before = technician_fields(row, hours_of(session, row.id))
    if update.name is not None:
        if not update.name.strip():
            raise InvalidFieldDataError("a technician needs a name")
        clash = session.scalars(sa.select(TechnicianRow.id).where(
            TechnicianRow.tenant == row.tenant, TechnicianRow.name == update.name, TechnicianRow.id != row.id)).first()
        if clash is not None:
            raise ConflictError(f"technician {clash} is already called {update.name!r}")
        row.name = update.name
    if update.skills is not None:
        row.skills = sorted(check_skills(update.skills))
    if update.home is not None:
        row.home_lat, row.home_lon = update.home.lat, update.home.lon
    if update.time_zone is not None:
        zone(update.time_zone)
        row.time_zone = update.time_zone
    if update.hours is not None:
        session.execute(sa.delete(WorkingHoursRow).where(WorkingHoursRow.technician_id == row.id))
        session.add_all(WorkingHoursRow(technician_id=row.id, weekday=h.weekday, start_min=h.start_min,
                                        end_min=h.end_min) for h in update.hours)
    row.updated_at = now
    session.flush()
    return row, before


def hours_of(session: Session, technician_id: int) -> list[WeeklyHours]:
    rows = session.scalars(sa.select(WorkingHoursRow).where(WorkingHoursRow.technician_id == technician_id)
                           .order_by(WorkingHoursRow.weekday, WorkingHoursRow.start_min)).all()
    return [WeeklyHours(r.weekday, r.start_min, r.end_min) for r in rows]


def technician_fields(row: TechnicianRow, hours: Sequence[WeeklyHours]) -> dict[str, object]:
    """What the audit trail shows of a technician."""
    return {"name": row.name, "skills": list(row.skills or []), "home_lat": row.home_lat, "home_lon": row.home_lon,
            "time_zone": row.time_zone, "hours": [[h.weekday, h.start_min, h.end_min] for h in hours]}


def home_of(row: TechnicianRow) -> Place | None:
    if row.home_lat is None or row.home_lon is None:
        return None
    return Place(row.home_lat, row.home_lon)


def add_absence(session: Session, scope: Scope, technician_id: int, span: Interval, reason: str, actor: str,
                now: float) -> AbsenceRow:
    """Record that the technician is away during `span`."""
    row = get_technician(session, scope, technician_id)
    if not (math.isfinite(span.start) and math.isfinite(span.end) and span.start < span.end):
        raise InvalidFieldDataError("an absence must end after it starts")
    absence = AbsenceRow(technician_id=row.id, tenant=row.tenant, start_at=span.start, end_at=span.end,
                         reason=reason, created_at=now, created_by=actor[:200])
    session.add(absence)
    row.updated_at = now
    session.flush()
    return absence


def list_absences(session: Session, scope: Scope, technician_id: int) -> Sequence[AbsenceRow]:
    get_technician(session, scope, technician_id)
    return session.scalars(sa.select(AbsenceRow).where(AbsenceRow.technician_id == technician_id)
                           .order_by(AbsenceRow.start_at, AbsenceRow.id)).all()


def delete_absence(session: Session, scope: Scope, technician_id: int, absence_id: int, now: float) -> AbsenceRow:
    """Remove one absence (the technician is available again then); the removed row."""
    row = get_technician(session, scope, technician_id)
    absence = session.get(AbsenceRow, absence_id)
    if absence is None or absence.technician_id != row.id:
        raise NotFoundError(f"absence {absence_id} of technician {technician_id} does not exist")
    session.delete(absence)
    row.updated_at = now
    session.flush()
    return absence


def absences_between(session: Session, technician_id: int, start: float, end: float) -> list[Interval]:
    rows = session.scalars(sa.select(AbsenceRow).where(
        AbsenceRow.technician_id == technician_id, AbsenceRow.end_at > start, AbsenceRow.start_at < end)).all()
    return [Interval(r.start_at, r.end_at) for r in rows]


def shifts_of(session: Session, row: TechnicianRow, start: float, end: float) -> list[Interval]:
    """The technician's shifts in [start, end): its weekly hours in its time zone, minus its absences."""
    return shifts(hours_of(session, row.id), row.time_zone or "UTC", absences_between(session, row.id, start, end),
                  start, end)


def absence_fields(row: AbsenceRow) -> dict[str, object]:
    return {"technician_id": row.technician_id, "start_at": row.start_at, "end_at": row.end_at, "reason": row.reason}
