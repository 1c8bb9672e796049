"""The RUL-below-horizon rule: pure decisions, then through the ingest's handler and the API (SQLite, PostgreSQL)."""

from __future__ import annotations

from cloudtest_support import T0, TENANT, Stores, anomaly, raw, state
from registrytest_support import api_over, rul_event

from cloud.auth.roles import Role
from cloud.maintenance.rul_rule import Horizon, RulEstimateSeen, RulInputs, decide_rul
from cloud.maintenance.rules import Action
from cloud.maintenance.work_orders import list_work_orders
from cloud.store.contracts import ContractTerms, put_contract
from cloud.store.scope import Scope
from cloud.store.tables import WorkOrderRow


def estimate(lower: float) -> RulEstimateSeen:
    return RulEstimateSeen(1, T0, lower + 15, lower, lower + 30, "turbofan-rul", "2.0.0")


def test_the_pessimistic_bound_decides_and_the_reason_names_the_horizon() -> None:
    default = Horizon(30.0, "default")
    below = decide_rul(RulInputs(estimate(20.0), default, None))
    assert below.action is Action.PROPOSE
    assert below.reason == (
        "pessimistic RUL 20 cycles (estimate 35 cycles, band 20-50) is below the horizon "
        "30 cycles (platform default: the asset has no contract)"
    )
    # The point estimate (45) is above the horizon, the pessimistic bound is not: that is enough.
    assert decide_rul(RulInputs(estimate(29.0), default, None)).action is Action.PROPOSE
    assert decide_rul(RulInputs(estimate(30.0), default, None)).action is Action.NONE
    assert decide_rul(RulInputs(estimate(20.0), default, open_order_id=4)).action is Action.ATTACH
    contract = Horizon(100.0, "contract", "Acme Water")
    assert "100 cycles (contract with Acme Water)" in decide_rul(RulInputs(estimate(40.0), contract, None)).reason


def orders(stores: Stores) -> list[WorkOrderRow]:
    with stores.database.session() as session:
        return list(list_work_orders(session, Scope(TENANT)))


def test_a_rul_below_the_default_horizon_opens_one_work_order_with_its_evidence(stores: Stores) -> None:
    stores.handler.apply([raw(state("engine-1", kind="turbofan")), raw(rul_event("engine-1", T0 + 10, 45, 25, 70))])
    [order] = orders(stores)
    assert (order.device_id, order.status, order.rule) == ("engine-1", "proposed", "rul_below_horizon")
    evidence = order.evidence
    assert evidence["rul"] == {"cycles": 45, "lower": 25, "upper": 70}
    assert evidence["model"] == {"id": "turbofan-rul", "version": "2.0.0"}
    rule = {"name": "rul_below_horizon", "horizon_cycles": 30.0, "horizon_source": "default", "customer": None}
    assert evidence["rule"] == rule
    assert evidence["explanation"] == order.reason and "below the horizon 30 cycles" in order.reason

    stores.handler.apply([raw(rul_event("engine-1", T0 + 20, 30, 12, 50, seq=2))])
    stores.handler.apply([raw(rul_event("engine-1", T0 + 30, 60, 45, 80, seq=3))])  # above: not attached
    [order] = orders(stores)
    assert order.evidence["event_count"] == 2 and order.evidence["attached_after_opening"] == 1
    assert order.evidence["rul"]["lower"] == 12 and order.evidence["lowest_lower"] == 12
    assert stores.counters.snapshot().work_orders_opened == 1


def test_a_rul_above_the_horizon_opens_none(stores: Stores) -> None:
    stores.handler.apply([raw(rul_event("engine-2", T0, 80, 30, 120))])  # lower == horizon: not below
    stores.handler.apply([raw(rul_event("engine-2", T0 + 1, 200, 150, 260, seq=2))])
    assert orders(stores) == []


def test_a_contract_overrides_the_default_horizon(stores: Stores) -> None:
    with stores.database.session() as session:
        put_contract(session, "engine-3", ContractTerms(TENANT, 10.0, "Short Haul Ltd", None), now=T0)
        put_contract(session, "engine-4", ContractTerms(TENANT, 100.0, None, None), now=T0)
    stores.handler.apply([raw(rul_event("engine-3", T0, 45, 25, 70)), raw(rul_event("engine-4", T0, 90, 60, 120))])
    [order] = orders(stores)
    assert order.device_id == "engine-4"
    assert order.evidence["rule"]["horizon_source"] == "contract" and order.evidence["rule"]["horizon_cycles"] == 100


def test_a_rul_while_an_anomaly_order_is_open_is_added_to_it(stores: Stores) -> None:
    stores.handler.apply([raw(anomaly("pump-1", T0 + i)) for i in range(3)])
    stores.handler.apply([raw(rul_event("pump-1", T0 + 5, 20, 10, 40))])
    [order] = orders(stores)
    assert order.rule == "persistent_anomaly"
    assert order.evidence["latest_rul"]["lower"] == 10 and order.evidence["event_count"] == 4


def test_contracts_and_rul_work_orders_through_the_api(stores: Stores, sql_url: str) -> None:
    with api_over(stores, sql_url) as served:
        api, planner = served.as_role(Role.VIEWER), served.as_role(Role.PLANNER)
        stores.handler.apply([raw(state("engine-6", kind="turbofan"))])
        assert api.get("/assets/engine-6/contract").json()["source"] == "default"
        assert api.get("/assets/engine-5/contract").status_code == 404  # neither the asset nor a contract yet
        terms = {"maintenance_horizon_cycles": 50, "customer": "Acme Air"}
        assert api.put("/assets/engine-5/contract", json=terms).status_code == 403  # a viewer changes nothing
        put = planner.put("/assets/engine-5/contract", json=terms)  # a contract may precede the device's messages
        assert put.status_code == 200 and put.json()["source"] == "contract"
        assert api.get("/assets/engine-5/contract").json()["maintenance_horizon_cycles"] == 50
        assert planner.put("/assets/engine-5/contract", json={"maintenance_horizon_cycles": 0}).status_code == 422
        stores.handler.apply([raw(rul_event("engine-5", T0, 60, 40, 90))])
        [order] = api.get("/work-orders").json()
        assert order["rule"] == "rul_below_horizon"
        rule = order["evidence"]["rule"]
        assert (rule["horizon_cycles"], rule["horizon_source"], rule["customer"]) == (50.0, "contract", "Acme Air")
        assert order["evidence"]["rul"] == {"cycles": 60.0, "lower": 40.0, "upper": 90.0}
        assert api.get(f"/work-orders/{order['id']}").json()["evidence"]["lowest_lower"] == 40.0
