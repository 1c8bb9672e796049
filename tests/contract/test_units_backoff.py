"""Unit conversion and the retry back-off policy."""

from __future__ import annotations

import random

import pytest

from contract.backoff import Backoff
from contract.channels import PUMP_CHANNELS, channels_for
from contract.errors import ProtocolError, UnitError
from contract.units import conversion


def test_convertible_units() -> None:
    assert conversion("degF", "degC").apply(212.0) == pytest.approx(100.0)
    assert conversion("psi", "bar").apply(14.5038) == pytest.approx(1.0, rel=1e-4)
    assert conversion("bar", "bar").apply(2.5) == 2.5


def test_unconvertible_unit_is_refused() -> None:
    with pytest.raises(UnitError, match="cannot be converted"):
        conversion("A", "bar")


def test_catalogue() -> None:
    assert channels_for("pump") == PUMP_CHANNELS
    assert len(PUMP_CHANNELS) == 8
    with pytest.raises(ProtocolError, match="unknown asset kind"):
        channels_for("toaster")


def test_backoff_is_jittered_and_capped() -> None:
    backoff = Backoff(base_s=1.0, cap_s=30.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(20)]
    assert all(0 <= d <= 30.0 for d in delays)
    assert len(set(delays)) == 20  # full jitter: no two devices (or retries) in lock-step
    assert max(delays[10:]) > 2.0  # the ceiling grows
    backoff.reset()
    assert backoff.next_delay() <= 1.0
