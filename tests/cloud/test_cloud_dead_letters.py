"""Dead letters: every message the ingest cannot store is kept with its raw payload, topic, reason and time, within
its device's share; listed per tenant through the API, and replayed through the API or the CLI, audited.
"""

from __future__ import annotations

import base64
import getpass
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from authtest_support import RoleClients, service_database
from cloudtest_support import (
    PUMP,
    T0,
    TENANT,
    Publisher,
    Stores,
    anomaly,
    raw,
    service_settings,
    state,
    telemetry,
    wait_until,
)

from cloud.auth.roles import Role
from cloud.broker import MosquittoBroker
from cloud.ingest.dead_lettering import RECOUNT_S, DeadLetterBudget
from cloud.ingest.handler import MessageHandler
from cloud.maintenance.rules import PersistentAnomalyRule
from cloud.server import CloudService
from cloud.store.account_tables import AuditRow
from cloud.store.dead_letter_tables import DeadLetterRow
from contract.clock import ManualClock
from contract.wire import ChannelRef, encode, topic_of

NOW = T0 + 3600


def letters(stores: Stores) -> list[DeadLetterRow]:
    with stores.database.session() as session:
        rows = session.scalars(sa.select(DeadLetterRow).order_by(DeadLetterRow.id)).all()
        for row in rows:
            _ = row.payload  # deferred: load it while the session is open
        return list(rows)


def test_every_message_the_ingest_cannot_store_is_kept_as_it_arrived(stores: Stores) -> None:
    topic = topic_of(telemetry("p1", 1))
    volts = tuple(ChannelRef(c.name, "V" if c.name == "motor_temp" else c.unit) for c in PUMP)
    unit = telemetry("p1", 100, channels=volts)
    stranger = telemetry("p1", 100, tenant="intruder")
    hostile = [
        (topic, b"{not json", "malformed", None, ("acme", "p1")),
        (topic, bytes(range(256)), "malformed", None, ("acme", "p1")),
        ("paas/v1/acme/p1", encode(unit), "malformed", None, (None, None)),  # a topic that names no kind
        (topic, encode(unit), "unit", unit.message_id, ("acme", "p1")),
        (*raw(stranger), "tenant_mismatch", stranger.message_id, ("intruder", "p1")),
    ]
    stores.handler.apply([raw(telemetry("p1", 1, 5))])  # p1 belongs to acme
    outcomes = stores.handler.apply([raw(telemetry("p2", 1, 5)), *[(t, p) for t, p, *_ in hostile]])
    assert [o.accepted for o in outcomes] == [True] + [False] * len(hostile)
    assert all(o.kept for o in outcomes[1:])
    kept = letters(stores)
    assert [(r.topic, r.payload, r.size, r.reason, r.message_id, (r.tenant, r.device_id)) for r in kept] == [
        (t, p, len(p), reason, message_id, owner) for t, p, reason, message_id, owner in hostile]
    assert all(r.received_at == stores.clock.time() and r.replayed_at is None and r.detail for r in kept)
    stats = stores.counters.snapshot()
    assert (stats.dead_lettered, stats.dead_letters_dropped, stats.rejected_total) == (5, 0, 5)
    assert stores.timeseries.count("p2") == 5


def test_a_device_keeps_at_most_its_share_of_dead_letters_and_the_rest_are_counted(stores: Stores) -> None:
    rule = PersistentAnomalyRule(3, 120.0)
    handler = MessageHandler(stores.database, stores.timeseries, rule, stores.clock, stores.counters,
                             dead_letters=DeadLetterBudget(max_rows=3, max_bytes=10_000))
    flood = [(topic_of(telemetry("noisy", 1)), b"junk %d" % i) for i in range(6)]
    outcomes = handler.apply([*flood, (topic_of(telemetry("quiet", 1)), b"junk")])
    assert [o.kept for o in outcomes] == [True] * 3 + [False] * 3 + [True]  # another device's share is its own
    handler.apply([(topic_of(telemetry("noisy", 1)), b"x" * 20_000)])  # one letter over the bytes share
    stats = stores.counters.snapshot()
    assert (stats.dead_lettered, stats.dead_letters_dropped, stats.rejected["malformed"]) == (4, 4, 8)
    assert [r.device_id for r in letters(stores)] == ["noisy"] * 3 + ["quiet"]
    # A replay frees room; the ingest sees it once it counts again.
    with stores.database.session() as session:
        session.execute(sa.update(DeadLetterRow).where(DeadLetterRow.device_id == "noisy").values(replayed_at=NOW))
    assert not handler.apply([flood[0]])[0].kept
    stores.clock.advance(RECOUNT_S)
    assert handler.apply([flood[0]])[0].kept


# --- through the API and the CLI ------------------------------------------------------------------------------


@pytest.fixture
def limited(mosquitto: MosquittoBroker, tmp_path: Path) -> Iterator[CloudService]:
    """A service whose devices may send 3 messages each (its clock stands still: the budget never refills)."""
    settings = service_settings(mosquitto.url, tmp_path / "cloud", ingest_device_msg_burst=3)
    service = CloudService(settings, clock=ManualClock(NOW))
    service.start()
    try:
        yield service
    finally:
        service.stop()


