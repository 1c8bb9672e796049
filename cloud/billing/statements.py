"""Issuing statements: close a contract's month once, return the same document ever after, correct by a new one.

- `close_period` is idempotent: the first call computes the document
  (cloud.billing.statement_document) and stores it as revision 0; every later call returns
  that same row (same id, same content hash), whatever arrived since. Two racing closes
  meet at the unique (contract, period, revision) key; the loser reads the winner's row.
- A closed statement is never updated (cloud.store.statement_tables refuses it). A late
  report changes nothing already issued; `correct` issues a new document (the next
  revision) computed from storage as it is now, pointing at the one it corrects and
  showing the difference line by line and in the totals.
- A period can be closed only once it has ended (`ConflictError`, 409, before).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.auth.principal import Principal
from cloud.billing.metering import period_bounds
from cloud.billing.money import money_text
from cloud.billing.statement_document import compute_document
from cloud.errors import ConflictError, NotFoundError
from cloud.store.contract_tables import ServiceContractRow
from cloud.store.scope import Scope
from cloud.store.statement_tables import StatementRow

_TOTALS = ("usage_charges", "minimum_charges", "sla_credits", "net", "tax", "total")


def content_hash(document: dict[str, Any]) -> str:
    """SHA-256 hex of the document's canonical JSON (sorted keys, no spaces): the same document, the same hash."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def contract_in_scope(session: Session, contract_id: int, scope: Scope) -> ServiceContractRow:
    """The contract, if the scope sees it (its tenant's, and for a customer only its own); else NotFoundError."""
    contract = session.get(ServiceContractRow, contract_id)
    if contract is None or not scope.owns(contract.tenant) or (
            scope.customer_id is not None and contract.customer_id != scope.customer_id):
        raise NotFoundError(f"contract {contract_id} does not exist")
    return contract


def statement_in_scope(session: Session, statement_id: int, scope: Scope) -> StatementRow:
    """The statement, if the scope sees its contract; else NotFoundError (404, never 403: ids don't leak)."""
    row = session.get(StatementRow, statement_id)
    if row is None or not scope.owns(row.tenant) or (
            scope.customer_id is not None and row.customer_id != scope.customer_id):
        raise NotFoundError(f"statement {statement_id} does not exist")
    return row


def statements_of(session: Session, contract_id: int) -> list[StatementRow]:
    """Every statement and correction of the contract, by period then revision."""
    return list(session.scalars(sa.select(StatementRow).where(StatementRow.contract_id == contract_id)
                                .order_by(StatementRow.period, StatementRow.revision)).all())


def issued(session: Session, contract_id: int, period: str, revision: int = 0) -> StatementRow | None:
    """The statement of that period and revision, if issued."""
    return session.scalars(sa.select(StatementRow).where(
        StatementRow.contract_id == contract_id, StatementRow.period == period,
        StatementRow.revision == revision)).first()


def latest(session: Session, contract_id: int, period: str) -> StatementRow | None:
    """The newest revision of the period (what stands now), if any was issued."""
    return session.scalars(sa.select(StatementRow).where(
        StatementRow.contract_id == contract_id, StatementRow.period == period)
        .order_by(StatementRow.revision.desc()).limit(1)).first()


def closed_until(session: Session, contract_id: int) -> dt.date | None:
    """The first day after the contract's latest closed period (None: none closed): a plan version or an asset
    cover may change only from that day on, so nothing rewrites a billed month (cloud.billing.contracts)."""
    period = session.scalar(sa.select(sa.func.max(StatementRow.period)).where(
        StatementRow.contract_id == contract_id))
    if period is None:
        return None
    _start, end = period_bounds(period)
    return dt.datetime.fromtimestamp(end, tz=dt.UTC).date()


def close_period(session: Session, contract_id: int, period: str, now: float, actor: Principal) -> StatementRow:
    """The contract's statement for `period`: issued now if it was not yet, else the one issued before."""
    existing = issued(session, contract_id, period)
    if existing is not None:
        return existing
    _start, end = period_bounds(period)
    if end > now:
        raise ConflictError(f"{period} has not ended yet; it can be closed from {_iso_day(end)}")
    contract = session.get(ServiceContractRow, contract_id)
    if contract is None:
        raise NotFoundError(f"contract {contract_id} does not exist")
    document = {**compute_document(session, contract_id, period), "revision": 0, "corrects": None,
                "difference": None}
    row = _store(session, contract, period, 0, None, document, now, actor, None)
    if row is None:  # closed at the same moment by another request: theirs is the statement
        winner = issued(session, contract_id, period)
        if winner is None:
            raise ConflictError(f"the statement of contract {contract_id} for {period} could not be stored; retry")
        return winner
    return row


def correct(session: Session, statement: StatementRow, now: float, actor: Principal, reason: str) -> StatementRow:
    """A correction of the statement's period: recomputed from storage now, the next revision after the newest."""
    standing = latest(session, statement.contract_id, statement.period) or statement
    contract = session.get(ServiceContractRow, statement.contract_id)
    if contract is None:
        raise NotFoundError(f"contract {statement.contract_id} does not exist")
    revision = standing.revision + 1
    document = compute_document(session, contract.id, statement.period)
    document |= {"revision": revision, "corrects": {"statement_id": standing.id, "revision": standing.revision},
                 "difference": difference(standing.document, document), "reason": reason}
    row = _store(session, contract, statement.period, revision, standing.id, document, now, actor, reason)
    if row is None:
        raise ConflictError(f"statement {standing.id} was corrected at the same moment; read the correction")
    return row


def difference(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What a correction changes: each total's change, and the lines that are new, gone or changed in amount."""
    currency = str(after["currency"])

    def key(line: dict[str, Any]) -> str:
        return f"{line['kind']}|{line['device_id']}|{line['meter']}|{line['version']}|{line['start']}"

    old = {key(line): Decimal(line["amount"]) for line in before.get("lines", [])}
    new = {key(line): Decimal(line["amount"]) for line in after.get("lines", [])}
    lines = [{"line": name, "before": None if name not in old else money_text(old[name], currency),
              "after": None if name not in new else money_text(new[name], currency),
              "change": money_text(new.get(name, Decimal(0)) - old.get(name, Decimal(0)), currency)}
             for name in sorted(old.keys() | new.keys()) if old.get(name) != new.get(name)]
    totals = {name: money_text(Decimal(after[name]) - Decimal(before.get(name, "0")), currency) for name in _TOTALS}
    return {"totals": totals, "lines": lines}


def _store(session: Session, contract: ServiceContractRow, period: str, revision: int, corrects_id: int | None,
           document: dict[str, Any], now: float, actor: Principal, reason: str | None) -> StatementRow | None:
    """Insert the statement in a savepoint; None when another transaction inserted that revision first."""
    row = StatementRow(tenant=contract.tenant, contract_id=contract.id, customer_id=contract.customer_id,
                       period=period, revision=revision, corrects_id=corrects_id, currency=document["currency"],
                       total=document["total"], document=document, content_hash=content_hash(document),
                       closed_at=now, closed_by=actor.label[:200], reason=reason)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


def _iso_day(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).date().isoformat()
