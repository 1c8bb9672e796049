"""Device profiles: any kind of asset. Without a profile its readings are kept; a registered profile validates them.

Through the ingest's handler on SQLite and PostgreSQL, the HTTP API of a running service fed
through Mosquitto, and `python -m cloud profiles` as an operator runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from authtest_support import RoleClients, service_database
from cloudtest_support import T0, TENANT, Publisher, Stores, raw, state, telemetry, wait_until

from cloud.auth.roles import Role
from cloud.errors import ConflictError, InvalidProfileError
from cloud.server import CloudService
from cloud.store.account_tables import AuditRow
from cloud.store.assets import find_asset
from cloud.store.database import Database
from cloud.store.profile_tables import DeviceProfileRow
from cloud.store.profiles import ProfileSource, asset_profile, create_profile
from contract.channels import AssetProfile, Channel
from contract.timestamps import format_ts
from contract.wire import ChannelRef

# A Raspberry Pi's own sensors, as `command:` or `sysfs:` report them: asset kind `custom`.
CUSTOM = (ChannelRef("soc_temp", "degC"), ChannelRef("supply", "mV"), ChannelRef("coolant", "K"),
          ChannelRef("co2", "ppm"))
BOARD_CHANNELS = (Channel("soc_temp", "degC", "SoC temperature"), Channel("supply", "V", "Supply voltage"),
                  Channel("coolant", "K", "Coolant temperature"), Channel("co2", "ppm", "CO2 concentration"))
BOARD = AssetProfile("custom", BOARD_CHANNELS, "Raspberry Pi controller board", "board-ae")


def register(stores: Stores, profile: AssetProfile = BOARD, tenant: str = TENANT) -> None:
    with stores.database.session() as session:
        create_profile(session, tenant, profile, "test", T0)


def stored_units(stores: Stores, device: str) -> dict[str, str]:
    with stores.database.session() as session:
        asset = find_asset(session, device)
        assert asset is not None, f"{device} was not stored"
        return {c["name"]: c["unit"] for c in asset.channels}


def means(stores: Stores, device: str, first: float, last: float) -> dict[str, float]:
    """Mean per channel of the device's readings with ts in [first, last]."""
    series = stores.timeseries.query(device, first, last + 1e-3, last - first + 1e-3)
    return dict(zip(series.channels, series.buckets.means[0].tolist(), strict=True))


def profile_source(stores: Stores, device: str) -> tuple[AssetProfile | None, ProfileSource]:
    with stores.database.session() as session:
        asset = find_asset(session, device)
        assert asset is not None
        return asset_profile(session, asset)


def test_readings_of_a_kind_without_a_profile_are_kept_in_known_units_or_as_sent(stores: Stores) -> None:
    # soc_temp 1000 degC, supply 1001 mV, coolant 1002 K (degC's or degR's: kept), co2 1003 ppm (unknown: kept).
    outcomes = stores.handler.apply([raw(state("pi-1", kind="custom")),
                                     raw(telemetry("pi-1", 1, 5, channels=CUSTOM, value=1000.0))])
    assert [o.accepted for o in outcomes] == [True, True], outcomes
    assert stores.timeseries.count("pi-1") == 5
    assert stored_units(stores, "pi-1") == {"soc_temp": "degC", "supply": "V", "coolant": "K", "co2": "ppm"}
    stored = means(stores, "pi-1", T0 + 1, T0 + 5)
    assert stored == pytest.approx({"soc_temp": 1000.0, "supply": 1.001, "coolant": 1002.0, "co2": 1003.0})
    assert profile_source(stores, "pi-1") == (None, ProfileSource.PENDING)


