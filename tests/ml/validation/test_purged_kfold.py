"""PurgedKFold: exact indices of hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from ml.validation import PurgedKFold


def splits(cv, X, **kw):
    return [(train.tolist(), test.tolist()) for train, test in cv.split(X, **kw)]


def test_no_overlap_equals_sklearn_kfold():
    X = np.zeros((10, 1))
    ours = splits(PurgedKFold(3, t1=np.arange(10)), X)
    theirs = [(a.tolist(), b.tolist()) for a, b in KFold(3).split(X)]
    assert ours == theirs


def test_purge_and_embargo_in_bars():
    t1 = np.minimum(np.arange(10) + 1, 9)  # each label ends on the next sample
    assert splits(PurgedKFold(3, t1=t1, embargo=1), np.zeros((10, 1))) == [
        ([6, 7, 8, 9], [0, 1, 2, 3]),
        ([0, 1, 2, 9], [4, 5, 6]),
        ([0, 1, 2, 3, 4, 5], [7, 8, 9]),
    ]
    # no embargo: only the neighbours whose labels touch the test fold go
    assert splits(PurgedKFold(3, t1=t1), np.zeros((10, 1))) == [
        ([5, 6, 7, 8, 9], [0, 1, 2, 3]),
        ([0, 1, 2, 8, 9], [4, 5, 6]),
        ([0, 1, 2, 3, 4, 5], [7, 8, 9]),
    ]


def test_embargo_fraction_is_floor_of_n_times_fraction():
    t1 = np.arange(10)
    X = np.zeros((10, 1))
    assert splits(PurgedKFold(2, t1=t1, embargo=0.1), X) == splits(PurgedKFold(2, t1=t1, embargo=1), X)
    assert splits(PurgedKFold(2, t1=t1, embargo=0.29), X) == splits(PurgedKFold(2, t1=t1, embargo=2), X)
    assert splits(PurgedKFold(2, t1=t1, embargo=0.3), X)[0] == ([8, 9], [0, 1, 2, 3, 4])


def test_embargo_only_after_the_test_fold():
    t1 = np.arange(9)
    assert splits(PurgedKFold(3, t1=t1, embargo=2), np.zeros((9, 1))) == [
        ([5, 6, 7, 8], [0, 1, 2]),
        ([0, 1, 2, 8], [3, 4, 5]),
        ([0, 1, 2, 3, 4, 5], [6, 7, 8]),
    ]


def test_long_label_is_purged_wherever_it_overlaps():
    # sample 0's label runs to sample 6: it overlaps fold 1 (4-7) but not fold 2 (8-11)
    t1 = np.arange(12)
    t1[0] = 6
    assert splits(PurgedKFold(3, t1=t1), np.zeros((12, 1))) == [
        ([7, 8, 9, 10, 11], [0, 1, 2, 3]),
        ([1, 2, 3, 8, 9, 10, 11], [4, 5, 6, 7]),
        ([0, 1, 2, 3, 4, 5, 6, 7], [8, 9, 10, 11]),
    ]


def _two_sessions():
    minutes = [0, 1, 2, 3, 10, 11, 12, 13]
    idx = pd.DatetimeIndex([pd.Timestamp("2024-01-02 10:00", tz="America/Sao_Paulo") + pd.Timedelta(minutes=m)
                            for m in minutes])
    end = idx + pd.Timedelta(minutes=1)
    end = end.where(~np.isin(np.arange(8), [3, 7]), idx)  # last bar of each session ends on itself
    return pd.DataFrame({"f": np.arange(8.0)}, index=idx), pd.Series(end, index=idx)


def test_series_t1_and_timedelta_embargo():
    X, t1 = _two_sessions()
    assert splits(PurgedKFold(2, t1=t1), X) == [([4, 5, 6, 7], [0, 1, 2, 3]), ([0, 1, 2, 3], [4, 5, 6, 7])]
    # samples starting within 8 minutes after the last test label's end (10:03) are embargoed
    assert splits(PurgedKFold(2, t1=t1, embargo=pd.Timedelta("8min")), X)[0] == ([6, 7], [0, 1, 2, 3])
    assert splits(PurgedKFold(2, t1=t1, embargo=pd.Timedelta("7min")), X)[0] == ([5, 6, 7], [0, 1, 2, 3])
    assert splits(PurgedKFold(2, t1=t1, embargo=1), X)[0] == ([5, 6, 7], [0, 1, 2, 3])


def test_series_t1_with_numpy_X_and_other_timezone_values():
    X, t1 = _two_sessions()
    utc = t1.dt.tz_convert("UTC")
    assert splits(PurgedKFold(2, t1=utc), X.to_numpy()) == splits(PurgedKFold(2, t1=t1), X)


def test_t1_index_in_another_timezone_aligns_with_X():
    X, t1 = _two_sessions()
    moved = pd.Series(t1.to_numpy(), index=t1.index.tz_convert("UTC"))
    assert splits(PurgedKFold(2, t1=moved), X) == splits(PurgedKFold(2, t1=t1), X)


def test_numeric_series_t1():
    t1 = pd.Series(np.minimum(np.arange(10) + 1, 9).astype(float), index=np.arange(10.0))
    pos = np.minimum(np.arange(10) + 1, 9)
    X = np.zeros((10, 1))
    assert splits(PurgedKFold(3, t1=t1, embargo=1), X) == splits(PurgedKFold(3, t1=pos, embargo=1), X)


def test_indices_are_int64_and_sorted():
    for train, test in PurgedKFold(4, t1=np.arange(13)).split(np.zeros((13, 2))):
        assert train.dtype == np.int64 and test.dtype == np.int64
        assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)


def test_get_n_splits_and_repr():
    cv = PurgedKFold(4, t1=np.arange(8))
    assert cv.get_n_splits() == 4 == len(list(cv.split(np.zeros(8))))
    assert repr(cv) == "PurgedKFold(n_splits=4, t1=<ndarray of length 8>, embargo=0)"
    assert cv.get_params() == {"n_splits": 4, "t1": cv.t1, "embargo": 0}
