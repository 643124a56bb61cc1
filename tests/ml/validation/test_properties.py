"""Property tests (hypothesis): every split equals the brute-force purged training set.

For random sizes, label overlaps and embargoes, each split's training set is
exactly the samples that are neither tested, nor overlapping a test label,
nor embargoed after a test block (so no training index lies in a test
interval or its purge/embargo window, and nothing else is dropped); a
configuration where that would empty a training fold raises instead.
Coverage: KFold tests every sample once, CPCV once per path, walk-forward
with ``step == test_size`` once after the first training window.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml.exceptions import ParameterError
from ml.validation import CombinatorialPurgedCV, PurgedKFold, WalkForward
from ml.validation._base import group_bounds

from ._oracle import expected_train

EVENTS = {"splits": 0, "raised": 0}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def labelled(draw, min_n=4, max_n=40):
    """``(start, end, t1)``: sorted start times (ties allowed), label ends, and ``t1`` as passed."""
    n = draw(st.integers(min_n, max_n))
    max_span = draw(st.sampled_from([0, 1, 3, 8]))
    as_times = draw(st.booleans())
    if as_times:
        gaps = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
        start = np.cumsum(gaps).astype(np.int64)
        spans = draw(st.lists(st.integers(0, 3 * max_span), min_size=n, max_size=n))
        end = start + np.asarray(spans, dtype=np.int64)
        origin = pd.Timestamp("2024-01-02 10:00", tz="America/Sao_Paulo")
        index = origin + pd.to_timedelta(start, unit="min")
        t1 = pd.Series(origin + pd.to_timedelta(end, unit="min"), index=index)
    else:
        spans = draw(st.lists(st.integers(0, max_span), min_size=n, max_size=n))
        start = np.arange(n, dtype=np.int64)
        end = np.minimum(start + np.asarray(spans, dtype=np.int64), n - 1)
        t1 = end.copy()
    return start, end, t1


@st.composite
def embargoes(draw, times: bool):
    kind = draw(st.sampled_from(["bars", "fraction", "time"] if times else ["bars", "fraction"]))
    if kind == "bars":
        return draw(st.integers(0, 4))
    if kind == "fraction":
        return draw(st.sampled_from([0.0, 0.05, 0.1, 0.2]))
    return pd.Timedelta(minutes=draw(st.integers(0, 10)))


def oracle_kwargs(embargo, n):
    if isinstance(embargo, pd.Timedelta):
        return {"embargo_time": int(embargo / pd.Timedelta(minutes=1))}
    if isinstance(embargo, float):
        return {"embargo_bars": int(np.floor(embargo * n + 1e-9))}
    return {"embargo_bars": embargo}


def check_against_oracle(cv, start, end, tests, units_of, window_of=lambda k: None, **embargo):
    """Compare every split with the oracle; expect ParameterError iff a training unit would be empty.

    ``tests``: the expected test sets; ``units_of(k, test)``: the ``(lo, hi)``
    training folds of split ``k`` that must keep a sample; ``window_of(k)``:
    its training window (None: everything).
    """
    n = len(start)
    X = np.zeros((n, 1))
    expected, eaten = [], False
    EVENTS["splits"] += 1
    for k, test in enumerate(tests):
        train = expected_train(start, end, test, window_of(k), **embargo)
        expected.append((train.tolist(), test.tolist()))
        eaten |= any(not np.isin(np.arange(lo, hi), train).any() for lo, hi in units_of(k, test))
    if eaten:
        EVENTS["raised"] += 1
        with pytest.raises(ParameterError, match="remove all"):
            cv.split(X)
        return None
    got = [(tr.tolist(), te.tolist()) for tr, te in cv.split(X)]
    assert got == expected
    assert cv.get_n_splits(X) == len(got)
    return got


def kfold_test_sets(n, k):
    b = group_bounds(n, k)
    return [np.arange(b[f], b[f + 1]) for f in range(k)]


@given(data=labelled(min_n=5), k=st.integers(2, 5), data_st=st.data())
@SETTINGS
def test_purged_kfold_matches_oracle_and_tests_everything_once(data, k, data_st):
    start, end, t1 = data
    n = len(start)
    embargo = data_st.draw(embargoes(isinstance(t1, pd.Series)))
    cv = PurgedKFold(k, t1=t1, embargo=embargo)
    b = group_bounds(n, k)
    units = lambda f, test: [(b[g], b[g + 1]) for g in range(k) if g != f]
    got = check_against_oracle(cv, start, end, kfold_test_sets(n, k), units, **oracle_kwargs(embargo, n))
    if got is not None:
        tested = np.concatenate([te for _, te in got])
        assert sorted(tested.tolist()) == list(range(n))


@given(data=labelled(min_n=12, max_n=48), nk=st.sampled_from([(3, 1), (3, 2), (4, 2), (5, 2), (5, 3), (6, 2)]),
       data_st=st.data())
@SETTINGS
def test_cpcv_matches_oracle_and_tests_everything_once_per_path(data, nk, data_st):
    start, end, t1 = data
    n = len(start)
    N, kk = nk
    embargo = data_st.draw(embargoes(isinstance(t1, pd.Series)))
    cv = CombinatorialPurgedCV(N, kk, t1=t1, embargo=embargo)
    b = group_bounds(n, N)
    combos = list(itertools.combinations(range(N), kk))
    tests = [np.concatenate([np.arange(b[g], b[g + 1]) for g in c]) for c in combos]
    units = lambda s, test: [(b[g], b[g + 1]) for g in range(N) if g not in combos[s]]
    got = check_against_oracle(cv, start, end, tests, units, **oracle_kwargs(embargo, n))
    if got is not None:
        preds = [np.asarray(te) for _, te in got]
        stitched = cv.stitch_paths(preds, n)
        assert stitched.shape == (cv.n_paths, n)
        assert (stitched == np.arange(n)).all()  # every sample once per path, from a split that tested it


@given(data=labelled(min_n=5, max_n=40), train=st.integers(1, 8), test=st.integers(1, 6),
       step=st.one_of(st.none(), st.integers(1, 6)), anchored=st.booleans())
@SETTINGS
def test_walk_forward_matches_oracle_and_tests_once(data, train, test, step, anchored):
    start, end, t1 = data
    n = len(start)
    cv = WalkForward(train, test, step=step, anchored=anchored, t1=t1)
    X = np.zeros((n, 1))
    if n < train + test:
        with pytest.raises(ParameterError, match="`train_size`"):
            cv.split(X)
        return
    st_ = test if step is None else step
    windows, s = [], train
    while s < n:
        windows.append((0 if anchored else s - train, s, min(s + test, n)))
        if s + test >= n:
            break
        s += st_
    tests = [np.arange(a, b) for _, a, b in windows]
    units = lambda k, tst: [(windows[k][0], windows[k][1])]
    window_of = lambda k: (windows[k][0], windows[k][1])
    got = check_against_oracle(cv, start, end, tests, units, window_of)
    if got is None:
        return
    for (train_idx, test_idx), (_, s, _) in zip(got, windows):
        assert max(train_idx) < min(test_idx) == s  # test starts right after the training window
    if step in (None, test):
        tested = np.concatenate([te for _, te in got])
        assert tested.tolist() == list(range(train, n))


@given(sizes=st.lists(st.integers(1, 5), min_size=2, max_size=14), train=st.integers(1, 5),
       test=st.integers(1, 4), anchored=st.booleans())
@SETTINGS
def test_walk_forward_sessions_whole_sessions_tested_once(sizes, train, test, anchored):
    groups = np.repeat(np.arange(len(sizes)) * 7 + 3, sizes)  # arbitrary session ids
    X = np.zeros((len(groups), 1))
    cv = WalkForward(train, test, anchored=anchored, unit="sessions", purge=False)
    if len(sizes) < train + test:
        with pytest.raises(ParameterError, match="`train_size`"):
            cv.split(X, groups=groups)
        return
    got = list(cv.split(X, groups=groups))
    assert cv.get_n_splits(X, groups=groups) == len(got)
    bounds = np.r_[0, np.cumsum(sizes)]
    tested = np.concatenate([te for _, te in got])
    assert tested.tolist() == list(range(bounds[train], len(groups)))
    for j, (tr, te) in enumerate(got):
        s = train + j * test
        assert te.tolist() == list(range(bounds[s], bounds[min(s + test, len(sizes))]))
        lo = 0 if anchored else s - train
        assert tr.tolist() == list(range(bounds[lo], bounds[s]))


def test_property_runs_exercised_both_outcomes():
    """Guard against a vacuous property run: both exact comparisons and errors happened."""
    if EVENTS["splits"] == 0:
        pytest.skip("property tests did not run in this session")
    assert 0 < EVENTS["raised"] < EVENTS["splits"]
