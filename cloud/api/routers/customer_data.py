"""A customer's data as a whole: exported as one file, or erased but for what its invoices legally need."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.deps import NowDep, SessionDep
from cloud.api.offer_schemas import ErasurePublic
from cloud.api.params import RowIdPath
from cloud.auth.roles import Permission
from cloud.consent.erasure import erase_customer
from cloud.consent.export import export_customer

router = APIRouter(tags=["consent"])

ERASURE_NOTE = ("Personal data was erased or anonymised. Kept: the customer's name, statements, the contract terms "
                "and the readings they were computed from, because invoices must be kept for the legal retention "
                "period; and the audit trail, which records this erasure.")


@router.get("/customers/{customer_id}/export", dependencies=[allow(Permission.CUSTOMERS_EXPORT)],
            responses={404: {}})
def export(customer_id: RowIdPath, response: Response, session: SessionDep, principal: PrincipalDep,
           now: NowDep) -> dict[str, Any]:
    """All of the customer's data as one JSON file, table by table (what is not in it, and why, is listed)."""
    document = export_customer(session, principal.scope, customer_id, now)
    response.headers["Content-Disposition"] = f'attachment; filename="customer-{customer_id}-export.json"'
    return document


@router.post("/customers/{customer_id}/erase", dependencies=[allow(Permission.CUSTOMERS_ERASE)],
             responses={404: {}})
def erase(customer_id: RowIdPath, session: SessionDep, auditor: AuditDep, now: NowDep) -> ErasurePublic:
    """Erase the customer's personal data; the answer says what was erased, what was kept and why."""
    report, changes = erase_customer(session, auditor.principal.scope, customer_id, auditor.principal.label, now)
    for change in changes:
        auditor.record(change)
    session.commit()
    return ErasurePublic(customer_id=customer_id, erased=report.erased, anonymised=report.anonymised,
                         kept=report.kept, note=ERASURE_NOTE)