def test_a_pending_channel_keeps_the_unit_its_first_readings_were_stored_in(stores: Stores) -> None:
    in_volts = (ChannelRef("supply", "V"), ChannelRef("co2", "ppm"))
    in_millivolts = (ChannelRef("supply", "mV"), ChannelRef("co2", "ppm"))
    in_ppb = (ChannelRef("supply", "V"), ChannelRef("co2", "ppb"))
    outcomes = stores.handler.apply([
        raw(state("pi-1", kind="custom")),
        raw(telemetry("pi-1", 1, 2, channels=in_volts, value=5.0)),
        raw(telemetry("pi-1", 11, 2, channels=in_millivolts, value=5000.0)),  # converted to the V stored before
        raw(telemetry("pi-1", 21, 2, channels=in_ppb, value=5.0)),  # ppb is not ppm: refused, never mixed in
    ])
    assert [o.reason for o in outcomes] == ["", "", "", "unit"]
    assert "'ppb' is not 'ppm'" in outcomes[3].detail
    assert stores.timeseries.count("pi-1") == 4
    assert means(stores, "pi-1", T0 + 11, T0 + 12)["supply"] == pytest.approx(5.0)


def test_a_registered_profile_validates_its_kinds_readings_and_converts_them_to_its_units(stores: Stores) -> None:
    assert stores.handler.apply([raw(state("pi-1", kind="custom")), raw(state("other", kind="custom",
                                                                              tenant="globex"))])[0].accepted
    register(stores)
    with_humidity = (*CUSTOM, ChannelRef("humidity", "pct"))
    in_ppb = tuple(ChannelRef(c.name, "ppb" if c.name == "co2" else c.unit) for c in CUSTOM)
    outcomes = stores.handler.apply([
        raw(telemetry("pi-1", 1, 3, channels=CUSTOM, value=2000.0)),
        raw(telemetry("pi-1", 11, 3, channels=with_humidity)),
        raw(telemetry("pi-1", 21, 3, channels=in_ppb)),
        raw(telemetry("other", 1, 3, channels=with_humidity, tenant="globex")),  # globex has no such profile
    ])
    assert [o.reason for o in outcomes] == ["", "unknown_channel", "unit", ""]
    assert outcomes[1].detail == "channel(s) humidity are not in the custom profile"
    assert "co2: unit 'ppb' is not 'ppm'" in outcomes[2].detail and "as the custom profile says" in outcomes[2].detail
    assert stores.timeseries.count("pi-1") == 3
    assert means(stores, "pi-1", T0 + 1, T0 + 3)["supply"] == pytest.approx(2.001)  # mV -> the profile's V
    assert stored_units(stores, "pi-1") == {c.name: c.unit for c in BOARD_CHANNELS}
    assert profile_source(stores, "pi-1") == (BOARD, ProfileSource.REGISTERED)
    assert profile_source(stores, "other") == (None, ProfileSource.PENDING)
    assert stores.timeseries.count("other") == 3


def test_telemetry_before_any_state_is_matched_to_the_tenants_profile_or_kept_pending(stores: Stores) -> None:
    register(stores)
    odd = (ChannelRef("weird", "1"),)
    outcomes = stores.handler.apply([raw(telemetry("pi-2", 1, 2, channels=CUSTOM)),
                                     raw(telemetry("x-1", 1, 2, channels=odd))])
    assert all(o.accepted for o in outcomes), outcomes
    assert profile_source(stores, "pi-2") == (BOARD, ProfileSource.REGISTERED)
    with stores.database.session() as session:
        unknown = find_asset(session, "x-1")
        assert unknown is not None and unknown.asset_kind == ""
        assert asset_profile(session, unknown) == (None, ProfileSource.PENDING)
    assert stores.timeseries.count("x-1") == 2


def test_a_malformed_profile_is_refused_saying_what_is_wrong(stores: Stores) -> None:
    bad = AssetProfile("bad kind", (Channel("a b", "degC", ""), Channel("t", "deg C", ""), Channel("t", "1", "x\n")),
                       model_id="no/slash")
    with pytest.raises(InvalidProfileError) as refused:
        register(stores, bad)
    message = str(refused.value)
    for expected in ("kind 'bad kind'", "model_id 'no/slash'", "a name appears twice", "channel 'a b'",
                     "unit 'deg C' must be", "a label is at most 200 printable"):
        assert expected in message, message
    with pytest.raises(InvalidProfileError, match="channels: 1 to 64, got 0"):
        register(stores, AssetProfile("empty", ()))


