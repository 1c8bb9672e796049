"""Billing: a contract's billable use in a month, its monthly statements (JSON, PDF, CSV, HTML) and corrections.

A customer reads only its own contracts' use and statements (another's is a 404). Closing
a month and correcting a statement are a planner's or administrator's, and audited.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from cloud.api.access import AuditDep, PrincipalDep, allow
from cloud.api.deps import NowDep, SessionDep
from cloud.api.params import RowIdPath
from cloud.api.statement_schemas import (
    PERIOD_PATTERN,
    ContractUsageOut,
    MeterUseOut,
    StatementClose,
    StatementDocumentOut,
    StatementLinks,
    StatementPublic,
    StatementSummary,
)
from cloud.api.timestamps import utc
from cloud.api.work_order_schemas import ReasonIn
from cloud.audit.trail import Change
from cloud.auth.roles import Permission
from cloud.billing.metering import billable_use, period_bounds
from cloud.billing.render_csv import render_csv
from cloud.billing.render_html import render_html
from cloud.billing.statement_document import readings_link
from cloud.billing.statements import (
    close_period,
    contract_in_scope,
    correct,
    issued,
    statement_in_scope,
    statements_of,
)
from cloud.store.statement_tables import StatementRow

router = APIRouter(tags=["billing"])
_READ = allow(Permission.BILLING_READ)
_CLOSE = allow(Permission.BILLING_CLOSE)
_PERIOD_QUERY = Query(pattern=PERIOD_PATTERN, description="YYYY-MM (UTC); default: the month under way")
_ISSUED = {"description": "issued now"}
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_PDF: dict[int | str, dict[str, Any]] = {200: {"content": {"application/pdf": _BINARY}}}
_CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}
_HTML: dict[int | str, dict[str, Any]] = {200: {"content": {"text/html": {"schema": {"type": "string"}}}}}


@router.get("/contracts/{contract_id}/usage", dependencies=[_READ], responses={404: {}})
def read_contract_usage(contract_id: RowIdPath, session: SessionDep, principal: PrincipalDep, now: NowDep,
                        period: Annotated[str | None, _PERIOD_QUERY] = None) -> ContractUsageOut:
    """Billable use per asset and meter in the month (so far), each with the usage reports behind it."""
    contract_in_scope(session, contract_id, principal.scope)
    month = period or dt.datetime.fromtimestamp(now, tz=dt.UTC).strftime("%Y-%m")
    start, end = period_bounds(month)
    end = max(start, min(end, now))
    use = billable_use(session, contract_id, start, end)
    return ContractUsageOut(contract_id=contract_id, period=month, start=utc(start), end=utc(end), uses=[
        MeterUseOut(device_id=u.device_id, meter=u.meter, unit=u.unit, quantity=str(u.quantity),
                    report_ids=list(u.report_ids), resets=list(u.resets),
                    readings=readings_link(u.device_id, start, end)) for u in use.uses])


@router.get("/contracts/{contract_id}/statements", dependencies=[_READ], responses={404: {}})
def list_statements(contract_id: RowIdPath, session: SessionDep, principal: PrincipalDep) -> list[StatementSummary]:
    """The contract's statements and their corrections, by period then revision."""
    contract_in_scope(session, contract_id, principal.scope)
    return [_summary(row) for row in statements_of(session, contract_id)]


@router.post("/contracts/{contract_id}/statements", dependencies=[_CLOSE], responses={
    201: _ISSUED, 404: {}, 409: {"description": "the month has not ended, or no plan was in force in it"}})
def close_month(contract_id: RowIdPath, body: StatementClose, session: SessionDep, auditor: AuditDep, now: NowDep,
                response: Response) -> StatementPublic:
    """Close the month: issue its statement (201), or return the one issued before (200), unchanged."""
    contract = contract_in_scope(session, contract_id, auditor.principal.scope)
    before = issued(session, contract_id, body.period)
    row = close_period(session, contract_id, body.period, now, auditor.principal)
    # A repeated close changes nothing, but who asked for which month is still on the trail.
    auditor.record(Change("close" if before is None else "close_again", "statement", str(row.id), contract.tenant,
                          None, {"contract_id": contract_id, "period": body.period, "revision": row.revision,
                                 "total": row.total, "content_hash": row.content_hash}))
    session.commit()
    response.status_code = status.HTTP_201_CREATED if before is None else status.HTTP_200_OK
    return _public(row)


