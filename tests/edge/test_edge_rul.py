"""A simulated turbofan reports its remaining useful life, with the band, in its events."""

from __future__ import annotations

from collections.abc import Callable

from edge_testkit import Observer, wait_until

from contract.wire import EventKind
from edge.agent import Agent
from edge.settings import AgentSettings, default_model_for
from models.paths import DEFAULT_TURBOFAN_MODEL

Settings = Callable[..., AgentSettings]


def test_the_turbofan_runs_the_rul_model_by_default() -> None:
    assert default_model_for("turbofan") == DEFAULT_TURBOFAN_MODEL


def test_a_turbofan_reports_rul_estimates_with_their_band(
    fast_settings: Settings, observe: Callable[..., Observer]
) -> None:
    observer = observe()
    agent = Agent(fast_settings("engine-001", sensor="sim:turbofan", model_path=DEFAULT_TURBOFAN_MODEL))
    agent.start()
    try:
        wait_until(lambda: len(observer.events("engine-001")) >= 5, what="RUL events", timeout_s=30)
    finally:
        agent.stop()
    events = observer.events("engine-001")
    assert {e.kind for e in events} == {EventKind.RUL}
    for event in events:
        assert event.rul is not None
        assert 0.0 <= event.rul.lower <= event.rul.cycles <= event.rul.upper <= 125.0
        assert event.score == event.rul.lower  # the pessimistic side is what is judged
        assert event.model.id and event.window_samples == 60
    assert events[0].model.version == agent.stats().model_version
