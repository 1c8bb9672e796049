"""The API keeps its own contract: schemathesis, with every check, against the running service.

A tenant with data (pumps with telemetry, events, work orders, a dead letter, a registered
model and a rollout) is served by a real `CloudService` on SQLite over a private Mosquitto;
schemathesis reads its `/openapi.json` and sends generated requests to every operation with
the tenant administrator's API key: the schema's examples and boundaries (coverage), random
valid and invalid data (fuzzing) and chains along the links between operations (stateful).
Each response must be documented, fit its schema, carry the declared headers and content
type; valid requests must be accepted, invalid ones refused; no input may cause a 500.

Bounded and reproducible: a fixed seed, a few examples per operation, one worker. It cannot
pass vacuously: every operation of the schema must have been exercised, with many requests,
and the key must still work at the end (a run that revoked its own key would go on hearing
only 401s).
"""

from __future__ import annotations

import gc
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from authtest_support import api_key, bearer, service_database
from billingtest_support import contract, customer
from cloudtest_support import T0, publish_pump_fleet, service_settings
from registrytest_support import artifact
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema
from service_support import private_mosquitto

from cloud.auth.principal import Principal, PrincipalKind
from cloud.auth.roles import Role
from cloud.billing.statements import close_period
from cloud.server import CloudService
from contract.clock import ManualClock

TENANT = "acme"
NOW = T0 + 600
MODEL_ID = "pump-contract"
SEED = 20270115
EXAMPLES = 5
WORKERS = 1
MIN_REQUESTS = 1000
GENERATING_PHASES = ("examples", "coverage", "fuzzing")
DEFAULT_ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
# Operations that refuse (422, with `detail` saying why) some requests the schema admits, for a reason a schema cannot
# state. For these alone a 422 answers a schema-valid request; everywhere else it fails the run.
REFUSES_VALID: dict[str, str] = {
    "POST /api/v1/models": "the bytes must be an ONNX model the registry accepts",
    "POST /api/v1/assets/{device_id}/detector": "enough stored readings; first_readings or start/end; start < end",
    "GET /api/v1/assets/{device_id}/telemetry": "start before end, and at most 10,000 buckets of `step`",
    "GET /api/v1/assets/{device_id}/usage": "end not before start",
    "POST /api/v1/users": "a customer (technician) account names a customer (technician) record of its tenant",
    "POST /api/v1/api-keys": "a customer (technician) key names a customer (technician) record of its tenant",
    "PUT /api/v1/devices/{device_id}/state": "the model fits the device: its kind and channels",
    "POST /api/v1/rollouts": "stages grow and end covering every device; the model fits them",
    "POST /api/v1/profiles": "channel names are unique; labels and description printable",
    "POST /api/v1/work-orders/{order_id}/assign": "a visit window has both ends or neither, and ends after it starts",
    "POST /api/v1/work-orders/{order_id}/merge": "into another open order of the same asset or site",
    "POST /api/v1/work-orders/{order_id}/complete": "a finding, in the body or recorded before",
    "POST /api/v1/work-orders/{order_id}/attachments": "the bytes are an image of the declared type (JPEG, PNG, WebP)",
    "POST /api/v1/technicians": "the time zone is an IANA name; working hours end after they start",
    "PUT /api/v1/technicians/{technician_id}": "the time zone is an IANA name; working hours end after they start",
    "POST /api/v1/technicians/{technician_id}/absences": "an absence ends after it starts",
    "POST /api/v1/contracts": "a contract does not end before it starts",
    "POST /api/v1/contracts/{contract_id}/versions": "a version applies from the contract's start on",
    "POST /api/v1/contracts/{contract_id}/assets": "an asset joins a contract from its start on",
    "POST /api/v1/help-requests": "a planner or admin names the customer, or a thing (`about`) of one; "
                                  "`about.kind` comes with `about.id`",
}


@dataclass(frozen=True)
class Found:
    """One failure of one check, with what schemathesis prints to reproduce it."""

    operation: str
    check: str
    title: str
    message: str
    reproduce: str
    status: int | None
    body: str

    def __str__(self) -> str:
        return (f"{self.operation}: {self.title} ({self.check})\n{self.message}\n"
                f"-> {self.status} {self.body}\nReproduce with:\n    {self.reproduce}")


