"""Regime-weighted blending of base classifiers, as one estimator (``--model blend``).

:class:`RegimeBlendEnsemble` chains what :mod:`ml.ensemble` and
:mod:`ml.models` already hold: the base models' out-of-fold probabilities
(:class:`StackingEnsemble`'s, over a purged splitter), a market regime per row
from a Gaussian mixture on causal volatility features
(:class:`ml.models.RegimeModel`), and one log-loss-optimal weight vector per
regime (:class:`BlendingEnsemble`, ``regime_aware=True``).  A walk-forward fold
fits it like any classifier.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from ml.ensemble._blending import BlendingEnsemble
from ml.ensemble._stacking import StackingEnsemble
from ml.exceptions import ParameterError

__all__ = ["RegimeBlendEnsemble"]

#: Rows whose regime cannot be told (a volatility feature still warming up) get this label at
#: prediction time: unseen in fit, so the blend uses the global weights there.
_NO_REGIME = -1


class RegimeBlendEnsemble(ClassifierMixin, BaseEstimator):
    """Blend base classifiers with weights learned per market regime, out of fold.

    Parameters
    ----------
    estimators : list of (str, classifier)
        Base models (at least two), as for :class:`StackingEnsemble`.
    cv : int, splitter or iterable, default 5
        Splitter of the out-of-fold probabilities (use a purged one with
        overlapping labels, e.g. ``PurgedKFold(5, t1=...)``).
    n_regimes : int, default 2
        Regimes of the :class:`ml.models.RegimeModel` (2 to 5).
    regime_columns : list of str, optional
        Columns of ``X`` the regimes are learned from.  Default: every column
        whose name starts with ``vol_`` (the realised-volatility features of
        :func:`ml.features.build_features`), else the first three columns
        (``regime_columns_`` records which).
    min_weight, min_regime_samples :
        As for :class:`BlendingEnsemble` (a regime with too few rows uses the
        global weights).
    random_state : int, default 0
        Seed of the regime mixture.
    n_jobs : int, optional
        Base-model folds in parallel (joblib).

    Attributes
    ----------
    stack_ : StackingEnsemble
        Holds the out-of-fold probabilities (``oof_proba_``) and the base
        models refitted on all rows (its own final estimator is not used).
    regime_model_ : RegimeModel
    blender_ : BlendingEnsemble
        ``weights_`` has one row per regime.
    regime_columns_ : list of str
    classes_ : ndarray

    Notes
    -----
    A row's regime is the mixture's most probable component given that row's
    features alone, so it is as causal as the features.  Rows whose regime
    features are missing (warm-up) are left out of the weight fit and blended
    with the global weights when predicted.
    """

    def __init__(self, estimators, cv=5, n_regimes=2, regime_columns=None, min_weight=0.0,
                 min_regime_samples=100, random_state=0, n_jobs=None):
        self.estimators = estimators
        self.cv = cv
        self.n_regimes = n_regimes
        self.regime_columns = regime_columns
        self.min_weight = min_weight
        self.min_regime_samples = min_regime_samples
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _columns(self, X) -> list:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"`X` must be a DataFrame (regime columns are found by name), got {type(X).__name__}.")
        if self.regime_columns is not None:
            missing = [c for c in self.regime_columns if c not in X.columns]
            if missing:
                raise ParameterError(f"`regime_columns` {missing!r} are not columns of `X`.")
            return list(self.regime_columns)
        cols = [c for c in X.columns if str(c).startswith("vol_")]
        return cols or list(X.columns[:3])

    def _regimes(self, X, missing_label):
        """Most probable regime per row; ``missing_label`` where the regime features are incomplete."""
        proba = np.asarray(self.regime_model_.predict_proba(X[self.regime_columns_]), dtype=np.float64)
        ok = np.isfinite(proba).all(axis=1)
        out = np.full(len(proba), missing_label, dtype=np.float64)
        out[ok] = np.argmax(proba[ok], axis=1)
        return out

    def fit(self, X, y, sample_weight=None, groups=None):
        """Out-of-fold base probabilities, regimes, per-regime weights; then the base models on all rows."""
        from ml.models._regime import RegimeModel

        self.regime_columns_ = self._columns(X)
        self.stack_ = StackingEnsemble(self.estimators, cv=self.cv, n_jobs=self.n_jobs).fit(
            X, y, sample_weight=sample_weight, groups=groups)
        self.classes_ = self.stack_.classes_
        self.regime_model_ = RegimeModel(n_regimes=self.n_regimes, random_state=self.random_state).fit(
            X[self.regime_columns_])
        self.blender_ = BlendingEnsemble(weights="optimize", regime_aware=True, min_weight=self.min_weight,
                                         min_regime_samples=self.min_regime_samples).fit(
            self.stack_.oof_proba_, y, regimes=self._regimes(X, np.nan), sample_weight=sample_weight,
            classes=self.classes_)
        self.n_features_in_ = self.stack_.n_features_in_
        if hasattr(self.stack_, "feature_names_in_"):
            self.feature_names_in_ = self.stack_.feature_names_in_
        return self

    def predict_proba(self, X):
        """Blended probabilities, columns in ``classes_`` order."""
        check_is_fitted(self, "blender_")
        probas, _ = self.stack_._base_probas(X)
        named = dict(zip(self.stack_.named_estimators_, probas))
        return self.blender_.predict_proba(named, regimes=self._regimes(X, _NO_REGIME))

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
