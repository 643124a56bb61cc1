"""Every bad argument raises a clear error naming the parameter (in backticks) and the value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.exceptions import ParameterError
from ml.validation import CombinatorialPurgedCV, PurgedKFold, WalkForward

N = 12
X = np.zeros((N, 1))
POS = np.arange(N)
IDX = pd.date_range("2024-01-02 10:00", periods=N, freq="min", tz="UTC")
XDF = pd.DataFrame({"f": np.zeros(N)}, index=IDX)
T1 = pd.Series(IDX, index=IDX)


def kf(**kw):
    kw.setdefault("t1", POS)
    return list(PurgedKFold(**kw).split(X))


def kf_on(X_, **kw):
    return list(PurgedKFold(**kw).split(X_))


def cp(**kw):
    kw.setdefault("t1", POS)
    return list(CombinatorialPurgedCV(**kw).split(X))


def wf(groups=None, X_=X, **kw):
    kw.setdefault("train_size", 4)
    kw.setdefault("test_size", 2)
    kw.setdefault("t1", POS)
    return list(WalkForward(**kw).split(X_, groups=groups))


def with_nat():
    t = T1.copy()
    t.iloc[3] = pd.NaT
    return t


def shuffled():
    return pd.Series(IDX[[1, 0] + list(range(2, N))], index=IDX[[1, 0] + list(range(2, N))])


CASES = [
    # PurgedKFold
    (lambda: kf(n_splits=1), ParameterError, "`n_splits` must be an int >= 2, got 1"),
    (lambda: kf(n_splits=2.5), TypeError, "`n_splits` must be an int >= 2, got float 2.5"),
    (lambda: kf(n_splits=True), TypeError, "`n_splits` must be an int"),
    (lambda: kf(n_splits=13), ParameterError, r"`n_splits`=13 must not exceed the number of samples \(12\)"),
    (lambda: kf(t1=None), ParameterError, "`t1` is required by PurgedKFold"),
    (lambda: kf(t1=POS[:-1]), ParameterError, r"`t1` must have one end position per sample of `X` \(12\), got 11"),
    (lambda: kf(t1=POS.astype(float)), TypeError, "`t1` as an array must hold integer end positions"),
    (lambda: kf(t1=IDX.to_numpy()), TypeError, "`t1` as an array must hold integer end positions; for end "),
    (lambda: kf(t1=POS + 1), ParameterError, "`t1` end positions must be <= 11"),
    (lambda: kf(t1=POS - 1), ParameterError, "`t1` must not end before its sample starts; at position 0"),
    (lambda: kf(t1=np.c_[POS, POS]), ParameterError, r"`t1` must be 1-D"),
    (lambda: kf(t1=pd.DataFrame({"t1": T1})), TypeError, "`t1` must be a Series .* got a DataFrame"),
    (lambda: kf_on(XDF, t1=T1.iloc[:-1]), ParameterError, r"`t1` must have one entry per sample of `X` \(12\)"),
    (lambda: kf_on(XDF, t1=pd.Series(IDX + pd.Timedelta("1h"), index=IDX + pd.Timedelta("1h"))),
     ParameterError, "`t1.index` must equal `X.index`"),
    (lambda: kf_on(XDF, t1=with_nat()), ParameterError, r"`t1` has no label end time \(NaT\) at position 3"),
    (lambda: kf_on(X, t1=shuffled()), ParameterError, "`t1.index` .* must be sorted in time"),
    (lambda: kf_on(X, t1=pd.Series(IDX.tz_localize(None), index=IDX)), TypeError, "`t1` mixes timezone-aware"),
    (lambda: kf_on(X, t1=pd.Series(np.arange(N), index=IDX)), TypeError, "`t1` values must be timestamps"),
    (lambda: kf_on(X, t1=pd.Series(list("abcdefghijkl"), index=np.arange(N))), TypeError,
     "`t1` values must be numbers"),
    (lambda: kf_on(X, t1=pd.Series(np.arange(N), index=list("abcdefghijkl"))), TypeError,
     "`t1` must be indexed by sample start times"),
    (lambda: kf(embargo=-1), ParameterError, "`embargo` must be >= 0 bars, got -1"),
    (lambda: kf(embargo=1.5), ParameterError, r"`embargo` as a float .* must be in \[0, 1\), got 1.5"),
    (lambda: kf(embargo=np.nan), ParameterError, "`embargo` as a float"),
    (lambda: kf(embargo=True), TypeError, "`embargo` must be an int"),
    (lambda: kf(embargo="5min"), TypeError, r"`embargo` .* got str '5min'; wrap it: pd.Timedelta"),
    (lambda: kf(embargo=pd.Timedelta("-1min")), ParameterError, "`embargo` must be a Timedelta >= 0"),
    (lambda: kf(embargo=pd.Timedelta("1min")), ParameterError, "`embargo`=.* is a duration, which needs `t1`"),
    (lambda: kf(n_splits=4, embargo=3), ParameterError,
     r"remove all 3 samples of training fold 1 \(positions 3-5\) in split 0 .*`n_splits`"),
    (lambda: kf(n_splits=4, t1=np.minimum(POS + 3, N - 1)), ParameterError, "PurgedKFold: purging .* remove all"),
    (lambda: PurgedKFold(n_splits=0).get_n_splits(), ParameterError, "`n_splits` must be an int >= 2, got 0"),
    (lambda: kf_on(None, t1=POS), TypeError, "`X` is required"),
    (lambda: PurgedKFold(t1=POS).set_params(n_split=3), ParameterError,
     "PurgedKFold has no parameter `n_split`; did you mean 'n_splits'"),
    # CombinatorialPurgedCV
    (lambda: cp(n_groups=1), ParameterError, "`n_groups` must be an int >= 2, got 1"),
    (lambda: cp(n_groups="6"), TypeError, "`n_groups` must be an int"),
    (lambda: cp(n_test_groups=0), ParameterError, "`n_test_groups` must be an int >= 1, got 0"),
    (lambda: cp(n_groups=4, n_test_groups=4), ParameterError,
     r"`n_test_groups` must be < `n_groups` \(4\) so that every split keeps training data, got 4"),
    (lambda: cp(n_groups=13, n_test_groups=2), ParameterError, "`n_groups`=13 must not exceed the number of samples"),
    (lambda: cp(t1=None), ParameterError, "`t1` is required by CombinatorialPurgedCV"),
    (lambda: cp(n_groups=6, n_test_groups=2, embargo=2), ParameterError,
     r"remove all 2 samples of training group 2 \(positions 4-5\) in split 0 \(test groups \(0, 1\).* `n_groups`"),
    (lambda: CombinatorialPurgedCV(4, 5).n_paths, ParameterError, "`n_test_groups` must be < `n_groups`"),
    (lambda: CombinatorialPurgedCV(4, 2).stitch_paths([np.zeros(6)] * 5, 12), ParameterError,
     r"`predictions` must hold one array per split \(6\), got 5"),
    (lambda: CombinatorialPurgedCV(4, 2).stitch_paths([np.zeros(5)] * 6, 12), ParameterError,
     r"`predictions\[0\]` must have one row per test sample of split 0 \(6"),
    (lambda: CombinatorialPurgedCV(4, 2).stitch_paths([np.zeros(6)] * 5 + [np.zeros((6, 2))], 12), ParameterError,
     "`predictions` must all have the same number of columns"),
    (lambda: CombinatorialPurgedCV(4, 2).stitch_paths([np.zeros(6)] * 6, 3), ParameterError,
     "`n_samples` must be an int >= 4, got 3"),
    (lambda: CombinatorialPurgedCV(4, 2).stitch_paths(None, 12), TypeError, "`predictions` must be a sequence"),
    # WalkForward
    (lambda: wf(train_size=0), ParameterError, "`train_size` must be an int >= 1, got 0"),
    (lambda: wf(test_size=0), ParameterError, "`test_size` must be an int >= 1, got 0"),
    (lambda: wf(test_size=1.0), TypeError, "`test_size` must be an int >= 1, got float 1.0"),
    (lambda: wf(step=0), ParameterError, "`step` must be an int >= 1, got 0"),
    (lambda: wf(anchored="yes"), TypeError, "`anchored` must be True or False, got str 'yes'"),
    (lambda: wf(purge=1), TypeError, "`purge` must be True or False, got int 1"),
    (lambda: wf(unit="session"), ParameterError, r"`unit` must be one of 'bars', 'sessions', got 'session'\. "
                                                 r"Did you mean 'sessions'\?"),
    (lambda: wf(unit=None), TypeError, "`unit` must be one of"),
    (lambda: wf(train_size=10, test_size=3), ParameterError,
     r"`train_size`=10 plus `test_size`=3 need at least 13 bars for one split, got 12"),
    (lambda: wf(t1=None), ParameterError, r"`t1` is required by WalkForward with `purge=True` \(pass `purge=False`"),
    (lambda: wf(train_size=2, t1=np.minimum(POS + 2, N - 1)), ParameterError,
     r"WalkForward: purging .* remove all 2 samples of the training window \(positions 0-1\) .*`train_size`"),
    (lambda: wf(embargo=-2), ParameterError, "`embargo` must be >= 0 bars, got -2"),
    (lambda: wf(unit="sessions"), ParameterError, "`groups` is required with unit='sessions'"),
    (lambda: wf(unit="sessions", groups=np.zeros(5)), ParameterError,
     r"`groups` must have one session id per sample of `X` \(12\), got 5"),
    (lambda: wf(unit="sessions", groups=np.zeros((12, 2))), ParameterError, "`groups` must be 1-D"),
    (lambda: wf(unit="sessions", groups=np.array([0, 0, 1, 1, 0, 0, 2, 2, 3, 3, 4, 4])), ParameterError,
     r"`groups`: session 0 is not one contiguous run of samples \(at positions 0 and 4\)"),
    (lambda: wf(unit="sessions", train_size=5, test_size=2, groups=np.repeat(np.arange(6), 2)), ParameterError,
     "`train_size`=5 plus `test_size`=2 need at least 7 sessions for one split, got 6"),
    (lambda: WalkForward(4, 2, purge=False).get_n_splits(), ParameterError, "`X` is required by WalkForward"),
    (lambda: WalkForward(4, 2, purge=False, unit="sessions").get_n_splits(X), ParameterError,
     "`groups` is required"),
]


@pytest.mark.parametrize("call,exc,match", CASES, ids=[c[2][:50] for c in CASES])
def test_bad_argument_raises_naming_it(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_split_validates_every_split_before_yielding():
    # the eaten fold is in the last split: nothing is yielded before the error
    t1 = POS.copy()
    t1[7] = 11  # the label of sample 7 covers the whole last fold
    cv = PurgedKFold(3, t1=t1)
    with pytest.raises(ParameterError, match="training fold 2"):
        cv.split(X)


def test_errors_are_value_or_type_errors():
    assert issubclass(ParameterError, ValueError)