@dataclass
class Run:
    """What a schemathesis run did: requests sent, operations exercised, unique failures, engine errors."""

    requests: int
    operations: set[str]
    failures: dict[tuple[str, str, str], Found]
    errors: list[str]
    elapsed_s: float


@dataclass(frozen=True)
class Served:
    service: CloudService
    key: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Tenant acme with three pumps, their work orders, a dead letter, a model and a rollout; its admin's key."""
    data = tmp_path_factory.mktemp("contract")
    with private_mosquitto(data) as broker, CloudService(service_settings(broker.url, data / "cloud"),
                                                         clock=ManualClock(NOW)) as service:
        publish_pump_fleet(broker.url, service.ingest_stats, ("p-1", "p-2", "p-3"), NOW, "contract-publisher", TENANT)
        database = service_database(service)
        # A service contract on p-1 with December's statement issued: the billing routes have something to serve.
        contract_id = contract(database, customer(database, tenant=TENANT), ("p-1",), tenant=TENANT)
        with database.session() as session:
            close_period(session, contract_id, "2026-12", NOW, Principal(PrincipalKind.SYSTEM, "test", "test", TENANT))
            session.commit()
        key = api_key(service_database(service), TENANT, Role.ADMIN, "contract-admin")
        admin = bearer(key)
        with httpx.Client(base_url=service.api_url, headers=admin, timeout=20.0) as http:
            registered = http.post("/api/v1/models", content=artifact(MODEL_ID, "1"),
                                   headers={"Content-Type": "application/octet-stream"})
            assert registered.status_code == 201, registered.text
            rollout = http.post("/api/v1/rollouts", json={"model_id": MODEL_ID, "model_version": "1",
                                                          "devices": ["p-2"]})
            assert rollout.status_code == 201, rollout.text
        yield Served(service, key)


def _config(key: str) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({
        "seed": SEED,
        "cache": {"enabled": False},
        "workers": WORKERS,
        "headers": {"Authorization": f"Bearer {key}"},
        "generation": {"max-examples": EXAMPLES, "database": "none"},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
                   "stateful": {"enabled": True, "max-steps": 5}},
        "checks": {"enabled": True},
        "operations": [
            *({"include-name": name,
               "checks": {"positive_data_acceptance": {"expected-statuses": [*DEFAULT_ACCEPTED, "422"]}}}
              for name in REFUSES_VALID),
            # Fed a key id seen in GET /api-keys, it would revoke the run's own key: every later answer a 401.
            {"include-name": "DELETE /api/v1/api-keys/{key_id}", "phases": {
                **{phase: {"extra-data-sources": {"responses": False}} for phase in GENERATING_PHASES},
                "stateful": {"enabled": False}}},
        ],
    })


def run_schemathesis(service: CloudService, key: str) -> Run:
    schema = schemathesis.openapi.from_url(f"{service.api_url}/openapi.json", config=_config(key))
    run = Run(0, set(), {}, [], 0.0)
    started = time.monotonic()
    # The engine keeps a requests session per worker thread and never closes it: its sockets are left to the
    # garbage collector, which warns. Collected here, inside the run, so the warning is about schemathesis alone.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        for event in from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished):
                _collect(run, event)
            elif isinstance(event, events.NonFatalError | events.FatalError):
                run.errors.append(repr(event.__dict__.get("info") or event.__dict__.get("exception") or event))
        gc.collect()
    run.elapsed_s = time.monotonic() - started
    return run


def _collect(run: Run, event: events.ScenarioFinished) -> None:
    recorder = event.recorder
    run.requests += len(recorder.interactions)
    run.operations |= {node.value.operation.label for node in recorder.cases.values()}
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.status != Status.FAILURE or check.failure_info is None:
                continue
            failure: Any = check.failure_info.failure
            operation = recorder.cases[case_id].value.operation.label
            interaction = recorder.interactions.get(case_id)
            response = None if interaction is None else interaction.response
            run.failures.setdefault((operation, check.name, failure.title), Found(
                operation, check.name, failure.title, failure.message, check.failure_info.code_sample,
                None if response is None else response.status_code,
                "" if response is None else response.content[:400].decode("utf-8", "replace")))


