"""Numba kernels against their plain-Python twins, on real bars and on random bars, plus fill invariants."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.labels import fixed_horizon_labels, meta_labels, triple_barrier_labels
from ml.labels._labels_nb import fixed_horizon_nb, triple_barrier_nb
from ml.labels._labels_py import fixed_horizon_py, triple_barrier_py


@pytest.fixture(scope="module")
def real(wdo):
    """8,000 WDO bars spanning the WDOZ21 -> WDOF22 roll."""
    return wdo.iloc[7000:15000]


def _side(bars):
    return np.sign(bars["close"] - bars["close"].rolling(15).mean())


FIXED = [dict(horizon=1), dict(horizon=15, threshold=2e-4), dict(horizon=40, cross_session=True)]
TRIPLE = [
    dict(max_holding=30),
    dict(max_holding=60, pt=2.0, sl=1.0, min_ret=1e-4, vol_span=50),
    dict(max_holding=10, pt=None, sl=1.0, cross_session=True),
    dict(max_holding=20, pt=0.5, sl=0.5, with_side=True),
]


def _run(fn, bars, params):
    params = dict(params)
    if params.pop("with_side", False):
        params["side"] = _side(bars)
    return fn(bars, **params)


@pytest.mark.parametrize("params", FIXED)
def test_fixed_horizon_twin_on_real_bars(real, params, monkeypatch):
    fast = _run(fixed_horizon_labels, real, params)
    monkeypatch.setattr("ml.labels._checks.PURE_PYTHON", True)
    slow = _run(fixed_horizon_labels, real, params)
    pd.testing.assert_frame_equal(fast, slow, check_exact=False, rtol=1e-14)
    assert fast["label"].notna().sum() > 7000


@pytest.mark.parametrize("params", TRIPLE)
def test_triple_barrier_twin_on_real_bars(real, params, monkeypatch):
    fast = _run(triple_barrier_labels, real, params)
    monkeypatch.setattr("ml.labels._checks.PURE_PYTHON", True)
    slow = _run(triple_barrier_labels, real, params)
    pd.testing.assert_frame_equal(fast, slow, check_exact=False, rtol=1e-14)
    assert fast["label"].notna().sum() > 6000
    assert fast["barrier"].nunique() >= 2


def test_meta_labels_twin_on_real_bars(real, monkeypatch):
    params = dict(max_holding=30, side=_side(real))
    fast = meta_labels(real, **params)
    monkeypatch.setattr("ml.labels._checks.PURE_PYTHON", True)
    slow = meta_labels(real, **params)
    pd.testing.assert_frame_equal(fast, slow, check_exact=False, rtol=1e-14)


# --------------------------------------------------------------------------- random bars
@st.composite
def random_case(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(2, 80))
    rng = np.random.default_rng(seed)
    gap = rng.normal(0, 0.004, n) * (rng.random(n) < 0.2) * 5
    move = rng.normal(0, 0.003, n)
    close = np.empty(n)
    open_ = np.empty(n)
    prev = 100.0
    for t in range(n):
        open_[t] = prev * math.exp(gap[t])
        close[t] = open_[t] * math.exp(move[t])
        prev = close[t]
    if draw(st.booleans()):  # tick prices: ties between open, high, low, close and barriers
        open_, close = np.round(open_ * 2) / 2, np.round(close * 2) / 2
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.003, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.003, n)))
    width = np.abs(rng.normal(0.006, 0.004, n))
    width[rng.random(n) < 0.05] = np.nan
    starts = np.flatnonzero(np.r_[True, rng.random(n - 1) < 0.1])
    seg_end = np.repeat(np.r_[starts[1:] - 1, n - 1], np.diff(np.r_[starts, n])).astype(np.int64)
    has_side = draw(st.booleans())
    side = rng.choice([-1.0, 0.0, 1.0, np.nan], n) if has_side else np.ones(n)
    return dict(open_=open_, high=high, low=low, close=close, width=width, side=side,
                seg_end=seg_end, max_holding=draw(st.integers(1, 12)),
                pt=draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])),
                sl=draw(st.sampled_from([0.0, 0.5, 1.0, 2.0])),
                min_ret=draw(st.sampled_from([0.0, 0.002])), has_side=has_side,
                open_end=draw(st.booleans()))


@settings(max_examples=60, deadline=None)
@given(random_case())
def test_triple_barrier_kernel_twin_and_fill_invariants(case):
    out_nb = triple_barrier_nb(**case)
    out_py = triple_barrier_py(**case)
    for a, b in zip(out_nb, out_py):
        np.testing.assert_allclose(a, b, rtol=1e-14, equal_nan=True)
    label, ret, entry, exit_px, exit_idx, barrier = out_nb
    o, h, lo, c = case["open_"], case["high"], case["low"], case["close"]
    for t in np.flatnonzero(exit_idx >= 0):
        j = exit_idx[t]
        s = case["side"][t]
        assert t + 1 <= j <= min(t + case["max_holding"], case["seg_end"][t])  # PITFALLS 3, 13
        assert entry[t] == o[t + 1]  # PITFALLS 1
        assert lo[j] <= exit_px[t] <= h[j]  # PITFALLS 7
        assert math.isclose(ret[t], s * math.log(exit_px[t] / entry[t]), rel_tol=1e-12, abs_tol=1e-15)
        if barrier[t] == 1:
            assert label[t] == 1 and ret[t] > 0
        elif barrier[t] == 2:
            assert label[t] == -1 and ret[t] < 0
        elif barrier[t] == 3:
            assert exit_px[t] == c[j] and j == min(t + case["max_holding"], case["seg_end"][t])
            assert label[t] == (0.0 if abs(ret[t]) <= case["min_ret"] else np.sign(ret[t]))
        else:
            assert barrier[t] == 4 and label[t] == 0 and not case["has_side"]
        if j > t + 1 and barrier[t] in (1, 2) and exit_px[t] == o[j]:
            # a gap fill: the barrier lay between the previous bar's range and this open
            assert (s * (o[j] - entry[t]) > 0) == (barrier[t] == 1)
    undefined = exit_idx < 0
    assert np.isnan(label[undefined]).all() and (barrier[undefined] == 0).all()


@settings(max_examples=40, deadline=None)
@given(random_case(), st.integers(1, 15), st.sampled_from([0.0, 0.001]))
def test_fixed_horizon_kernel_twin(case, horizon, threshold):
    args = (case["open_"], case["close"], case["seg_end"], horizon, threshold)
    for a, b in zip(fixed_horizon_nb(*args), fixed_horizon_py(*args)):
        np.testing.assert_allclose(a, b, rtol=1e-14, equal_nan=True)
