"""Bucket means: the vectorised result equals a plain per-reading computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cloud.store.downsample import BucketMeans, pack_rows, unpack_rows


def naive_means(
    ts: list[float], rows: list[list[float]], start: float, end: float, step: float
) -> dict[int, list[float]]:
    sums: dict[int, list[float]] = {}
    counts: dict[int, list[int]] = {}
    for t, row in zip(ts, rows, strict=True):
        if not start <= t < end:
            continue
        b = int((t - start) // step)
        sums.setdefault(b, [0.0] * len(row))
        counts.setdefault(b, [0] * len(row))
        for i, v in enumerate(row):
            if not math.isnan(v):
                sums[b][i] += v
                counts[b][i] += 1
    return {b: [s / c if c else math.nan for s, c in zip(sums[b], counts[b], strict=True)] for b in sums}


def test_means_match_a_per_reading_computation_with_gaps_and_missing_values() -> None:
    rng = np.random.default_rng(7)
    ts = np.sort(rng.uniform(0, 1000, 5000))
    ts = ts[(ts < 300) | (ts > 450)]  # a gap: those buckets must be absent
    values = rng.normal(size=(ts.size, 4))
    values[rng.random(values.shape) < 0.1] = np.nan
    values[ts > 900, 2] = np.nan  # a channel silent for whole buckets
    acc = BucketMeans(start=0.0, end=1000.0, step=37.0, n_channels=4)
    acc.add(ts[:1000], values[:1000])  # in two chunks, as the store reads them
    acc.add(ts[1000:], values[1000:])
    result = acc.result()
    expected = naive_means(ts.tolist(), values.tolist(), 0.0, 1000.0, 37.0)
    assert sorted(expected) == [int(s // 37) for s in result.starts]
    for i, start in enumerate(result.starts):
        np.testing.assert_allclose(result.means[i], expected[int(start // 37)], equal_nan=True)
    assert int(result.counts.sum()) == ts.size


def test_readings_outside_the_range_are_ignored() -> None:
    acc = BucketMeans(start=100.0, end=110.0, step=5.0, n_channels=1)
    acc.add(np.array([99.0, 100.0, 104.0, 105.0, 110.0, 200.0]), np.array([[9.0], [1.0], [3.0], [10.0], [9.0], [9.0]]))
    result = acc.result()
    assert result.starts.tolist() == [100.0, 105.0]
    assert result.counts.tolist() == [2, 1]
    assert result.means[:, 0].tolist() == [2.0, 10.0]


@pytest.mark.parametrize(
    ("start", "end", "step"), [(10.0, 10.0, 1.0), (10.0, 5.0, 1.0), (0.0, 10.0, 0.0), (0.0, 1e9, 1.0)]
)
def test_bad_ranges_are_refused(start: float, end: float, step: float) -> None:
    with pytest.raises(ValueError):
        BucketMeans(start, end, step, 1)


def test_rows_written_before_a_channel_was_added_are_padded_with_nan() -> None:
    old = pack_rows(np.array([[1.0, 2.0]]))
    new = pack_rows(np.array([[3.0, np.nan, 5.0]]))
    stacked = unpack_rows(old + new + old, 3)
    np.testing.assert_array_equal(stacked, [[1.0, 2.0, np.nan], [3.0, np.nan, 5.0], [1.0, 2.0, np.nan]])
