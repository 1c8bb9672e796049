"""The HTTP API over a running service (uvicorn on a free port), with a manual clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from authtest_support import RoleClients, service_database
from cloudtest_support import T0, TENANT, Publisher, anomaly, service_settings, state, telemetry, wait_until

from cloud.auth.roles import Role
from cloud.broker import MosquittoBroker
from cloud.server import CloudService
from contract.clock import ManualClock
from contract.wire import DeviceStatus

NOW = T0 + 600  # the readings below span T0 .. T0 + 300


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def loaded(mosquitto: MosquittoBroker, tmp_path: Path, clock: ManualClock) -> Iterator[CloudService]:
    """A service holding three pumps: one fine, one with a persistent anomaly, one gone offline."""
    service = CloudService(service_settings(mosquitto.url, tmp_path / "cloud"), clock=clock)
    service.start()
    publisher = Publisher(mosquitto.url)
    try:
        for device in ("ok-1", "bad-1", "off-1"):
            publisher.message(state(device))
            publisher.message(telemetry(device, 0, 300, value=1.0))
        for i in range(3):
            publisher.message(anomaly("bad-1", NOW - 30 + i))
        publisher.message(anomaly("ok-1", NOW - 30, score=0.1, is_anomaly=False))
        publisher.message(state("off-1", ts=T0 + 1, status=DeviceStatus.OFFLINE))
        wait_until(lambda: service.fleet_counts().events == 4 and service.ingest_stats().accepted == 11)
        yield service
    finally:
        publisher.close()
        service.stop()


@pytest.fixture
def clients(loaded: CloudService) -> Iterator[RoleClients]:
    """The conftest's `api` (a viewer) and other roles, over the loaded service."""
    with RoleClients(service_database(loaded), loaded.api_url, TENANT) as role_clients:
        yield role_clients


def test_assets_list_health_at_a_glance(api: httpx.Client) -> None:
    assets = {a["device_id"]: a for a in api.get("/assets").json()}
    assert {d: a["status"] for d, a in assets.items()} == {"ok-1": "ok", "bad-1": "anomalous", "off-1": "offline"}
    assert assets["bad-1"]["open_work_orders"] == 1
    assert assets["bad-1"]["last_anomaly_score"] == 0.9
    assert assets["ok-1"]["last_anomaly_score"] == 0.1
    assert assets["off-1"]["online"] is False
    assert assets["ok-1"]["last_seen"] == "2027-01-15T08:10:00Z"  # the service clock at ingest


def test_asset_detail_has_channels_model_and_readings(api: httpx.Client) -> None:
    detail = api.get("/assets/ok-1").json()
    assert detail["readings_stored"] == 300
    assert detail["asset_kind"] == "pump"
    assert (detail["model_id"], detail["model_version"]) == ("pump-ae", "1.2.0")
    assert detail["channels"][0] == {"name": "accel1_rms", "unit": "g", "label": "Vibration RMS, pump side"}
    assert detail["last_reading_at"] == "2027-01-15T08:04:59Z"


def test_telemetry_defaults_to_the_last_hour_in_at_most_500_points(api: httpx.Client) -> None:
    series = api.get("/assets/ok-1/telemetry").json()
    assert series["step_s"] == 8.0  # ceil(3600 / 500)
    assert series["end"] == "2027-01-15T08:10:00Z"
    assert sum(series["counts"]) == 300
    assert len(series["timestamps"]) == len(series["channels"][0]["mean"]) <= 500
    assert series["channels"][2]["name"] == "current"
    assert set(series["channels"][2]["mean"]) == {3.0}