def test_the_api_lists_a_tenant_s_dead_letters_shows_one_and_replays_it_audited(
    limited: CloudService, publisher: Publisher
) -> None:
    batches = [telemetry("pump-1", 1 + 10 * i, 10) for i in range(5)]
    for batch in batches:  # 3 within the budget, 2 over it
        publisher.message(batch)
    publisher.send(topic_of(state("fan-1", tenant="globex")), b"\x00\xff binary junk")
    publisher.send(topic_of(anomaly("fan-2", T0, tenant="globex")), b"{}")
    wait_until(lambda: limited.ingest_stats().dead_lettered == 4, what="four dead letters")
    database = service_database(limited)
    with RoleClients(database, limited.api_url, TENANT) as acme, \
            RoleClients(database, limited.api_url, "globex") as globex:
        operator = acme(Role.OPERATOR)
        listed = operator.get("/dead-letters").json()
        assert [(d["reason"], d["device_id"], d["message_id"], d["status"]) for d in listed] == [
            ("device_rate_limited", "pump-1", b.message_id, "pending") for b in reversed(batches[3:])]
        assert all(d["size"] == len(encode(b)) for d, b in zip(listed, reversed(batches[3:]), strict=True))
        theirs = globex(Role.ADMIN).get("/dead-letters").json()
        assert {d["device_id"] for d in theirs} == {"fan-1", "fan-2"}  # each tenant sees its own devices' only
        assert len(acme.platform_admin().get("/dead-letters").json()) == 4  # the platform: all
        filtered = globex(Role.ADMIN).get("/dead-letters", params={"device": "fan-1", "reason": "malformed"}).json()
        assert [d["device_id"] for d in filtered] == ["fan-1"]
        assert globex(Role.ADMIN).get("/dead-letters", params={"since": "2099-01-01T00:00:00Z"}).json() == []
        assert len(operator.get("/dead-letters", params={"limit": 1}).json()) == 1

        one = operator.get(f"/dead-letters/{listed[0]['id']}").json()
        assert (one["payload_encoding"], one["payload"]) == ("utf-8", encode(batches[4]).decode())
        binary = globex(Role.ADMIN).get(f"/dead-letters/{filtered[0]['id']}").json()
        assert base64.b64decode(binary["payload"]) == b"\x00\xff binary junk"
        assert operator.get(f"/dead-letters/{filtered[0]['id']}").status_code == 404  # another tenant's

        replayed = operator.post(f"/dead-letters/{listed[0]['id']}/replay")
        assert replayed.status_code == 200, replayed.text
        body = replayed.json()
        assert body["stored"] is True and body["dead_letter"]["status"] == "replayed"
        refused = globex(Role.OPERATOR).post(f"/dead-letters/{filtered[0]['id']}/replay").json()
        assert refused["stored"] is False and refused["reason"] == "malformed"
        assert refused["dead_letter"]["status"] == "pending" and "refused again" in refused["dead_letter"][
            "replay_result"]
        assert operator.post(f"/dead-letters/{filtered[0]['id']}/replay").status_code == 404
        assert acme(Role.VIEWER).get("/dead-letters").status_code == 403
        assert acme(Role.PLANNER).post(f"/dead-letters/{listed[1]['id']}/replay").status_code == 403
    assert limited.fleet_counts().readings_stored == 40
    assert audit_entries(limited) == [("api_key:operator-acme", "replay", str(listed[0]["id"])),
                                      ("api_key:operator-globex", "replay", str(filtered[0]["id"]))]


def test_the_cli_lists_and_replays_dead_letters_audited_as_the_operator(
    limited: CloudService, publisher: Publisher
) -> None:
    for i in range(5):
        publisher.message(telemetry("pump-1", 1 + 10 * i, 10))
    publisher.send(topic_of(telemetry("pump-2", 1)), b"{not json")  # (pump-1's budget is spent)
    wait_until(lambda: limited.ingest_stats().rejected_total == 3, what="three dead letters")
    stores = ["--db", limited.settings.db_url, "--tsdb", limited.settings.tsdb_url]
    listed = cli("list", "--reason", "device_rate_limited", *stores)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("device_rate_limited") == 2 and "malformed" not in listed.stdout
    replayed = cli("replay", "--reason", "device_rate_limited", *stores)
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 2 dead letter(s): 2 stored, 0 refused again" in replayed.stdout
    wait_until(lambda: limited.fleet_counts().readings_stored == 50, what="the replayed readings")
    again = cli("replay", "--reason", "malformed", *stores)
    assert again.returncode == 1 and "refused again: malformed" in again.stdout
    assert "no pending dead letter matches" in cli("replay", "--reason", "device_rate_limited", *stores).stdout
    assert cli("replay", "--id", "999", *stores).returncode == 2
    actor = f"cli:{getpass.getuser()}"
    assert [(who, action) for who, action, _ in audit_entries(limited)] == [(actor, "replay")] * 3


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cloud", "dead-letters", *args], capture_output=True, text=True,
                          timeout=120)


def audit_entries(service: CloudService) -> list[tuple[str, str, str]]:
    with service_database(service).session() as session:
        rows = session.execute(sa.select(AuditRow.actor, AuditRow.action, AuditRow.object_id)
                               .where(AuditRow.object_type == "dead_letter").order_by(AuditRow.id)).all()
    return [(actor, action, object_id) for actor, action, object_id in rows]
