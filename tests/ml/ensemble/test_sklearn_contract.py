"""StackingEnsemble passes scikit-learn's own estimator checks (clone, get_params, fit/predict contract)."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from ml.ensemble import StackingEnsemble
from tests.ml.ensemble._helpers import fast_lr


@parametrize_with_checks([StackingEnsemble([("lr", fast_lr())], final_estimator=fast_lr(), cv=3)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
