"""The billing routes over real HTTP: a contract's use with the readings behind it, closing a month (idempotent,
audited, only once it ended), the statement as JSON, CSV, HTML and PDF, a correction; and who may see what.

Who may call each route is also walked by test_cloud_access_routes; here: a customer reads
its own contracts' use and statements and gets a 404 for another customer's or another
tenant's, and a late report after closing does not change the statement served.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from apitest_support import api_alone
from authtest_support import api_key, bearer
from billingtest_support import DAY, FEB, JAN, contract, customer, usage

from cloud.auth.roles import Role
from cloud.store.account_tables import AuditRow
from cloud.store.database import Database
from cloud.store.tables import AssetRow
from cloud.store.usage import insert_usage

TENANT, OTHER = "acme", "globex"
NOW = FEB + 4 * DAY


@dataclass
class Served:
    database: Database
    url: str
    contract_id: int
    other_customers_contract: int
    other_tenants_contract: int
    keys: dict[str, str]

    def client(self, who: str) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/api/v1", headers=bearer(self.keys[who]), timeout=20.0)

    def report(self, device: str, seq: int, start: float, end: float, hours: float) -> None:
        with self.database.session() as session:
            insert_usage(session, usage(device, seq, start, end, operating_hours=hours), received_at=end)
            session.commit()

    def audit(self, action: str) -> list[AuditRow]:
        with self.database.session() as session:
            return list(session.scalars(sa.select(AuditRow).where(AuditRow.action == action)))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """The API alone over SQLite: tenant acme with two customers' contracts, globex with one; pump-1's reports."""
    with api_alone(tmp_path, NOW) as api:
        database = api.database
        with database.session() as session:
            for device, tenant in (("pump-1", TENANT), ("pump-2", TENANT), ("pump-9", OTHER)):
                session.add(AssetRow(device_id=device, tenant=tenant, first_seen=JAN - DAY, last_seen=NOW))
            session.commit()
        mine, theirs, foreign = customer(database), customer(database, "Other Works"), customer(database, tenant=OTHER)
        ids = (contract(database, mine, ("pump-1",)), contract(database, theirs, ("pump-2",)),
               contract(database, foreign, ("pump-9",), tenant=OTHER))
        keys = {"planner": api_key(database, TENANT, Role.PLANNER, "planner-acme"),
                "viewer": api_key(database, TENANT, Role.VIEWER, "viewer-acme"),
                "customer": api_key(database, TENANT, Role.CUSTOMER, "customer-acme", customer_id=mine),
                "other customer": api_key(database, TENANT, Role.CUSTOMER, "other-customer-acme", customer_id=theirs),
                "other planner": api_key(database, OTHER, Role.PLANNER, "planner-globex")}
        served = Served(database, api.url, *ids, keys)
        served.report("pump-1", 1, JAN - DAY, JAN, 0)
        served.report("pump-1", 2, JAN, JAN + 15 * DAY, 40)
        yield served


def test_a_planner_closes_a_month_once_and_a_late_report_does_not_change_what_is_served(served: Served) -> None:
    path = f"/contracts/{served.contract_id}/statements"
    with served.client("planner") as planner, served.client("viewer") as viewer:
        assert planner.post(path, json={"period": "2027-02"}).status_code == 409  # not ended yet
        assert viewer.post(path, json={"period": "2027-01"}).status_code == 403
        assert planner.post(path, json={"period": "2027-13"}).status_code == 422
        first = planner.post(path, json={"period": "2027-01"})
        assert first.status_code == 201, first.text
        statement = first.json()
        # 40 h x 2.50 = 100.00 meets the 100.00 minimum; tax 19 %.
        assert (statement["total"], statement["revision"], statement["document"]["net"]) == ("119.00", 0, "100.00")
        served.report("pump-1", 3, JAN + 15 * DAY, FEB, 70)  # late: 30 h more in January
        again = planner.post(path, json={"period": "2027-01"})
        assert again.status_code == 200, again.text
        assert again.json() == statement  # the same document: same id, hash and numbers
        assert viewer.get(f"/statements/{statement['id']}").json() == statement
        assert [s["id"] for s in viewer.get(path).json()] == [statement["id"]]
        [closed] = served.audit("close")
        assert (closed.actor, closed.object_id, closed.after["total"]) == ("api_key:planner-acme",
                                                                           str(statement["id"]), "119.00")
        assert len(served.audit("close_again")) == 1
        fixed = planner.post(f"/statements/{statement['id']}/correct", json={"reason": "late report of pump-1"})
        assert fixed.status_code == 201, fixed.text
        correction = fixed.json()
        # 70 h x 2.50 = 175.00, tax 33.25: the difference is shown against the statement it corrects.
        assert (correction["total"], correction["revision"], correction["corrects_id"]) == ("208.25", 1,
                                                                                             statement["id"])
        assert correction["document"]["difference"]["totals"]["total"] == "89.25"
        assert [entry.actor for entry in served.audit("correct")] == ["api_key:planner-acme"]
        assert viewer.get(f"/statements/{statement['id']}").json() == statement  # still as issued
        assert viewer.post(f"/statements/{statement['id']}/correct", json={"reason": "x"}).status_code == 403


def test_the_use_of_a_month_links_each_number_to_the_readings_behind_it(served: Served) -> None:
    with served.client("customer") as customer, served.client("other customer") as other:
        response = customer.get(f"/contracts/{served.contract_id}/usage", params={"period": "2027-01"})
        assert response.status_code == 200, response.text
        [use] = response.json()["uses"]
        assert (use["device_id"], use["meter"], use["quantity"], use["unit"]) == ("pump-1", "operating_hours",
                                                                                  "40.000000", "h")
        assert len(use["report_ids"]) == 2
        # The customer follows the link to its asset's readings (under its service contract); another cannot.
        readings = customer.get(use["readings"].removeprefix("/api/v1"))
        assert readings.status_code == 200, readings.text
        assert readings.json()["usage"]["operating_hours"]["value"] == 40.0
        assert other.get(use["readings"].removeprefix("/api/v1")).status_code == 404
        so_far = customer.get(f"/contracts/{served.contract_id}/usage").json()  # default: the month under way
        assert (so_far["period"], so_far["end"]) == ("2027-02", "2027-02-05T00:00:00Z")


def test_renderings_carry_the_same_totals_and_a_customer_sees_only_its_own(served: Served) -> None:
    with served.client("planner") as planner:
        statement = planner.post(f"/contracts/{served.contract_id}/statements", json={"period": "2027-01"}).json()
        theirs = planner.post(f"/contracts/{served.other_customers_contract}/statements", json={"period": "2027-01"})
        assert theirs.status_code == 201, theirs.text
        assert planner.post(f"/contracts/{served.other_tenants_contract}/statements",
                            json={"period": "2027-01"}).status_code == 404
    sid, their_id = statement["id"], theirs.json()["id"]
    with served.client("customer") as customer:
        pdf = customer.get(f"/statements/{sid}.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF-") and b"(119.00 EUR)" in pdf.content
        text = customer.get(f"/statements/{sid}.csv")
        assert text.headers["content-type"].startswith("text/csv")
        totals = {row["kind"]: row["amount"] for row in csv.DictReader(io.StringIO(text.text))}
        assert (totals["net"], totals["tax"], totals["total"]) == ("100.00", "19.00", "119.00")
        page = customer.get(f"/statements/{sid}.html")
        assert page.headers["content-type"].startswith("text/html") and "119.00 EUR" in page.text
        assert customer.get(f"/statements/{sid}").json()["links"]["pdf"] == f"/api/v1/statements/{sid}.pdf"
        # Another customer's statement, contract and use: as if they did not exist.
        for path in (f"/statements/{their_id}", f"/statements/{their_id}.pdf", f"/statements/{their_id}.csv",
                     f"/statements/{their_id}.html", f"/contracts/{served.other_customers_contract}/statements",
                     f"/contracts/{served.other_customers_contract}/usage"):
            assert customer.get(path).status_code == 404, path
        assert customer.post(f"/contracts/{served.contract_id}/statements",
                             json={"period": "2027-01"}).status_code == 403
    with served.client("other customer") as other:
        assert other.get(f"/statements/{their_id}").status_code == 200
        assert other.get(f"/statements/{sid}.pdf").status_code == 404
    with served.client("other planner") as foreign:
        assert foreign.get(f"/statements/{sid}").status_code == 404
        assert foreign.get(f"/contracts/{served.contract_id}/statements").status_code == 404