def test_a_profile_cannot_replace_a_built_in_or_registered_one_nor_mix_units_in_a_stored_channel(
    stores: Stores,
) -> None:
    with pytest.raises(ConflictError, match="'pump' is a built-in profile"):
        register(stores, AssetProfile("pump", BOARD_CHANNELS))
    stores.handler.apply([raw(state("pi-1", kind="custom")), raw(telemetry("pi-1", 1, 2, channels=CUSTOM))])
    in_millivolts = tuple(Channel(c.name, "mV" if c.name == "supply" else c.unit, c.label) for c in BOARD_CHANNELS)
    with pytest.raises(ConflictError, match=r"pi-1 stored supply in 'V', not 'mV'\. Declare each"):
        register(stores, AssetProfile("custom", in_millivolts))
    with stores.database.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(DeviceProfileRow)) == 0
    register(stores)
    with pytest.raises(ConflictError, match="already has a profile 'custom'"):
        register(stores)
    register(stores, tenant="globex")  # each tenant has its own kinds


@pytest.fixture
def globex(cloud: CloudService) -> Iterator[RoleClients]:
    with RoleClients(service_database(cloud), cloud.api_url, "globex") as clients:
        yield clients


def test_the_api_lists_a_pending_kind_registers_its_profile_with_an_audit_entry_and_assets_show_it(
    cloud: CloudService, clients: RoleClients, globex: RoleClients, publisher: Publisher,
) -> None:
    publisher.message(state("pi-1", kind="custom"))
    publisher.message(telemetry("pi-1", 1, 5, channels=CUSTOM, value=1000.0))
    viewer, operator = clients(Role.VIEWER), clients(Role.OPERATOR)
    wait_until(lambda: viewer.get("/assets/pi-1").status_code == 200
               and viewer.get("/assets/pi-1").json()["readings_stored"] == 5, what="pi-1's readings stored")
    listed = {(p["kind"], p["source"]): p for p in viewer.get("/profiles").json()}
    assert set(listed) == {("pump", "builtin"), ("turbofan", "builtin"), ("custom", "pending")}
    pending = listed["custom", "pending"]
    assert (pending["tenant"], pending["devices"]) == (TENANT, 1)
    assert [(c["name"], c["unit"]) for c in pending["channels"]] == [
        ("soc_temp", "degC"), ("supply", "V"), ("coolant", "K"), ("co2", "ppm")]
    assert listed["pump", "builtin"]["tenant"] is None and listed["pump", "builtin"]["model_id"] == "pump-pca-baseline"
    assert [a["device_id"] for a in viewer.get("/assets", params={"profile": "pending"}).json()] == ["pi-1"]
    series = _telemetry(viewer, "pi-1")  # the readings are there to see, in the units they are stored in
    assert [(c["name"], c["unit"], c["mean"]) for c in series["channels"]] == [
        ("soc_temp", "degC", [1000.0]), ("supply", "V", [pytest.approx(1.001)]), ("coolant", "K", [1002.0]),
        ("co2", "ppm", [1003.0])]
    assert viewer.get("/assets", params={"profile": "registered"}).json() == []

    body = {"kind": "custom", "description": BOARD.description, "model_id": BOARD.model_id,
            "channels": [{"name": c.name, "unit": c.unit, "label": c.label} for c in BOARD_CHANNELS]}
    assert viewer.post("/profiles", json=body).status_code == 403
    created = operator.post("/profiles", json=body)
    assert created.status_code == 201, created.text
    assert (created.json()["source"], created.json()["devices"], created.json()["created_by"]) == (
        "registered", 1, "api_key:operator-acme")
    assert operator.post("/profiles", json=body).status_code == 409
    assert operator.post("/profiles", json={**body, "kind": "pump"}).status_code == 409
    malformed = operator.post("/profiles", json={**body, "kind": "chiller",
                                                  "channels": [{"name": "t", "unit": "deg C"}]})
    assert malformed.status_code == 422  # the schema states the unit's pattern: refused before the route runs
    assert [(e["loc"], e["input"]) for e in malformed.json()["detail"]] == [(["body", "channels", 0, "unit"], "deg C")]

    asset = viewer.get("/assets/pi-1").json()
    assert asset["profile"] == "registered"
    assert {c["name"]: c["label"] for c in asset["channels"]}["supply"] == "Supply voltage"
    entries = clients(Role.ADMIN).get("/audit", params={"object": "device_profile"}).json()
    assert [(e["actor"], e["action"], e["object_id"]) for e in entries] == [
        ("api_key:operator-acme", "create", "custom")]
    assert entries[0]["after"]["channels"][1] == {"name": "supply", "unit": "V", "label": "Supply voltage"}
    # Another tenant neither sees the profile nor is bound by it.
    others = {(p["kind"], p["source"]) for p in globex(Role.VIEWER).get("/profiles").json()}
    assert others == {("pump", "builtin"), ("turbofan", "builtin")}


