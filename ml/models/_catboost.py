"""CatBoost gradient-boosted trees as an adapter."""

from __future__ import annotations

import numpy as np
from catboost import CatBoostClassifier, Pool
from sklearn.utils.validation import check_is_fitted

from ml._checks import check_choice, check_int, check_real
from ml.exceptions import ParameterError
from ml.models._sklearn import TabularClassifierAdapter, _check_random_state

__all__ = ["CatBoostModel"]

_AUTO_CLASS_WEIGHTS = (None, "Balanced", "SqrtBalanced")


class CatBoostModel(TabularClassifierAdapter):
    """CatBoost classifier (ordered boosting on oblivious trees), NaN handled natively.

    Parameters
    ----------
    iterations : int, default=300
        Number of trees.
    depth : int, default=6
        Depth of each (oblivious) tree, 1 to 16.
    learning_rate : float, default=0.05
    l2_leaf_reg : float, default=3.0
        L2 penalty on leaf values.
    border_count : int, default=254
        Histogram bins per feature (CatBoost's CPU default); fewer bins train
        faster.
    auto_class_weights : {None, "Balanced", "SqrtBalanced"}, default=None
    random_state : int, RandomState or None, default=0
        CatBoost's ``random_seed``.
    thread_count : int, default=1
        Threads for training and prediction (-1: all cores).  One thread is
        the default because it is bit-for-bit reproducible across machines;
        parallelise over folds or trials instead (joblib).
    verbose : bool or int, default=False
        Print the training log (every ``verbose`` iterations if an int).

    Attributes
    ----------
    estimator_ : catboost.CatBoostClassifier
        Trained on the integer codes ``0 .. k-1`` of ``classes_``.
    feature_importances_ : ndarray of shape (n_features,)
        CatBoost's PredictionValuesChange importance (sums to 100).

    Notes
    -----
    The loss is ``Logloss`` for two classes and ``MultiClass`` otherwise.
    NaN are CatBoost's "Min" missing-value mode (a NaN is smaller than every
    number, so each split can send missing values its own way); no imputation.
    ``allow_writing_files=False``: no ``catboost_info`` folder is ever written.
    The fitted booster pickles through CatBoost's own model serialisation, so
    :meth:`save` / :meth:`load` give identical predictions.

    References
    ----------
    Prokhorenkova, L. et al. (2018). CatBoost: unbiased boosting with
    categorical features. *NeurIPS 31*.
    """

    name = "catboost"

    def __init__(self, iterations=300, depth=6, learning_rate=0.05, l2_leaf_reg=3.0,
                 border_count=254, auto_class_weights=None, random_state=0, thread_count=1,
                 verbose=False):
        self.iterations = iterations
        self.depth = depth
        self.learning_rate = learning_rate
        self.l2_leaf_reg = l2_leaf_reg
        self.border_count = border_count
        self.auto_class_weights = auto_class_weights
        self.random_state = random_state
        self.thread_count = thread_count
        self.verbose = verbose

    def _check_params(self):
        check_int("iterations", self.iterations, 1)
        check_int("depth", self.depth, 1, 16)
        check_real("learning_rate", self.learning_rate, lo=0.0, lo_open=True)
        check_real("l2_leaf_reg", self.l2_leaf_reg, lo=0.0)
        check_int("border_count", self.border_count, 1, 65535)
        check_choice("auto_class_weights", self.auto_class_weights, _AUTO_CLASS_WEIGHTS,
                     type_error=ParameterError)
        _check_random_state(self.random_state)
        tc = check_int("thread_count", self.thread_count, -1)
        if tc == 0:
            raise ParameterError("`thread_count` must be -1 (all cores) or >= 1, got 0.")

    def _seed(self):
        rs = self.random_state
        if isinstance(rs, np.random.RandomState):
            return int(rs.randint(np.iinfo(np.int32).max))
        return rs

    def _pool(self, X, label=None, weight=None):
        return Pool(X, label=label, weight=weight, feature_names=self.feature_names())

    def _fit_codes(self, X, codes, sample_weight):
        params = dict(
            iterations=self.iterations, depth=self.depth, learning_rate=self.learning_rate,
            l2_leaf_reg=self.l2_leaf_reg, border_count=self.border_count,
            loss_function="Logloss" if len(self.classes_) == 2 else "MultiClass",
            thread_count=self.thread_count, allow_writing_files=False,
            nan_mode="Min",
        )
        if self.auto_class_weights is not None:
            params["auto_class_weights"] = self.auto_class_weights
        seed = self._seed()
        if seed is not None:
            params["random_seed"] = seed
        if self.verbose:
            params["verbose"] = self.verbose
        else:
            params["logging_level"] = "Silent"
        model = CatBoostClassifier(**params)
        model.fit(self._pool(X, codes, sample_weight))
        self.estimator_ = model

    def _predict_proba_array(self, X):
        return self.estimator_.predict_proba(self._pool(X), thread_count=self.thread_count)

    @property
    def feature_importances_(self):
        """CatBoost's PredictionValuesChange importance per feature (sums to 100)."""
        check_is_fitted(self, "estimator_")
        return np.asarray(self.estimator_.get_feature_importance(), dtype=np.float64)

    def shap_values(self, X):
        """Exact TreeSHAP values of the raw (log-odds) model output.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray
            Two classes: shape ``(n_samples, n_features + 1)``, contributions
            to the log-odds of ``classes_[1]``.  More classes: shape
            ``(n_samples, n_classes, n_features + 1)``, contributions to each
            class's raw score.  The last column is the expected value, so a
            row sums to the model's raw output
            (``estimator_.predict(X, prediction_type="RawFormulaVal")``).
        """
        arr = self._check_predict_X(X)
        return np.asarray(self.estimator_.get_feature_importance(
            data=self._pool(arr), type="ShapValues", thread_count=self.thread_count))

    def raw_predict(self, X):
        """Raw model output (log-odds for two classes, per-class scores otherwise)."""
        arr = self._check_predict_X(X)
        return np.asarray(self.estimator_.predict(self._pool(arr), prediction_type="RawFormulaVal",
                                                  thread_count=self.thread_count))

    @classmethod
    def search_space(cls, trial) -> dict:
        """Optuna search space: trees, depth, step size, L2 and class balancing."""
        return {
            "iterations": trial.suggest_int("iterations", 100, 1000, step=50),
            "depth": trial.suggest_int("depth", 3, 8),
            "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
            "l2_leaf_reg": trial.suggest_float("l2_leaf_reg", 1.0, 30.0, log=True),
            "auto_class_weights": trial.suggest_categorical(
                "auto_class_weights", [None, "Balanced", "SqrtBalanced"]),
        }