def test_telemetry_with_an_explicit_range_and_step(api: httpx.Client) -> None:
    params = {"start": "2027-01-15T08:00:00Z", "end": "2027-01-15T08:01:00Z", "step": 30}
    series = api.get("/assets/ok-1/telemetry", params=params).json()
    assert series["timestamps"] == ["2027-01-15T08:00:00Z", "2027-01-15T08:00:30Z"]
    assert series["counts"] == [30, 30]


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2027-01-15T09:00:00Z", "end": "2027-01-15T08:00:00Z"},
        {"start": "2027-01-15T08:00:00Z", "end": "2027-01-15T08:00:00Z"},
        {"step": "0"},
        {"step": "-5"},
        {"step": "nan"},
        {"start": "2020-01-01T00:00:00Z", "step": "1"},
        {"start": "yesterday"},
    ],
)
def test_bad_telemetry_ranges_are_422(api: httpx.Client, params: dict[str, str]) -> None:
    response = api.get("/assets/ok-1/telemetry", params=params)
    assert response.status_code == 422, response.text
    assert "detail" in response.json()


@pytest.mark.parametrize(
    "path", ["/assets/nope", "/assets/nope/telemetry", "/events/999", "/work-orders/999"]
)
def test_unknown_ids_are_404_with_a_json_detail(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert "does not exist" in response.json()["detail"]


def test_events_can_be_filtered(api: httpx.Client) -> None:
    assert len(api.get("/events").json()) == 4
    assert len(api.get("/events", params={"asset": "bad-1"}).json()) == 3
    assert len(api.get("/events", params={"anomalies_only": "true"}).json()) == 3
    assert len(api.get("/events", params={"kind": "rul"}).json()) == 0
    assert len(api.get("/events", params={"since": "2027-01-15T08:09:31Z"}).json()) == 2
    newest = api.get("/events", params={"limit": 1}).json()
    assert len(newest) == 1 and newest[0]["ts"] == "2027-01-15T08:09:32Z"
    assert newest[0]["window"]["samples"] == 10
    assert api.get("/events", params={"kind": "bogus"}).status_code == 422


def test_a_planner_rejects_a_work_order_once(api: httpx.Client, clients: RoleClients) -> None:
    planner = clients(Role.PLANNER)
    [order] = api.get("/work-orders", params={"status": "proposed"}).json()
    assert order["evidence"]["event_count"] == 3
    assert api.post(f"/work-orders/{order['id']}/reject", json={}).status_code == 403  # a viewer decides nothing
    # Who decides is the caller's credential; a name in the body is ignored.
    assert planner.post(f"/work-orders/{order['id']}/reject", json={}).status_code == 422  # a reason is required
    rejected = planner.post(f"/work-orders/{order['id']}/reject", json={"decided_by": "ann", "reason": "known issue"})
    assert rejected.status_code == 200
    body = rejected.json()
    assert (body["status"], body["decided_by"], body["decision_note"]) == (
        "rejected", "api_key:planner-acme", "known issue"
    )
    assert body["decided_at"] == "2027-01-15T08:10:00Z"
    again = planner.post(f"/work-orders/{order['id']}/approve", json={})
    assert again.status_code == 409 and "rejected" in again.json()["detail"]
    assert planner.post("/work-orders/999/approve", json={}).status_code == 404
    assert api.get("/work-orders", params={"status": "proposed"}).json() == []


def test_healthz_docs_and_openapi(loaded: CloudService) -> None:
    health = httpx.get(f"{loaded.api_url}/healthz")
    assert health.json() == {"status": "ok", "database": True, "timeseries": True, "broker_connected": True,
                             "ingest_problem": None}
    docs = httpx.get(f"{loaded.api_url}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    paths = httpx.get(f"{loaded.api_url}/openapi.json").json()["paths"]
    for path in ("/api/v1/assets", "/api/v1/assets/{device_id}/telemetry", "/api/v1/work-orders/{order_id}/approve"):
        assert path in paths


def test_stats_counts_the_fleet(api: httpx.Client, clients: RoleClients) -> None:
    stats = api.get("/stats").json()
    assert (stats["assets"], stats["online"], stats["readings_stored"]) == (3, 2, 900)
    assert (stats["events"], stats["anomalies"], stats["work_orders"]) == (4, 3, {"proposed": 1})
    assert stats["ingest"] is None  # the ingest's tallies span tenants: a platform administrator's
    platform = clients.platform_admin().get("/stats").json()
    assert (platform["assets"], platform["events"]) == (3, 4)
    assert (platform["ingest"]["accepted"], platform["ingest"]["rejected_total"]) == (11, 0)