def test_the_cli_registers_a_profile_from_a_json_file_audited_and_lists_it(sql_url: str, tmp_path: Path) -> None:
    document = {"kind": "custom", "description": BOARD.description,
                "channels": [{"name": c.name, "unit": c.unit, "label": c.label} for c in BOARD_CHANNELS]}
    good, bad = tmp_path / "board.json", tmp_path / "bad.json"
    good.write_text(json.dumps(document))
    bad.write_text(json.dumps({**document, "colour": "red"}))
    created = cloud_cli("profiles", "create", "--tenant", TENANT, "--file", str(good), cwd=tmp_path, db=sql_url)
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == ("registered profile 'custom' in tenant acme: 4 channel(s), "
                                      "0 device(s) of this kind")
    listed = cloud_cli("profiles", "list", "--tenant", TENANT, cwd=tmp_path, db=sql_url)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split()[:4] for line in listed.stdout.splitlines()[1:]]
    assert rows == [["pump", "builtin", "(every", "tenant)"], ["turbofan", "builtin", "(every", "tenant)"],
                    ["custom", "registered", TENANT, "0"]]
    assert "supply [V], coolant [K], co2 [ppm]" in listed.stdout
    again = cloud_cli("profiles", "create", "--tenant", TENANT, "--file", str(good), cwd=tmp_path, db=sql_url)
    assert again.returncode == 2 and "already has a profile 'custom'" in again.stderr
    refused = cloud_cli("profiles", "create", "--tenant", TENANT, "--file", str(bad), cwd=tmp_path, db=sql_url)
    assert refused.returncode == 2 and "unknown field(s) colour" in refused.stderr
    entries = [(row.actor.startswith("cli:"), row.action, row.object_type, row.tenant) for row in audit(sql_url)]
    assert entries == [(True, "create", "device_profile", TENANT)]


def _telemetry(client: httpx.Client, device: str) -> dict[str, Any]:
    """One bucket of the device's readings around T0."""
    params: dict[str, str | int] = {"start": format_ts(T0 - 3600), "end": format_ts(T0 + 3600), "step": 7200}
    response = client.get(f"/assets/{device}/telemetry", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def cloud_cli(*args: str, cwd: Path, db: str) -> subprocess.CompletedProcess[str]:
    """`python -m cloud ARGS --db DB` with no PAAS_* variable from the test's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAAS_")}
    command = [sys.executable, "-m", "cloud", *args, "--db", db]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)


def audit(sql_url: str) -> list[AuditRow]:
    database = Database(sql_url)
    try:
        with database.session() as session:
            return list(session.scalars(sa.select(AuditRow).order_by(AuditRow.id)))
    finally:
        database.close()
