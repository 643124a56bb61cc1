"""WalkForward: exact indices of hand-computed cases, in bars and in sessions."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import TimeSeriesSplit

from ml.validation import WalkForward


def splits(cv, X, **kw):
    return [(train.tolist(), test.tolist()) for train, test in cv.split(X, **kw)]


def test_same_indices_as_skfolio_example():
    # skfolio WalkForward(test_size=1, train_size=2) on 6 samples
    assert splits(WalkForward(2, 1, purge=False), np.zeros(6)) == [
        ([0, 1], [2]), ([1, 2], [3]), ([2, 3], [4]), ([3, 4], [5])]


def test_rolling_and_anchored_match_time_series_split_without_purge():
    X = np.zeros((12, 1))
    ours = splits(WalkForward(3, 3, purge=False), X)
    theirs = [(a.tolist(), b.tolist()) for a, b in TimeSeriesSplit(3, test_size=3, max_train_size=3).split(X)]
    assert ours == theirs
    ours = splits(WalkForward(3, 3, anchored=True, purge=False), X)
    theirs = [(a.tolist(), b.tolist()) for a, b in TimeSeriesSplit(3, test_size=3).split(X)]
    assert ours == theirs


def test_purge_drops_training_labels_that_reach_the_test_window():
    t1 = np.minimum(np.arange(10) + 2, 9)  # labels end two samples later
    assert splits(WalkForward(4, 2, t1=t1), np.zeros(10)) == [
        ([0, 1], [4, 5]), ([2, 3], [6, 7]), ([4, 5], [8, 9])]


def test_last_test_window_is_cut_at_the_end_of_the_data():
    cv = WalkForward(4, 3, purge=False)
    X = np.zeros(11)
    assert splits(cv, X) == [([0, 1, 2, 3], [4, 5, 6]), ([3, 4, 5, 6], [7, 8, 9]), ([6, 7, 8, 9], [10])]
    assert cv.get_n_splits(X) == 3


def test_step_smaller_and_larger_than_test_size():
    X = np.zeros(10)
    assert splits(WalkForward(4, 3, step=2, purge=False), X) == [
        ([0, 1, 2, 3], [4, 5, 6]), ([2, 3, 4, 5], [6, 7, 8]), ([4, 5, 6, 7], [8, 9])]
    assert splits(WalkForward(3, 2, step=4, purge=False), np.zeros(12)) == [
        ([0, 1, 2], [3, 4]), ([4, 5, 6], [7, 8]), ([8, 9, 10], [11])]
    assert WalkForward(3, 2, step=4, purge=False).get_n_splits(np.zeros(12)) == 3
    # the window starting at 12 would be empty: none
    assert splits(WalkForward(3, 2, step=5, purge=False), np.zeros(12)) == [([0, 1, 2], [3, 4]), ([5, 6, 7], [8, 9])]


def test_sessions():
    sessions = np.array(["a"] * 3 + ["b"] * 2 + ["c"] * 3 + ["d"] * 2 + ["e"] * 1)
    X = np.zeros((11, 1))
    t1 = np.minimum(np.arange(11) + 1, 10)
    cv = WalkForward(train_size=2, test_size=2, unit="sessions", t1=t1)
    assert splits(cv, X, groups=sessions) == [
        ([0, 1, 2, 3], [5, 6, 7, 8, 9]),   # sample 4's label ends at 5: purged
        ([5, 6, 7, 8], [10]),
    ]
    assert cv.get_n_splits(X, groups=sessions) == 2
    assert cv.get_n_splits(groups=sessions) == 2
    cv = WalkForward(2, 1, anchored=True, unit="sessions", purge=False)
    assert splits(cv, X, groups=sessions) == [
        ([0, 1, 2, 3, 4], [5, 6, 7]), ([0, 1, 2, 3, 4, 5, 6, 7], [8, 9]), (list(range(10)), [10])]


def test_series_t1_purge_by_time():
    idx = pd.date_range("2024-01-02 10:00", periods=8, freq="min", tz="UTC")
    end = idx + pd.to_timedelta([0, 5, 0, 0, 1, 0, 0, 0], unit="min")  # sample 1 reaches 10:06
    X = pd.DataFrame({"f": np.zeros(8)}, index=idx)
    cv = WalkForward(4, 2, t1=pd.Series(end, index=idx))
    assert splits(cv, X) == [([0, 2, 3], [4, 5]), ([2, 3, 4, 5], [6, 7])]


def test_embargo_has_no_effect_and_warns():
    t1 = np.arange(10)
    X = np.zeros(10)
    with pytest.warns(UserWarning, match="`embargo`=3 has no effect in WalkForward"):
        got = splits(WalkForward(4, 2, embargo=3, t1=t1), X)
    assert got == splits(WalkForward(4, 2, t1=t1), X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        splits(WalkForward(4, 2, embargo=0, t1=t1), X)


def test_repr_and_set_params():
    cv = WalkForward(20, 5, unit="sessions", purge=False)
    assert repr(cv) == ("WalkForward(train_size=20, test_size=5, step=None, anchored=False, purge=False, "
                        "embargo=0, t1=None, unit='sessions')")
    assert cv.set_params(step=2) is cv and cv.step == 2
