"""The classifier adapters pass scikit-learn's own estimator checks (issue 13, item 8).

``parametrize_with_checks`` runs every check scikit-learn applies to a classifier
(clone, get_params, fit/predict contract, input validation messages, NaN, sparse,
complex and empty input, continuous targets, column-vector targets, sample
weights, pickling, ...).  The few checks an adapter cannot pass are listed below
with the reason; every other one must pass.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from ml.exceptions import ParameterError
from ml.models import get_model

#: Small, fast settings of each adapter (the checks fit many tiny models).
FAST = {"logistic": {}, "random_forest": {"n_estimators": 5}, "svm": {}, "mlp": {"max_iter": 50},
        "catboost": {"iterations": 20}}

_WEIGHTS = ("a weight of 2 is not the row repeated: {why}")
#: check name -> reason, per adapter.  Nothing else may fail.
EXPECTED_FAILURES = {
    "logistic": {},
    "random_forest": {
        "check_sample_weight_equivalence_on_dense_data": _WEIGHTS.format(
            why="the bootstrap draws rows, not weight (scikit-learn's own RandomForestClassifier fails it too)"),
    },
    "svm": {
        "check_sample_weight_equivalence_on_dense_data": _WEIGHTS.format(
            why="the probabilities are calibrated on stratified folds of rows"),
        "check_class_weight_classifiers": "the probabilities are Platt-calibrated on held-out folds, which "
                                          "re-estimates the class balance that class_weight shifted",
        "check_fit2d_1feature": "the check's 10 rows leave a class with fewer rows than calibration_folds=5: "
                                "an explicit ParameterError naming both",
    },
    "mlp": {
        "check_sample_weight_equivalence_on_dense_data": _WEIGHTS.format(
            why="stochastic mini-batches and an early-stopping split drawn over rows"),
        "check_fit2d_1feature": "the check's 10 rows leave 1 validation row for early stopping: an explicit "
                                "ParameterError naming validation_fraction",
    },
    "catboost": {
        "check_sample_weight_equivalence_on_dense_data": _WEIGHTS.format(
            why="CatBoost's Bayesian bagging and ordered boosting depend on the rows, not only their weight"),
    },
}


def _expected(estimator):
    return EXPECTED_FAILURES[estimator.name]


@parametrize_with_checks([get_model(name, **kw) for name, kw in FAST.items()],
                         expected_failed_checks=_expected)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check(estimator)


@pytest.mark.parametrize("name", [*FAST, "lstm", "transformer"])
def test_a_continuous_target_is_refused_not_learned_as_classes(name):
    """fit(X, float returns) used to train a model with one class per distinct return."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    returns = rng.normal(0, 1e-3, 200)
    kw = FAST.get(name, {"epochs": 1, "window": 4})
    with pytest.raises(ParameterError, match="Unknown label type: continuous.*np.sign"):
        get_model(name, **kw).fit(X, returns)
    # labels stored as floats (-1.0 / 0.0 / 1.0, as ml.labels returns them) are classes
    model = get_model(name, **kw).fit(X, np.sign(returns))
    assert model.classes_.tolist() == [-1.0, 1.0]
