"""Staged rollouts: the advance logic on a manual clock, and the real HTTP API."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from cloudtest_support import TENANT, Stores
from otatest_support import PUBLIC_URL, Commands, api_with_commands, register, report
from registrytest_support import AUTH_SECRET, artifact

from cloud.auth.roles import Role
from cloud.auth.tokens import TokenIssuer
from cloud.errors import InvalidDesiredStateError
from cloud.registry.artifact_links import ArtifactLinks
from cloud.registry.artifacts import describe_artifact
from cloud.registry.desired_state import CommandSender
from cloud.registry.rollouts import RolloutPlan, advance, create_rollout, get_rollout, stage_sizes
from cloud.registry.signing import Signer
from cloud.registry.store import register_artifact
from cloud.store.scope import Scope
from cloud.store.tables import DesiredStateRow, RolloutDeviceRow
from contract.manifest import MANIFEST_PARAM, SIGNATURE_PARAM, parse_manifest

TARGET = ("pump-det", "1")
LINK_TTL_S = 7 * 86400.0
SIGNER = Signer.generate()


@pytest.fixture
def fleet(stores: Stores) -> Iterator[Commands]:
    """Eight pumps on an old model, the target model registered; the commands the rollouts send."""
    now = stores.clock.time()
    with stores.database.session() as session:
        register_artifact(session, TENANT, describe_artifact(artifact(*TARGET)), SIGNER, now, "test")
        session.commit()
    for i in range(8):
        report(stores, f"pump-{i:02d}", now - 60, model=("old", "0"))
    yield Commands()


def plan(stages: list[int | float], budget: int = 0, group: str = "pump-", deadline_s: float = 600.0) -> RolloutPlan:
    return RolloutPlan(TENANT, *TARGET, devices=None, group=group, stages=stages, failure_budget=budget,
                       device_deadline_s=deadline_s, requested_by="operator")


def issuer(stores: Stores) -> TokenIssuer:
    return TokenIssuer(AUTH_SECRET, stores.clock, 900.0, LINK_TTL_S)


def sender(stores: Stores, commands: Commands) -> CommandSender:
    """What the service's rollout ticker sends with: signed links on the stores' clock, the key, the recording
    publisher."""
    return CommandSender(ArtifactLinks("http://cloud", issuer(stores)), SIGNER, commands.publish)


def statuses(stores: Stores, rollout_id: int) -> dict[str, str]:
    with stores.database.session() as session:
        rows = session.query(RolloutDeviceRow).filter_by(rollout_id=rollout_id).all()
        return {r.device_id: r.status for r in rows}


def step(stores: Stores, commands: Commands, rollout_id: int, seconds: float = 1.0) -> tuple[str, int, str | None]:
    """Advance the clock and the rollout; (status, current stage, halted reason)."""
    stores.clock.advance(seconds)
    with stores.database.session() as session:
        rollout = get_rollout(session, Scope(TENANT), rollout_id)
        advance(session, rollout, stores.clock.time(), sender(stores, commands))
        return rollout.status, rollout.current_stage, rollout.halted_reason


def start(stores: Stores, commands: Commands, rollout_plan: RolloutPlan) -> int:
    with stores.database.session() as session:
        return create_rollout(session, rollout_plan, stores.clock.time(), sender(stores, commands)).id


def applied(stores: Stores, *devices: str) -> None:
    for device in devices:
        report(stores, device, stores.clock.time() + 0.5, model=TARGET, status="applied", target="pump-det@1")


def test_stages_advance_only_when_their_devices_applied(stores: Stores, fleet: Commands) -> None:
    rollout = start(stores, fleet, plan([1, 0.5, 1.0]))
    assert [c.device_id for c in fleet.sent] == ["pump-00"]
    link = fleet.sent[0].params["artifact_url"]
    assert link.startswith("http://cloud/api/v1/models/pump-det/versions/1/artifact?token=")
    [token] = parse_qs(urlsplit(link).query)["token"]
    claims = issuer(stores).verify_artifact(token)
    assert (claims.tenant, claims.device_id, claims.model_id, claims.version) == (TENANT, "pump-00", *TARGET)
    assert step(stores, fleet, rollout) == ("running", 0, None)  # no report yet
    applied(stores, "pump-00")
    assert step(stores, fleet, rollout) == ("running", 1, None)
    assert [c.device_id for c in fleet.sent] == ["pump-00", "pump-01", "pump-02", "pump-03"]
    applied(stores, "pump-01", "pump-02")
    assert step(stores, fleet, rollout)[1] == 1  # pump-03 still pending
    applied(stores, "pump-03")
    assert step(stores, fleet, rollout)[1] == 2 and len(fleet.sent) == 8
    applied(stores, *(f"pump-{i:02d}" for i in range(4, 8)))
    assert step(stores, fleet, rollout) == ("completed", 2, None)
    assert set(statuses(stores, rollout).values()) == {"applied"}


def test_failures_over_the_budget_halt_the_rollout(stores: Stores, fleet: Commands) -> None:
    rollout = start(stores, fleet, plan([3, 1.0], budget=1))
    report(stores, "pump-00", stores.clock.time() + 1, model=("old", "0"), status="failed:bad_signature",
           target="pump-det@1")
    applied(stores, "pump-01")
    assert step(stores, fleet, rollout)[0] == "running"  # one failure is within the budget
    report(stores, "pump-02", stores.clock.time() + 1, model=("old", "0"), status="rolled_back", target="pump-det@1")
    status, stage, reason = step(stores, fleet, rollout)
    assert (status, stage) == ("halted", 0) and reason is not None
    assert "pump-00 (failed: failed:bad_signature)" in reason and "pump-02" in reason
    assert len(fleet.sent) == 3  # the next stage was never sent
    assert step(stores, fleet, rollout)[0] == "halted"


def test_a_stuck_device_does_not_block_the_fleet_but_counts_against_the_budget(
    stores: Stores, fleet: Commands
) -> None:
    rollout = start(stores, fleet, plan([2, 4, 1.0], budget=1, deadline_s=600))
    applied(stores, "pump-00")  # pump-01 never answers
    assert step(stores, fleet, rollout, 300)[1] == 0
    assert step(stores, fleet, rollout, 301)[1] == 1  # past the deadline: stuck, the stage moves on
    assert statuses(stores, rollout)["pump-01"] == "stuck"
    applied(stores, "pump-02")
    report(stores, "pump-03", stores.clock.time(), model=("old", "0"), status="downloading", target="pump-det@1")
    status, _stage, reason = step(stores, fleet, rollout, 601)
    assert status == "halted" and reason is not None and "2 devices failed or stuck" in reason


def test_a_stale_failure_from_before_the_command_is_not_counted(stores: Stores, fleet: Commands) -> None:
    report(stores, "pump-00", stores.clock.time() - 10, model=("old", "0"), status="failed:download",
           target="pump-det@1")
    rollout = start(stores, fleet, plan([1, 1.0]))
    assert step(stores, fleet, rollout)[0] == "running"
    assert statuses(stores, rollout)["pump-00"] == "pending"


def test_unacknowledged_commands_are_sent_again_with_the_same_manifest(stores: Stores, fleet: Commands) -> None:
    fleet.accept = False
    rollout = start(stores, fleet, plan([1, 1.0], group="pump-00"))
    step(stores, fleet, rollout)  # still not taken: tried again
    fleet.accept = True
    step(stores, fleet, rollout)
    first, second, third = fleet.to("pump-00")
    # The same wish, re-delivered: the same signed manifest (text and counter), which the device takes as such.
    assert first.params[MANIFEST_PARAM] == second.params[MANIFEST_PARAM] == third.params[MANIFEST_PARAM]
    assert first.params[SIGNATURE_PARAM] == third.params[SIGNATURE_PARAM]
    assert parse_manifest(third.params[MANIFEST_PARAM]).counter == 1
    with stores.database.session() as session:
        assert session.query(DesiredStateRow).filter_by(device_id="pump-00").count() == 1
    step(stores, fleet, rollout)
    assert len(fleet.to("pump-00")) == 3  # taken: not sent again


def test_stage_sizes() -> None:
    assert stage_sizes([1, 0.25, 1.0], 10) == [1, 3, 10]
    assert stage_sizes([0.01, 1.0], 10) == [1, 10]
    for bad in ([0.5], [5, 2, 1.0], [0, 1.0], [1.5, 1.0]):
        with pytest.raises(InvalidDesiredStateError):
            stage_sizes(bad, 10)


def test_rollouts_through_the_http_api(stores: Stores, sql_url: str) -> None:
    with api_with_commands(stores, sql_url) as (served, commands):
        api = served.as_role(Role.OPERATOR)
        register(api, *TARGET)
        for device in ("pump-a1", "pump-a2", "pump-b1"):
            report(stores, device, stores.clock.time() - 60, model=("old", "0"))
        wanted = {"model_id": "pump-det", "model_version": "1", "group": "pump-a", "stages": [1, 1.0],
                  "failure_budget": 0, "requested_by": "someone-else"}
        assert served.as_role(Role.PLANNER).post("/rollouts", json=wanted).status_code == 403  # operators roll out
        created = api.post("/rollouts", json=wanted)
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["stages"] == [1, 2] and [d["status"] for d in body["devices"]] == ["pending", "waiting"]
        assert body["requested_by"] == "api_key:operator-acme"
        assert [c.device_id for c in commands.sent] == ["pump-a1"]
        link = commands.sent[0].params["artifact_url"]
        assert link.startswith(f"{PUBLIC_URL}/api/v1/models/pump-det/versions/1/artifact?token=")
        report(stores, "pump-a1", stores.clock.time() + 1, model=TARGET, status="applied", target="pump-det@1")
        advanced = api.post(f"/rollouts/{body['id']}/advance").json()
        assert advanced["current_stage"] == 1 and advanced["devices"][1]["status"] == "pending"
        assert api.get(f"/rollouts/{body['id']}").json()["devices"][0]["status"] == "applied"
        assert [r["id"] for r in api.get("/rollouts").json()] == [body["id"]]
        refused = [
            ({"group": "nothing-"}, 422),
            ({"devices": ["pump-a1", "ghost"]}, 422),
            ({"devices": ["pump-a1"], "group": "pump-"}, 422),
            ({"group": "pump-", "stages": [0.5]}, 422),
            ({"group": "pump-", "model_version": "9"}, 404),
        ]
        for change, code in refused:
            response = api.post("/rollouts", json={"model_id": "pump-det", "model_version": "1", **change})
            assert response.status_code == code, (change, response.text)
        assert api.get("/rollouts/999").status_code == 404
