"""StackingEnsemble: the final estimator only ever sees out-of-fold probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import StackingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from ml.ensemble import BlendingEnsemble, StackingEnsemble, out_of_fold_proba
from ml.exceptions import ParameterError
from tests.ml.ensemble._helpers import fast_lr, SpyClassifier, WalkForward, logistic, memorizer, tree
from tests.ml.ensemble.conftest import FEATURES


def test_a_memorizing_base_model_does_not_fool_the_final_estimator(fil_xy):
    X, y = fil_xy
    stack = StackingEnsemble([("knn", memorizer()), ("lr", logistic())], cv=KFold(5)).fit(X, y)
    meta = np.column_stack([stack.oof_proba_["knn"][:, 1], stack.oof_proba_["lr"][:, 1]])
    honest = stack.final_estimator_.score(meta, y)
    # Stacking on in-sample predictions (the leak): the memorizer is perfect, so the final model is too.
    in_sample = np.column_stack([e.predict_proba(X)[:, 1] for e in stack.estimators_])
    leaky = LogisticRegression(max_iter=1000).fit(in_sample, y)
    assert leaky.score(in_sample, y) == 1.0
    assert honest < 0.6
    assert abs(stack.final_estimator_.coef_[0, 0]) < 0.1 * abs(leaky.coef_[0, 0])


def test_final_estimator_is_fitted_on_out_of_fold_probabilities_only(fil_xy):
    X, y = fil_xy
    stack = StackingEnsemble([("lr", logistic()), ("tree", tree())], cv=KFold(4)).fit(X, y)
    lr, _ = out_of_fold_proba(logistic(), X, y, KFold(4))
    dt, _ = out_of_fold_proba(tree(), X, y, KFold(4))
    expected = LogisticRegression(max_iter=1000).fit(np.column_stack([lr[:, 1], dt[:, 1]]), y)
    np.testing.assert_allclose(stack.final_estimator_.coef_, expected.coef_, atol=1e-10)
    np.testing.assert_allclose(stack.oof_proba_["lr"], lr, atol=1e-12)
    assert stack.feature_names_ == ["lr__1", "tree__1"]
    assert stack.n_untested_ == 0


@pytest.mark.parametrize("cv", [KFold(5), WalkForward(3, 400)], ids=["kfold", "walk-forward"])
def test_no_base_model_predicts_a_row_it_saw_during_fit(fil_xy, cv):
    X, y = fil_xy  # SpyClassifier raises if it predicts a row id it was fitted on
    stack = StackingEnsemble([("spy", SpyClassifier()), ("lr", logistic())], cv=cv).fit(X, y)
    assert stack.final_estimator_.n_features_in_ == 2


def test_walk_forward_drops_the_untested_rows_and_still_fits(fil_xy):
    X, y = fil_xy
    stack = StackingEnsemble([("lr", logistic()), ("tree", tree())], cv=WalkForward(4, 400)).fit(X, y)
    assert stack.n_untested_ == 400
    assert not stack.oof_tested_[:400].any() and stack.oof_tested_[400:].all()
    assert np.isnan(stack.oof_proba_["tree"][:400]).all()
    proba = stack.predict_proba(X)
    assert proba.shape == (len(y), 2) and stack.classes_.tolist() == [-1, 1]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(stack.predict(X)) <= {-1, 1}
    # the out-of-fold probabilities feed a BlendingEnsemble directly, NaN rows skipped and counted
    blend = BlendingEnsemble().fit(stack.oof_proba_, y)
    assert blend.n_ignored_ == 400


def test_sklearn_stacking_rejects_a_walk_forward_split(fil_xy):
    X, y = fil_xy  # the reason StackingEnsemble exists (see its Notes)
    sk = StackingClassifier([("lr", logistic())], cv=WalkForward(3, 400))
    with pytest.raises(ValueError, match="only works for partitions"):
        sk.fit(X, y)


def test_base_models_are_refitted_on_all_rows(fil_xy):
    X, y = fil_xy
    stack = StackingEnsemble([("lr", logistic()), ("tree", tree())], cv=3).fit(X, y)
    full = clone(tree()).fit(X, y)
    np.testing.assert_array_equal(stack.named_estimators_["tree"].predict_proba(X), full.predict_proba(X))
    assert stack.estimators_[0] is stack.named_estimators_["lr"]
    assert stack.estimators_[0] is not stack.estimators[0][1]  # the given estimators stay unfitted
    with pytest.raises(NotFittedError):
        stack.estimators[1][1].predict_proba(X)


def test_clone_params_and_determinism(fil_xy):
    X, y = fil_xy
    stack = StackingEnsemble([("lr", logistic()), ("tree", tree())],
                             final_estimator=LogisticRegression(C=0.5), cv=KFold(3), n_jobs=1)
    params = stack.get_params()
    assert params["cv"] is stack.cv and params["final_estimator__C"] == 0.5
    twin = clone(stack)
    assert twin.get_params()["final_estimator__C"] == 0.5
    a = stack.fit(X, y).predict_proba(X)
    b = twin.fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not hasattr(clone(stack), "final_estimator_")


def test_same_folds_for_every_base_model_even_with_a_one_shot_splitter(fil_xy):
    X, y = fil_xy

    class OneShot:  # a generator-like splitter that can be iterated once only
        def __init__(self):
            self.used = False

        def split(self, X, y=None, groups=None):
            assert not self.used, "split called twice"
            self.used = True
            yield np.arange(800), np.arange(800, 1200)

    stack = StackingEnsemble([("lr", logistic()), ("tree", tree())], cv=OneShot()).fit(X, y)
    np.testing.assert_array_equal(np.isnan(stack.oof_proba_["lr"]), np.isnan(stack.oof_proba_["tree"]))
    assert stack.n_untested_ == len(y) - 400


def test_three_classes_with_passthrough(fil_xy3):
    X, y = fil_xy3
    Xs = StandardScaler().fit_transform(X[FEATURES])
    stack = StackingEnsemble([("lr", fast_lr()),
                              ("tree", DecisionTreeClassifier(max_depth=3, random_state=0))],
                             final_estimator=fast_lr(), cv=KFold(4), passthrough=True).fit(Xs, y)
    assert stack.classes_.tolist() == [-1, 0, 1]
    assert stack.feature_names_[:6] == ["lr__-1", "lr__0", "lr__1", "tree__-1", "tree__0", "tree__1"]
    assert len(stack.feature_names_) == 6 + len(FEATURES)
    assert stack.final_estimator_.n_features_in_ == 6 + len(FEATURES)
    proba = stack.predict_proba(Xs[:50])
    assert proba.shape == (50, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_sample_weight_reaches_base_and_final_estimators(fil_xy):
    X, y = fil_xy
    Xs = StandardScaler().fit_transform(X[FEATURES])
    w = np.where(np.arange(len(y)) % 3 == 0, 3.0, 0.5)
    stack = StackingEnsemble([("lr", fast_lr())], cv=KFold(3)).fit(Xs, y, sample_weight=w)
    oof, _ = out_of_fold_proba(fast_lr(), Xs, y, KFold(3), sample_weight=w)
    final = LogisticRegression(max_iter=1000).fit(oof[:, 1:], y, sample_weight=w)
    np.testing.assert_allclose(stack.final_estimator_.coef_, final.coef_, atol=1e-10)
    full = fast_lr().fit(Xs, y, sample_weight=w)
    np.testing.assert_allclose(stack.estimators_[0].coef_, full.coef_, atol=1e-12)
    with pytest.raises(TypeError, match=r"`sample_weight` was given but `final_estimator`"):
        StackingEnsemble([("lr", fast_lr())], final_estimator=KNeighborsClassifier(), cv=3).fit(
            Xs, y, sample_weight=w)
    with pytest.raises(TypeError, match=r"`sample_weight` was given but `knn`"):
        StackingEnsemble([("knn", KNeighborsClassifier())], cv=3).fit(Xs, y, sample_weight=w)


# ---------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"estimators": []}, ParameterError, "`estimators` must be a non-empty list"),
        ({"estimators": [fast_lr()]}, TypeError, r"`estimators\[0\]` must be a \(name"),
        ({"estimators": [("a", fast_lr()), ("a", fast_lr())]}, ParameterError,
         r"names must be unique, got \['a'\]"),
        ({"estimators": [("a__b", fast_lr())]}, ParameterError, "must not contain '__'"),
        ({"estimators": [("lr", LogisticRegression)]}, TypeError, r"`estimators\[0\] \('lr'\)`"),
        ({"final_estimator": object()}, TypeError, "`final_estimator`"),
        ({"cv": 1}, ParameterError, "`cv` must be an int >= 2"),
        ({"cv": "kfold"}, TypeError, "`cv`"),
        ({"passthrough": "yes"}, TypeError, "`passthrough`"),
    ],
)
def test_bad_arguments_raise_naming_them(fil_xy, params, error, match):
    X, y = fil_xy
    args = {"estimators": [("lr", fast_lr())]}
    args.update(params)
    with pytest.raises(error, match=match):
        StackingEnsemble(**args).fit(X[FEATURES][:200], y[:200])


def test_predict_checks_its_inputs(fil_xy):
    X, y = fil_xy
    stack = StackingEnsemble([("lr", logistic())], cv=3)
    with pytest.raises(NotFittedError):
        stack.predict_proba(X)
    stack.fit(X, y)
    with pytest.raises(ParameterError, match="X has 3 features, but StackingEnsemble is expecting 10 features"):
        stack.predict_proba(X.iloc[:, :3])