@router.get("/statements/{statement_id}.pdf", dependencies=[_READ], response_class=Response,
            responses={**_PDF, 404: {}})
def read_statement_pdf(statement_id: RowIdPath, session: SessionDep, principal: PrincipalDep) -> Response:
    """The statement as PDF."""
    row = statement_in_scope(session, statement_id, principal.scope)
    # Imported here: fpdf2 takes a fifth of a second to load, at every start of every `python -m cloud` command.
    from cloud.billing.render_pdf import render_pdf

    return Response(render_pdf(row.document, row.closed_at), media_type="application/pdf",
                    headers=_disposition(row, "pdf"))


@router.get("/statements/{statement_id}.csv", dependencies=[_READ], response_class=Response,
            responses={**_CSV, 404: {}})
def read_statement_csv(statement_id: RowIdPath, session: SessionDep, principal: PrincipalDep) -> Response:
    """The statement as CSV: its lines, then its totals."""
    row = statement_in_scope(session, statement_id, principal.scope)
    return Response(render_csv(row.document), media_type="text/csv; charset=utf-8", headers=_disposition(row, "csv"))


@router.get("/statements/{statement_id}.html", dependencies=[_READ], response_class=Response,
            responses={**_HTML, 404: {}})
def read_statement_html(statement_id: RowIdPath, session: SessionDep, principal: PrincipalDep) -> Response:
    """The statement as an HTML page."""
    row = statement_in_scope(session, statement_id, principal.scope)
    return Response(render_html(row.document), media_type="text/html; charset=utf-8",
                    headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; "
                             "style-src 'unsafe-inline'"})


@router.get("/statements/{statement_id}", dependencies=[_READ], responses={404: {}})
def read_statement(statement_id: RowIdPath, session: SessionDep, principal: PrincipalDep) -> StatementPublic:
    """The statement as issued, with the links to its PDF, CSV and HTML renderings."""
    return _public(statement_in_scope(session, statement_id, principal.scope))


@router.post("/statements/{statement_id}/correct", status_code=status.HTTP_201_CREATED, dependencies=[_CLOSE],
             responses={404: {}, 409: {"description": "another correction was issued at the same moment"}})
def correct_statement(statement_id: RowIdPath, body: ReasonIn, session: SessionDep, auditor: AuditDep,
                      now: NowDep) -> StatementPublic:
    """Issue a correction: the month recomputed from storage now, a new document showing the difference."""
    original = statement_in_scope(session, statement_id, auditor.principal.scope)
    row = correct(session, original, now, auditor.principal, body.reason)
    auditor.record(Change("correct", "statement", str(row.id), row.tenant,
                          {"statement_id": row.corrects_id},
                          {"revision": row.revision, "total": row.total, "reason": body.reason,
                           "content_hash": row.content_hash}))
    session.commit()
    return _public(row)


def _links(row: StatementRow) -> StatementLinks:
    base = f"/api/v1/statements/{row.id}"
    return StatementLinks(pdf=f"{base}.pdf", csv=f"{base}.csv", html=f"{base}.html")


def _summary(row: StatementRow) -> StatementSummary:
    return StatementSummary(id=row.id, contract_id=row.contract_id, period=row.period, revision=row.revision,
                            corrects_id=row.corrects_id, currency=row.currency, total=row.total,
                            content_hash=row.content_hash, closed_at=utc(row.closed_at), closed_by=row.closed_by,
                            links=_links(row))


def _public(row: StatementRow) -> StatementPublic:
    return StatementPublic(**_summary(row).model_dump(), reason=row.reason,
                           document=StatementDocumentOut.model_validate(row.document))


def _disposition(row: StatementRow, suffix: str) -> dict[str, str]:
    name = f"statement-{row.contract_id}-{row.period}-r{row.revision}.{suffix}"
    return {"Content-Disposition": f'attachment; filename="{name}"', "X-Content-Type-Options": "nosniff"}
