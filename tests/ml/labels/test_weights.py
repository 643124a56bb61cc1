"""Concurrency, average uniqueness and return-attribution weights."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.labels import (
    average_uniqueness,
    concurrent_labels,
    return_attribution_weights,
    triple_barrier_labels,
    uniqueness_weights,
)
from ml.labels._labels_nb import average_uniqueness_nb, concurrency_nb, return_attribution_nb
from ml.labels._labels_py import average_uniqueness_py, concurrency_py, return_attribution_py

IDX = pd.date_range("2024-01-02 10:00", periods=5, freq="min", tz="UTC")
# Labels [0, 2], [1, 3], [2, 3], [4, 4], and one undefined: c = [1, 2, 3, 2, 1].
T1 = pd.Series([IDX[2], IDX[3], IDX[3], pd.NaT, IDX[4]], index=IDX)


def test_concurrency_hand_example():
    assert concurrent_labels(T1).tolist() == [1, 2, 3, 2, 1]


def test_average_uniqueness_hand_example():
    u = average_uniqueness(T1)
    expected = [(1 + 1 / 2 + 1 / 3) / 3, (1 / 2 + 1 / 3 + 1 / 2) / 3, (1 / 3 + 1 / 2) / 2,
                math.nan, 1.0]
    np.testing.assert_allclose(u, expected, rtol=1e-15)
    assert u.index.equals(IDX)


def test_uniqueness_weights_are_average_uniqueness_optionally_normalised():
    pd.testing.assert_series_equal(uniqueness_weights(T1), average_uniqueness(T1), check_names=False)
    w = uniqueness_weights(T1, normalize=True)
    assert w.sum() == pytest.approx(4.0) and np.isnan(w.iloc[3])
    np.testing.assert_allclose(w / w.mean(), average_uniqueness(T1) / average_uniqueness(T1).mean())


def test_a_labelling_output_and_a_separate_bar_index_are_accepted():
    events = pd.DataFrame({"t1": T1.iloc[[0, 2]]})  # labels at bars 0 and 2 only
    u = average_uniqueness(events, index=IDX)
    np.testing.assert_allclose(u, [(1 + 1 + 1 / 2) / 3, (1 / 2 + 1) / 2])


def test_return_attribution_hand_example():
    close = pd.Series([100.0, 110.0, 99.0, 99.0, 108.9], index=IDX)
    r = np.log(close / close.shift(1)).to_numpy()
    c = [1, 2, 3, 2, 1]
    raw = [abs(r[1] / c[1] + r[2] / c[2]),           # label [0, 2]: bars 1..2
           abs(r[2] / c[2] + r[3] / c[3]),           # label [1, 3]: bars 2..3
           abs(r[3] / c[3]),                         # label [2, 3]: bar 3
           math.nan,
           0.0]                                      # label [4, 4]: no bar after its start
    raw = np.array(raw)
    expected = raw * 4 / np.nansum(raw)
    np.testing.assert_allclose(return_attribution_weights(T1, close), expected, rtol=1e-14)


def test_weights_on_real_labels(wdo):
    bars = wdo.iloc[:2000]
    labels = triple_barrier_labels(bars, max_holding=20, vol_span=50)
    u = average_uniqueness(labels)
    defined = labels["t1"].notna()
    assert u[defined].between(0, 1, inclusive="right").all() and u[~defined].isna().all()
    c = concurrent_labels(labels)
    start = np.arange(len(bars))[defined]
    end = bars.index.get_indexer(labels["t1"][defined])
    assert c.sum() == (end - start + 1).sum()
    w = return_attribution_weights(labels, bars["close"])
    assert w[defined].sum() == pytest.approx(defined.sum())


@st.composite
def intervals(draw):
    n = draw(st.integers(1, 40))
    m = draw(st.integers(0, 30))
    start = np.array(draw(st.lists(st.integers(-1, n - 1), min_size=m, max_size=m)), dtype=np.int64)
    length = np.array(draw(st.lists(st.integers(0, 8), min_size=m, max_size=m)), dtype=np.int64)
    end = np.where(start < 0, -1, np.minimum(start + length, n - 1)).astype(np.int64)
    ret = np.array(draw(st.lists(st.floats(-0.1, 0.1), min_size=n, max_size=n)))
    return start, end, ret, n


@settings(max_examples=60, deadline=None)
@given(intervals())
def test_kernels_equal_their_python_twins(case):
    start, end, ret, n = case
    np.testing.assert_array_equal(concurrency_nb(start, end, n), concurrency_py(start, end, n))
    u_nb, u_py = average_uniqueness_nb(start, end, n), average_uniqueness_py(start, end, n)
    np.testing.assert_allclose(u_nb, u_py, rtol=1e-12)
    assert np.all((u_nb[start >= 0] > 0) & (u_nb[start >= 0] <= 1.0))
    np.testing.assert_allclose(return_attribution_nb(start, end, ret, n),
                               return_attribution_py(start, end, ret, n), rtol=1e-9, atol=1e-12)
