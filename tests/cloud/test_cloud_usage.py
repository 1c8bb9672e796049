"""Usage reports in the cloud: stored once, and `/assets/{id}/usage` with the latest counters and a range's use."""

from __future__ import annotations

import httpx
import sqlalchemy as sa
from cloudtest_support import T0, Publisher, Stores, raw, state, wait_until

from cloud.store.tables import UsageReportRow
from contract.wire import Usage, format_ts

UNITS = {"operating_hours": "h", "energy_kwh": "kWh"}


def usage(seq: int, hours: float, kwh: float, device: str = "pump-001", ts: float | None = None) -> Usage:
    at = T0 + 60 * seq if ts is None else ts
    return Usage(tenant="acme", device_id=device, seq=seq, ts=at, period_start=at - 60, period_end=at,
                 counters={"operating_hours": hours, "energy_kwh": kwh}, units=UNITS)


def test_a_report_is_stored_once_by_message_id_and_by_device_seq(stores: Stores) -> None:
    first = usage(1, 0.5, 0.2)
    replayed_seq = usage(1, 0.6, 0.3)  # another message id, the same device seq (a re-sent report)
    outcomes = stores.handler.apply([raw(first), raw(first), raw(replayed_seq), raw(usage(2, 1.0, 0.4))])
    assert all(o.accepted for o in outcomes)
    with stores.database.session() as session:
        rows = session.scalars(sa.select(UsageReportRow).order_by(UsageReportRow.seq)).all()
        assert [(r.seq, r.counters["operating_hours"]) for r in rows] == [(1, 0.5), (2, 1.0)]
    assert stores.counters.snapshot().accepted == 4


def test_another_tenants_report_is_refused(stores: Stores) -> None:
    stores.handler.apply([raw(state("pump-001"))])
    forged = Usage(tenant="intruder", device_id="pump-001", seq=1, ts=T0, period_start=T0, period_end=T0,
                   counters={"cycles": 1.0}, units={"cycles": "1"})
    assert [o.reason for o in stores.handler.apply([raw(forged)])] == ["tenant_mismatch"]


def test_the_api_gives_latest_counters_and_the_use_within_a_range(publisher: Publisher, api: httpx.Client) -> None:
    for seq, hours, kwh in ((1, 1.0, 0.5), (2, 1.5, 0.75), (3, 2.5, 1.25), (4, 4.0, 2.0)):
        publisher.message(usage(seq, hours, kwh))
    wait_until(lambda: api.get("/assets/pump-001/usage").json().get("latest_at") == format_ts(T0 + 240)
               .replace(".000Z", "Z"), what="four usage reports")
    whole = api.get("/assets/pump-001/usage").json()
    assert whole["latest"] == {"operating_hours": {"value": 4.0, "unit": "h"},
                               "energy_kwh": {"value": 2.0, "unit": "kWh"}}
    assert whole["reports_in_range"] == 4 and whole["usage"]["operating_hours"]["value"] == 3.0
    ranged = api.get("/assets/pump-001/usage", params={"start": format_ts(T0 + 90), "end": format_ts(T0 + 200)})
    body = ranged.json()
    assert body["reports_in_range"] == 2  # seq 2 (T0+120) and seq 3 (T0+180)
    assert body["usage"] == {"operating_hours": {"value": 1.0, "unit": "h"},
                             "energy_kwh": {"value": 0.5, "unit": "kWh"}}
    assert body["latest"]["operating_hours"]["value"] == 4.0  # the latest, whatever the range
    assert api.get("/assets/nobody/usage").status_code == 404
    backwards = {"start": format_ts(T0 + 200), "end": format_ts(T0)}
    assert api.get("/assets/pump-001/usage", params=backwards).status_code == 422
