"""Erasing a customer: everything personal goes, except what its invoices legally need, and the answer says which.

Kept, because statements must be kept for the legal retention period and must stay
explainable (docs/billing.md, "Offers and consent"):

- `customers`: the name, the billing identity printed on statements;
- `statements`, and the contract terms they were computed from (`service_contracts`,
  `contract_versions`, `contract_assets`, the per-asset `contracts`);
- `usage_reports`: the readings each statement's numbers link to (machine counters).

Anonymised (the row stays for the platform's own counts, the personal content goes):

- `consents`: source and text blanked, the yes/no and times kept as proof of what was
  allowed when; a withdrawal of every purpose is appended, so nothing is used again;
- `offers`: title, explanation, data used and the customer's note blanked; type and status
  kept for acceptance rates;
- `help_requests` / `help_answers`: the messages and history snapshot blanked; times kept
  for the time-to-a-human metric;
- `users` and `api_keys` of the customer: disabled or revoked, names replaced.

Erased (deleted): `customer_details` (language, contact people), `contact_points`, the
customer's `notifications`, and the rows of any other table with a `customer_id` column
(a table added later is erased unless it is listed above). The machine data of the assets
(events, work orders, findings, telemetry) is the maker's equipment record, holds no
personal data, and stays. The audit trail is append-only and stays; it records the erasure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cloud.audit.trail import Change
from cloud.auth.accounts import get_customer
from cloud.consent.ledger import Purpose, append
from cloud.offers.review import stop_offers
from cloud.store.scope import Scope
from cloud.store.tables import METADATA

ERASED = "[erased]"
KEPT = {
    "customers": "the name is the billing identity on its statements",
    "statements": "invoices must be kept for the legal retention period",
    "service_contracts": "the contract terms its statements were computed from",
    "contract_versions": "the plan prices its statements were computed from",
    "contract_assets": "which assets its statements billed",
    "contracts": "the per-asset contract its statements and maintenance refer to",
    "usage_reports": "the readings behind the statements' numbers (machine counters, no personal data)",
}
# table -> (columns blanked, why the row stays)
ANONYMISED: dict[str, tuple[dict[str, object], str]] = {
    "consents": ({"source": ERASED, "text": ERASED}, "proof of what was allowed when; a withdrawal is appended"),
    "offers": ({"title": ERASED, "explanation": ERASED, "data_used": {}, "response_note": None},
               "type and status only, for acceptance rates"),
    "help_requests": ({"message": ERASED, "history": {}}, "times only, for the time-to-a-human metric"),
    "help_answers": ({"message": ERASED}, "times only, for the time-to-a-human metric"),
}
_BY_RECIPIENT = ("contact_points", "notifications")


@dataclass
class ErasureReport:
    """What an erasure did: rows deleted and anonymised per table, and what was kept with why."""

    customer_id: int
    erased: dict[str, int] = field(default_factory=dict)
    anonymised: dict[str, int] = field(default_factory=dict)
    kept: dict[str, str] = field(default_factory=dict)


def erase_customer(session: Session, scope: Scope, customer_id: int, actor: str, now: float
                   ) -> tuple[ErasureReport, list[Change]]:
    """Erase the customer's personal data in the caller's transaction; the report and the changes to audit."""
    customer = get_customer(session, scope, customer_id)
    present = set(sa.inspect(session.get_bind()).get_table_names())
    changes = []
    for purpose in Purpose:  # first: nothing may be used or sent from here on
        append(session, customer.tenant, customer.id, purpose, False, ERASED, ERASED, actor, now)
        changes += stop_offers(session, customer.id, purpose, "customer erased", now)
    report = ErasureReport(customer.id, kept={name: why for name, why in KEPT.items() if name in present})
    tables = METADATA.tables
    request_ids: list[int] = []
    if "help_requests" in present:
        requests = tables["help_requests"]
        request_ids = list(session.scalars(sa.select(requests.c.id).where(requests.c.customer_id == customer.id)))
    if "help_answers" in present and request_ids:
        _anonymise(session, report, tables["help_answers"], tables["help_answers"].c.request_id.in_(request_ids))
    for name in ("consents", "offers", "help_requests"):
        if name in present:
            _anonymise(session, report, tables[name], tables[name].c.customer_id == customer.id)
    _accounts(session, report, customer.id, now)
    for name in _BY_RECIPIENT:
        if name in present:
            table = tables[name]
            _delete(session, report, table, sa.and_(table.c.recipient_kind == "customer",
                                                    table.c.recipient_id == customer.id))
    handled = {*KEPT, *ANONYMISED, "users", "api_keys", *_BY_RECIPIENT}
    for table in reversed(METADATA.sorted_tables):
        if table.name in present and table.name not in handled and "customer_id" in table.c:
            _delete(session, report, table, table.c.customer_id == customer.id)
    changes.append(Change("customer.erase", "customer", str(customer.id), customer.tenant, None,
                          {"erased": report.erased, "anonymised": report.anonymised, "kept": sorted(report.kept)}))
    return report, changes


def _accounts(session: Session, report: ErasureReport, customer_id: int, now: float) -> None:
    """Disable the customer's sign-ins and keys, without deleting rows the audit trail's ids point at."""
    users, keys = METADATA.tables["users"], METADATA.tables["api_keys"]
    user_ids = list(session.scalars(sa.select(users.c.id).where(users.c.customer_id == customer_id)))
    for user_id in user_ids:
        session.execute(sa.update(users).where(users.c.id == user_id).values(
            active=False, username=f"erased-{user_id}", password_hash="!"))
    key_rows = session.execute(sa.select(keys.c.id, keys.c.revoked_at).where(keys.c.customer_id == customer_id)).all()
    for key_id, revoked_at in key_rows:
        session.execute(sa.update(keys).where(keys.c.id == key_id).values(
            name=ERASED, revoked_at=now if revoked_at is None else revoked_at))
    if user_ids:
        report.anonymised["users"] = len(user_ids)
    if key_rows:
        report.anonymised["api_keys"] = len(key_rows)


def _anonymise(session: Session, report: ErasureReport, table: sa.Table, where: sa.ColumnElement[bool]) -> None:
    values = {column: value for column, value in ANONYMISED[table.name][0].items() if column in table.c}
    count = _rows(session.execute(sa.update(table).where(where).values(**values)))
    if count:
        report.anonymised[table.name] = count


def _delete(session: Session, report: ErasureReport, table: sa.Table, where: sa.ColumnElement[bool]) -> None:
    count = _rows(session.execute(sa.delete(table).where(where)))
    if count:
        report.erased[table.name] = count


def _rows(result: sa.Result[Any]) -> int:
    """How many rows an UPDATE or DELETE touched."""
    return int(cast(sa.CursorResult[Any], result).rowcount)
