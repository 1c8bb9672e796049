"""The sliding window: time order, fullness, carry-forward of missing values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.window import SlidingWindow


def test_holds_the_last_w_readings_oldest_first() -> None:
    window = SlidingWindow(3, 2)
    for i in range(5):
        window.push([float(i), float(10 * i)], ts=100.0 + i)
    assert window.full and window.samples == 3
    np.testing.assert_array_equal(window.array(), np.array([[2, 20], [3, 30], [4, 40]], dtype=np.float32))
    assert window.array().dtype == np.float32
    assert (window.start_ts, window.end_ts) == (102.0, 104.0)


def test_not_full_until_w_readings() -> None:
    window = SlidingWindow(4, 1)
    for i in range(3):
        window.push([float(i)])
        assert not window.full
    assert window.array().shape == (3, 1)
    window.push([3.0])
    assert window.full
    assert window.start_ts is None  # no timestamps given


def test_missing_values_carry_the_last_value_forward() -> None:
    window = SlidingWindow(3, 2)
    window.push([1.0, 5.0])
    window.push([None, 6.0])
    window.push([math.nan, None])
    np.testing.assert_array_equal(window.array(), np.array([[1, 5], [1, 6], [1, 6]], dtype=np.float32))
    np.testing.assert_array_equal(window.carried(), np.array([[0, 0], [1, 0], [1, 1]], dtype=bool))
    assert window.full


def test_a_channel_never_seen_keeps_the_window_not_full() -> None:
    window = SlidingWindow(2, 2)
    for _ in range(3):
        window.push([1.0, None])
    assert window.samples == 2 and not window.full
    window.push([1.0, 2.0])
    window.push([1.0, 2.0])
    assert window.full


def test_dead_channels_are_those_carried_for_the_whole_window() -> None:
    window = SlidingWindow(3, 2)
    window.push([1.0, 1.0])
    assert window.dead_channels() == ()
    for _ in range(3):
        window.push([2.0, None])
    assert window.dead_channels() == (1,)


def test_array_is_a_copy() -> None:
    window = SlidingWindow(2, 1)
    window.push([1.0])
    window.push([2.0])
    snapshot = window.array()
    window.push([3.0])
    np.testing.assert_array_equal(snapshot, np.array([[1], [2]], dtype=np.float32))


def test_rejects_a_reading_of_the_wrong_width_and_bad_sizes() -> None:
    window = SlidingWindow(2, 2)
    with pytest.raises(ValueError, match="3 values for a window of 2 channels"):
        window.push([1.0, 2.0, 3.0])
    with pytest.raises(ValueError):
        SlidingWindow(0, 2)
