"""scikit-learn compatibility: the splitters work as ``cv=`` in sklearn.model_selection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    BaseCrossValidator,
    GridSearchCV,
    check_cv,
    cross_val_predict,
    cross_val_score,
    cross_validate,
)

from ml.validation import BaseSplitter, CombinatorialPurgedCV, PurgedKFold, WalkForward


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2024-01-02 10:00", periods=n, freq="min", tz="America/Sao_Paulo")
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)}, index=idx)
    y = pd.Series((X["a"] + 0.3 * rng.normal(size=n) > 0).astype(int), index=idx)
    t1 = pd.Series(idx + pd.Timedelta("3min"), index=idx).clip(upper=idx[-1])
    sessions = np.repeat(np.arange(n // 10), 10)
    return X, y, t1, sessions


X, Y, T1, SESSIONS = _data()
SPLITTERS = [
    PurgedKFold(4, t1=T1, embargo=0.02),
    CombinatorialPurgedCV(5, 2, t1=T1, embargo=pd.Timedelta("2min")),
    WalkForward(40, 20, t1=T1),
    WalkForward(40, 20, t1=np.minimum(np.arange(120) + 3, 119), anchored=True),
]


@pytest.mark.parametrize("cv", SPLITTERS, ids=repr)
def test_cross_val_score(cv):
    scores = cross_val_score(LogisticRegression(), X, Y, cv=cv)
    assert len(scores) == cv.get_n_splits(X) and np.all((scores >= 0) & (scores <= 1))
    assert check_cv(cv) is cv
    assert isinstance(cv, (BaseSplitter, BaseCrossValidator))


def test_cross_val_score_numpy_inputs():
    scores = cross_val_score(LogisticRegression(), X.to_numpy(), Y.to_numpy(), cv=PurgedKFold(3, t1=T1))
    assert len(scores) == 3


def test_walk_forward_sessions_with_groups_in_grid_search_and_cross_validate():
    cv = WalkForward(6, 2, unit="sessions", t1=T1)
    assert cv.get_n_splits(X, Y, SESSIONS) == 3
    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=cv).fit(X, Y, groups=SESSIONS)
    assert search.n_splits_ == 3
    out = cross_validate(LogisticRegression(), X, Y, groups=SESSIONS, cv=cv)
    assert len(out["test_score"]) == 3


def test_walk_forward_sessions_with_metadata_routing():
    cv = WalkForward(6, 2, unit="sessions", t1=T1)
    with sklearn.config_context(enable_metadata_routing=True):
        out = cross_validate(LogisticRegression(), X, Y, cv=cv, params={"groups": SESSIONS})
    assert len(out["test_score"]) == 3


def test_cross_val_predict_with_kfold_covers_every_sample():
    pred = cross_val_predict(LogisticRegression(), X, Y, cv=PurgedKFold(4, t1=T1))
    assert pred.shape == (len(X),)


def test_cpcv_paths_from_fitted_models():
    cv = CombinatorialPurgedCV(5, 2, t1=T1)
    preds = []
    for train, test in cv.split(X):
        model = LogisticRegression().fit(X.iloc[train], Y.iloc[train])
        preds.append(model.predict_proba(X.iloc[test])[:, 1])
    paths = cv.stitch_paths(preds, len(X))
    assert paths.shape == (cv.n_paths, len(X)) == (4, 120)
    assert np.isfinite(paths).all()
    # a distribution of per-path Sharpe ratios of a toy "long when p > 0.5" strategy
    ret = np.sign(X["a"].to_numpy())
    pnl = np.where(paths > 0.5, 1.0, -1.0) * ret
    sharpe = pnl.mean(axis=1) / pnl.std(axis=1)
    assert sharpe.shape == (4,)


def test_get_params_round_trip_builds_equal_splits():
    cv = PurgedKFold(4, t1=T1, embargo=2)
    twin = PurgedKFold(**cv.get_params())
    assert [(a.tolist(), b.tolist()) for a, b in cv.split(X)] == [(a.tolist(), b.tolist()) for a, b in twin.split(X)]
    assert repr(cv) == "PurgedKFold(n_splits=4, t1=<Series of length 120>, embargo=2)"


def test_init_only_stores_arguments():
    # bad values are accepted by __init__ (sklearn convention) and rejected by split
    cv = PurgedKFold(n_splits=-1, t1=None, embargo="x")
    assert cv.n_splits == -1 and cv.embargo == "x"


class _Recording(PurgedKFold):
    """A PurgedKFold that remembers the rows (start times) of every split it yields."""

    seen: list = []

    def split(self, X, y=None, groups=None):
        for train, test in super().split(X, y, groups):
            _Recording.seen.append((X.index[train], X.index[test]))
            yield train, test


def test_nested_cross_validation_with_purged_splitters():
    """An inner splitter built from the whole `t1` accepts the outer training subset (issue 13, item 8),
    and purges within it: no inner training label overlaps the inner test block's label span."""
    _Recording.seen = []
    inner = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=_Recording(3, t1=T1))
    scores = cross_val_score(inner, X, Y, cv=PurgedKFold(4, t1=T1))
    assert len(scores) == 4 and np.all((scores >= 0) & (scores <= 1))
    # 4 outer folds x (2 candidates x 3 inner folds + the refit's none): the inner splitter ran on subsets
    assert len(_Recording.seen) >= 4 * 3
    for train, test in _Recording.seen:
        assert len(train) + len(test) < len(X)
        lo, hi = test[0], T1.loc[test].max()
        ends = T1.loc[train]
        overlap = (train <= hi) & (ends.to_numpy() >= lo)
        assert not overlap.any()


def test_inner_splitter_still_refuses_rows_it_has_no_label_times_for():
    from ml.exceptions import ParameterError

    other = X.copy()
    other.index = other.index + pd.Timedelta("30s")       # none of these start times is in t1
    with pytest.raises(ParameterError, match="one entry per sample"):
        list(PurgedKFold(3, t1=T1).split(other.iloc[:60]))
    with pytest.raises(ParameterError, match="one entry per sample"):
        list(PurgedKFold(3, t1=T1).split(X.iloc[:60].to_numpy()))     # no index: nothing to align by
