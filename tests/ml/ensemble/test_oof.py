"""out_of_fold_proba: every prediction comes from a model that never saw the row."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, ShuffleSplit
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from ml.ensemble import out_of_fold_proba
from ml.exceptions import ParameterError
from tests.ml.ensemble._helpers import fast_lr, FixedSplits, SpyClassifier, WalkForward, logistic, memorizer
from tests.ml.ensemble.conftest import FEATURES


@pytest.fixture(scope="module")
def scaled(fil_xy):
    X, y = fil_xy
    return StandardScaler().fit_transform(X[FEATURES]), y


def test_equals_a_hand_written_fold_loop(scaled):
    X, y = scaled
    w = np.linspace(0.5, 1.5, len(y))
    oof, classes = out_of_fold_proba(fast_lr(), X, y, KFold(4), sample_weight=w)
    expected = np.empty_like(oof)
    for train, test in KFold(4).split(X):
        model = fast_lr().fit(X[train], y[train], sample_weight=w[train])
        expected[test] = model.predict_proba(X[test])
    assert classes.tolist() == [-1, 1]
    np.testing.assert_allclose(oof, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(oof.sum(axis=1), 1.0)


@pytest.mark.parametrize("cv", [KFold(5), WalkForward(4, 400), ShuffleSplit(6, test_size=0.3, random_state=0)],
                         ids=["kfold", "walk-forward", "shuffle-split"])
def test_never_predicts_a_row_the_model_saw(fil_xy, cv):
    X, y = fil_xy  # SpyClassifier raises if it predicts a row id it was fitted on
    oof, _ = out_of_fold_proba(SpyClassifier(), X, y, cv)
    tested = np.zeros(len(y), dtype=bool)
    for _, test in cv.split(X, y):
        tested[test] = True
    assert np.array_equal(~np.isnan(oof).any(axis=1), tested)


def test_memorizer_is_perfect_in_sample_and_near_chance_out_of_fold(fil_xy):
    X, y = fil_xy
    in_sample = clone(memorizer()).fit(X, y).predict(X)
    assert (in_sample == y).mean() == 1.0
    oof, classes = out_of_fold_proba(memorizer(), X, y, KFold(5))
    assert (classes[oof.argmax(axis=1)] == y).mean() < 0.6


def test_walk_forward_leaves_the_first_window_nan(fil_xy):
    X, y = fil_xy
    oof, _ = out_of_fold_proba(logistic(), X, y, WalkForward(4, 400))
    assert np.isnan(oof[:400]).all()
    assert np.isfinite(oof[400:]).all()
    np.testing.assert_allclose(oof[400:].sum(axis=1), 1.0)


def test_a_list_of_index_pairs_is_a_valid_cv(scaled):
    X, y = scaled
    folds = list(KFold(3).split(X))
    from_list, _ = out_of_fold_proba(fast_lr(), X, y, folds)
    from_splitter, _ = out_of_fold_proba(fast_lr(), X, y, KFold(3))
    np.testing.assert_array_equal(from_list, from_splitter)


def test_rows_tested_by_several_folds_get_the_mean(scaled):
    X, y = scaled
    test = np.arange(1000, 1200)
    train_a, train_b = np.arange(0, 1000), np.arange(200, 1000)
    oof, _ = out_of_fold_proba(fast_lr(), X, y, FixedSplits([(train_a, test), (train_b, test)]))
    a = fast_lr().fit(X[train_a], y[train_a]).predict_proba(X[test])
    b = fast_lr().fit(X[train_b], y[train_b]).predict_proba(X[test])
    np.testing.assert_allclose(oof[test], (a + b) / 2, atol=1e-12)
    assert np.isnan(np.delete(oof, test, axis=0)).all()


def test_class_missing_from_a_training_fold_gets_probability_zero():
    X = np.arange(12.0).reshape(-1, 1)
    y = np.array([0, 1, 0, 1, 0, 1, 0, 1, 2, 2, 2, 2])
    cv = FixedSplits([(np.arange(6), np.arange(6, 9)), (np.arange(9), np.arange(9, 12))])
    oof, classes = out_of_fold_proba(DecisionTreeClassifier(random_state=0), X, y, cv)
    assert classes.tolist() == [0, 1, 2]
    assert (oof[6:9, 2] == 0).all()  # the first fold's model never saw class 2
    np.testing.assert_allclose(oof[6:].sum(axis=1), 1.0)


def test_parallel_equals_serial_and_is_deterministic(fil_xy):
    X, y = fil_xy
    est = DecisionTreeClassifier(max_depth=5, max_features=0.5, random_state=3)
    serial, _ = out_of_fold_proba(est, X, y, KFold(4))
    again, _ = out_of_fold_proba(est, X, y, KFold(4))
    with joblib.parallel_config(backend="threading"):
        parallel, _ = out_of_fold_proba(est, X, y, KFold(4), n_jobs=2)
    assert np.array_equal(serial, again)
    assert np.array_equal(serial, parallel)


def test_groups_reach_the_splitter(fil_xy):
    X, y = fil_xy
    seen = {}

    class GroupSplitter:
        def split(self, X, y=None, groups=None):
            seen["groups"] = groups
            yield np.arange(100), np.arange(100, 200)

    groups = np.arange(len(y)) // 50
    out_of_fold_proba(SpyClassifier(), X, y, GroupSplitter(), groups=groups)
    assert seen["groups"] is groups


@settings(max_examples=25, deadline=None)
@given(st.integers(20, 60), st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=4))
def test_random_disjoint_splits_never_leak(n, seeds):
    X = np.c_[np.arange(n, dtype=float), np.zeros(n)]
    y = np.arange(n) % 2
    folds, tested = [], np.zeros(n, dtype=bool)
    for seed in seeds:
        perm = np.random.default_rng(seed).permutation(n)
        train, test = perm[: n // 2], perm[n // 2: n // 2 + n // 4]
        folds.append((train, test))
        tested[test] = True
    oof, _ = out_of_fold_proba(SpyClassifier(), X, y, FixedSplits(folds))
    assert np.array_equal(~np.isnan(oof[:, 0]), tested)


# ---------------------------------------------------------------------- bad arguments
def _leaky_split(n):
    return FixedSplits([(np.arange(0, 60), np.arange(50, 80))])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"estimator": LogisticRegression}, TypeError, "`estimator`"),
        ({"estimator": object()}, TypeError, "`estimator`"),
        ({"cv": "five"}, TypeError, "`cv`"),
        ({"cv": 1}, ParameterError, "`cv`"),
        ({"cv": _leaky_split(0)}, ParameterError, r"`cv` fold 0: 10 test rows are also training rows"),
        ({"cv": FixedSplits([(np.arange(10), np.array([5000]))])}, ParameterError, "`cv` fold 0.*out of range"),
        ({"cv": FixedSplits([(np.arange(10), np.arange(10.0, 20.0))])}, ParameterError, "integer"),
        ({"cv": FixedSplits([])}, ParameterError, "`cv`.*no fold"),
        ({"y": np.zeros(5)}, ParameterError, "`y` has 5 rows"),
        ({"y": "nan"}, ParameterError, "`y` has 1 missing"),
        ({"sample_weight": "negative"}, ParameterError, "`sample_weight`"),
        ({"estimator": KNeighborsClassifier(), "sample_weight": "ones"}, TypeError, "`sample_weight`"),
    ],
)
def test_bad_arguments_raise_naming_them(scaled, kwargs, error, match):
    X, y = scaled
    X, y = X[:300], y[:300].astype(float)
    args = {"estimator": fast_lr(), "cv": 3, "sample_weight": None, "y": y}
    args.update(kwargs)
    if isinstance(args["y"], str):
        args["y"] = y.copy()
        args["y"][7] = np.nan
    if isinstance(args["sample_weight"], str):
        args["sample_weight"] = np.ones(len(y))
        if kwargs["sample_weight"] == "negative":
            args["sample_weight"][3] = -1.0
    with pytest.raises(error, match=match):
        out_of_fold_proba(args["estimator"], X, args["y"], args["cv"], sample_weight=args["sample_weight"])
