"""Real WDO bars with triple-barrier label end times: no training label touches a test label."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import cross_val_score
from sklearn.tree import DecisionTreeClassifier

from ml.validation import CombinatorialPurgedCV, PurgedKFold, WalkForward


def overlaps_test(start, end, train, test):
    """For each training sample: does ``[start, end]`` meet the union of the test intervals?

    Independent of the splitters: merge the test intervals, then binary-search.
    """
    order = np.argsort(start[test], kind="stable")
    s, e = start[test][order], end[test][order]
    u0, u1 = [s[0]], [e[0]]
    for a, b in zip(s[1:], e[1:]):
        if a <= u1[-1]:
            u1[-1] = max(u1[-1], b)
        else:
            u0.append(a)
            u1.append(b)
    u0, u1 = np.array(u0), np.array(u1)
    k = np.searchsorted(u0, end[train], side="right") - 1
    return (k >= 0) & (u1[np.maximum(k, 0)] >= start[train])


def ns(x):
    return pd.DatetimeIndex(x).as_unit("ns").asi8


@pytest.fixture(scope="module")
def wdo(wdo_labelled):
    X, y, t1, sessions = wdo_labelled
    return X, y, t1, sessions, ns(X.index), ns(t1)


def test_purged_kfold_on_wdo(wdo):
    X, y, t1, _, start, end = wdo
    n = len(X)
    cv = PurgedKFold(5, t1=t1, embargo=0.01)
    h = int(0.01 * n)
    tested = []
    for train, test in cv.split(X):
        assert not overlaps_test(start, end, train, test).any()
        tested.append(test)
        # what is dropped: at most the overlapping labels (<= 30 bars each side) plus the embargo
        dropped = n - len(test) - len(train)
        assert 0 < dropped <= 2 * 31 + h
        after = train[train > test[-1]]
        if len(after):  # the embargo: h more samples after the last one whose start <= the last test label end
            last_end = end[test].max()
            first_free = np.searchsorted(start, last_end, side="right")
            assert after[0] == first_free + h
    assert np.array_equal(np.sort(np.concatenate(tested)), np.arange(n))
    scores = cross_val_score(DecisionTreeClassifier(max_depth=3, random_state=0), X, y, cv=cv)
    assert len(scores) == 5


def test_cpcv_on_wdo(wdo):
    X, y, t1, _, start, end = wdo
    cv = CombinatorialPurgedCV(6, 2, t1=t1, embargo=pd.Timedelta("30min"))
    preds = []
    for train, test in cv.split(X):
        assert not overlaps_test(start, end, train, test).any()
        preds.append(test)
    assert len(preds) == cv.get_n_splits() == 15
    paths = cv.stitch_paths(preds, len(X))
    assert paths.shape == (5, len(X)) and (paths == np.arange(len(X))).all()


def test_walk_forward_sessions_on_wdo(wdo):
    X, y, t1, sessions, start, end = wdo
    cv = WalkForward(train_size=20, test_size=5, unit="sessions", t1=t1)
    got = list(cv.split(X, y, groups=sessions))
    ids = pd.unique(sessions)
    assert len(ids) == 48
    assert len(got) == cv.get_n_splits(X, y, groups=sessions) == 6  # tests start at sessions 20, 25, ..., 45
    tested = np.concatenate([te for _, te in got])
    assert np.array_equal(tested, np.flatnonzero(np.isin(sessions, ids[20:])))
    for j, (train, test) in enumerate(got):
        s = 20 + 5 * j
        assert np.array_equal(test, np.flatnonzero(np.isin(sessions, ids[s:s + 5])))
        assert end[train].max() < start[test[0]]  # nothing purged is left
        # labels never cross a session close, so purging removes nothing at the session seam
        assert np.array_equal(train, np.flatnonzero(np.isin(sessions, ids[s - 20:s])))


def test_walk_forward_bars_on_wdo_purges_the_seam(wdo):
    X, y, t1, _, start, end = wdo
    cv = WalkForward(train_size=3000, test_size=1000, t1=t1)
    for train, test in cv.split(X):
        assert end[train].max() < start[test[0]]
        assert train[0] == test[0] - 3000
        purged = test[0] - 1 - train[-1]
        assert 0 <= purged <= 30
        assert not overlaps_test(start, end, train, test).any()