def test_generated_requests_find_no_failure_in_any_operation(served: Served) -> None:
    with httpx.Client(base_url=served.service.api_url, headers=bearer(served.key), timeout=20.0) as http:
        paths = http.get("/openapi.json").json()["paths"]
        run = run_schemathesis(served.service, served.key)
        key_works = http.get("/api/v1/auth/me").status_code == 200
    operations = {f"{method.upper()} {path}" for path, methods in paths.items() for method in methods}
    assert set(REFUSES_VALID) <= operations, f"refusals listed for no operation: {set(REFUSES_VALID) - operations}"

    report = "\n\n".join(str(found) for found in sorted(run.failures.values(), key=str))
    assert not run.failures, f"{len(run.failures)} unique failures in {run.requests} requests:\n\n{report}"
    assert not run.errors, f"schemathesis could not test everything: {run.errors}"
    assert operations - run.operations == set(), f"operations never exercised: {operations - run.operations}"
    assert run.requests >= MIN_REQUESTS, f"only {run.requests} requests"
    assert key_works, "the run revoked its own key: later answers were 401s"
    print(f"schemathesis: {run.requests} requests to {len(run.operations)} operations in {run.elapsed_s:.1f} s")


@pytest.fixture
def http(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.service.api_url, headers=bearer(served.key), timeout=20.0) as client:
        yield client


def _paths(http: httpx.Client) -> dict[str, dict[str, Any]]:
    paths: dict[str, dict[str, Any]] = http.get("/openapi.json").json()["paths"]
    return paths


def test_an_id_beyond_what_the_stores_take_is_refused_as_422_not_a_500(http: httpx.Client) -> None:
    assert http.get("/api/v1/rollouts/-9999999999999999999").status_code == 422  # was a 500: SQLite overflow
    integer_ids = [(method.upper(), path, parameter) for path, methods in _paths(http).items()
                   for method, spec in methods.items() for parameter in spec.get("parameters", [])
                   if parameter["in"] == "path" and parameter["schema"].get("type") == "integer"]
    assert len(integer_ids) >= 10  # rollouts, work orders, events, dead letters, users
    for method, path, parameter in integer_ids:
        name, bounds = parameter["name"], parameter["schema"]
        assert bounds.get("minimum", 0) >= 1 and bounds.get("maximum", 2**63) < 2**63, f"{method} {path}: {bounds}"
        for value in ("-9999999999999999999", str(2**63), "0"):
            response = http.request(method, path.replace(f"{{{name}}}", value), json={})
            assert response.status_code == 422, f"{method} {path} with {value}: {response.status_code}"


def test_a_missing_work_order_is_a_404_the_schema_documents(http: httpx.Client) -> None:
    response = http.get("/api/v1/work-orders/987654321")
    assert response.status_code == 404
    assert response.json() == {"detail": "work order 987654321 does not exist"}
    documented = _paths(http)["/api/v1/work-orders/{order_id}"]["get"]["responses"]
    assert {"401", "403", "404", "422", "503"} <= set(documented)
    assert documented["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}


def test_a_time_is_iso_8601_text_not_a_number_of_seconds(http: httpx.Client) -> None:
    assert http.get("/api/v1/events", params={"since": "0.5"}).status_code == 422
    assert http.get("/api/v1/events", params={"since": "2027-01-15T08:00:00Z"}).status_code == 200
    # Any ISO-8601 time is taken, also one whose instant lies outside what a UTC datetime can show.
    usage = http.get("/api/v1/assets/p-1/usage", params={"start": "0001-01-01T00:00:00+14:00"})
    assert usage.status_code == 200, usage.text
    assert usage.json()["start"] == "0001-01-01T00:00:00Z"


def test_a_step_too_small_to_count_is_refused_not_a_500(http: httpx.Client) -> None:
    response = http.get("/api/v1/assets/p-1/telemetry", params={"step": "5e-324"})
    assert response.status_code == 422
    assert "over 10000 buckets" in response.json()["detail"]


def test_a_method_a_path_lacks_is_405_naming_every_method_it_has(http: httpx.Client) -> None:
    response = http.request("PATCH", "/api/v1/users")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


@pytest.mark.parametrize("body", [
    b'{"maintenance_horizon_cycles": NaN}',  # Python's JSON parser reads these; JSON cannot write them back
    b'{"maintenance_horizon_cycles": -Infinity}',
    b'{"maintenance_horizon_cycles": 40, "customer": "a\\ud800b"}',  # an unpaired surrogate
])
def test_a_body_json_cannot_echo_is_refused_as_422_not_a_500(http: httpx.Client, body: bytes) -> None:
    response = http.put("/api/v1/assets/p-3/contract", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] == "body"
