"""Feature importance of a fitted adapter, and its stability across folds.

- :func:`feature_importance` -- one number per feature: mean absolute SHAP
  value (CatBoost), permutation importance on a held-out fold (any
  classifier), or the model's own (native) importance.
- :func:`importance_stability` -- how much the importance *ranking* agrees
  between folds (mean pairwise Spearman rank correlation).  Features whose
  rank jumps from fold to fold are fitting noise (Lopez de Prado 2018,
  ch. 8: "importance stability across folds").

References
----------
Lopez de Prado, M. (2018). *Advances in Financial Machine Learning*, Wiley,
chapter 8 (feature importance).
Lundberg, S. M. et al. (2020). From local explanations to global
understanding with explainable AI for trees. *Nature Machine Intelligence*
2, 56-67.
Breiman, L. (2001). Random forests. *Machine Learning* 45, 5-32
(permutation importance).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import log_loss, make_scorer
from sklearn.utils.validation import check_is_fitted

from ml._checks import check_choice, check_int
from ml.exceptions import ParameterError

__all__ = ["IMPORTANCE_METHODS", "feature_importance", "importance_stability"]

#: Accepted values of ``method`` in :func:`feature_importance`.
IMPORTANCE_METHODS = ("auto", "shap", "permutation", "native")
_CORR_METHODS = ("spearman", "kendall")


def _feature_names(model, X) -> list[str]:
    if hasattr(model, "feature_names"):
        return model.feature_names()
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    if isinstance(X, pd.DataFrame):
        return [str(c) for c in X.columns]
    return [f"x{i}" for i in range(np.shape(X)[1])]


def _resolve_method(model, method, y):
    if method != "auto":
        return method
    if hasattr(model, "shap_values"):
        return "shap"
    if y is not None:
        return "permutation"
    if _has_native(model):
        return "native"
    raise ParameterError(f"`method='auto'` found no SHAP or native importance in "
                         f"{type(model).__name__}; pass the labels `y` of a validation fold "
                         "for permutation importance.")


def _has_native(model) -> bool:
    try:
        return getattr(model, "feature_importances_", None) is not None
    except Exception:  # noqa: BLE001 - a property that cannot answer means "no"
        return False


class _NegLogLoss:
    """Negative log-loss scorer over fixed ``classes``: ``scorer(model, X, y, sample_weight=None)``.

    The numbers of ``make_scorer(log_loss, greater_is_better=False,
    response_method="predict_proba", labels=classes)`` (probabilities clipped to
    ``[eps, 1 - eps]``, the mean of ``-log p(true class)``, weighted when
    ``sample_weight`` is given; the tests hold them equal), without
    scikit-learn's per-call validation of the target and the probabilities,
    which costs more than the prediction itself on a fold's rows.  Permutation
    importance calls it ``n_features * n_repeats`` times on predictions of the
    same model, labels and classes, so those checks run once, here.
    """

    def __init__(self, classes):
        self.classes = np.asarray(classes)

    def __call__(self, estimator, X, y, sample_weight=None):
        p = np.asarray(estimator.predict_proba(X), dtype=np.float64)
        idx = np.searchsorted(self.classes, y)
        eps = np.finfo(p.dtype).eps
        loss = -np.log(np.clip(p[np.arange(len(idx)), idx], eps, 1 - eps))
        return -float(np.average(loss, weights=sample_weight))


def _log_loss_scorer(classes):
    if classes is None:  # a model without classes_: scikit-learn's scorer finds the labels itself
        return make_scorer(log_loss, greater_is_better=False, response_method="predict_proba")
    return _NegLogLoss(classes)


def feature_importance(model, X, y=None, method: str = "auto", *, sample_weight=None,
                       n_repeats: int = 5, scoring=None, random_state=0,
                       n_jobs=None) -> pd.Series:
    """Importance of each feature of a fitted classifier.

    Parameters
    ----------
    model : fitted adapter (or scikit-learn classifier)
    X : DataFrame or array-like of shape (n_samples, n_features)
        Rows to explain.  For ``"permutation"`` this must be a held-out
        (validation) fold: importance measured on training rows rewards
        overfitting.
    y : array-like of shape (n_samples,), optional
        Labels of ``X``; required for ``"permutation"``.
    method : {"auto", "shap", "permutation", "native"}, default="auto"
        - ``"shap"``: mean ``|SHAP value|`` over the rows of ``X`` (averaged
          over classes for more than two), from CatBoost's exact TreeSHAP
          (``get_feature_importance(type="ShapValues")``); CatBoost only.
        - ``"permutation"``: mean increase in log-loss when one feature's
          column is shuffled (``n_repeats`` shuffles with ``random_state``),
          via :func:`sklearn.inspection.permutation_importance`; any model.
        - ``"native"``: the model's ``feature_importances_`` (CatBoost:
          PredictionValuesChange; random forest: mean decrease in impurity).
        - ``"auto"``: ``"shap"`` when the model has SHAP values, else
          ``"permutation"`` when ``y`` is given, else ``"native"``.
    sample_weight : array-like of shape (n_samples,), optional
        Weights of the permutation score.
    n_repeats : int, default=5
    scoring : str or callable, optional
        Permutation score (higher is better); default: negative log-loss
        over ``model.classes_`` (so a fold missing a class still scores).
    random_state : int, default=0
        Seed of the permutations (fixed: the same call gives the same numbers).
    n_jobs : int or None, default=None
        Features permuted in parallel (joblib).

    Returns
    -------
    pandas.Series
        One value per feature, indexed by feature name (``feature_names_in_``
        or ``x0, x1, ...``) in the model's feature order; ``name`` is the
        method used.  Larger is more important; permutation importance can be
        negative (shuffling the feature helped).

    Examples
    --------
    >>> imp = feature_importance(model, X_val, y_val, method="permutation")  # doctest: +SKIP
    >>> imp.sort_values(ascending=False).head(10)                            # doctest: +SKIP
    """
    check_choice("method", method, IMPORTANCE_METHODS, type_error=ParameterError)
    check_is_fitted(model)
    resolved = _resolve_method(model, method, y)
    names = _feature_names(model, X)

    if resolved == "shap":
        if not hasattr(model, "shap_values"):
            raise ParameterError(f"`method='shap'` needs a model with exact tree SHAP values "
                                 f"(CatBoostModel), got {type(model).__name__}; use "
                                 "method='permutation' with a validation fold.")
        shap = np.abs(np.asarray(model.shap_values(X)))
        values = shap[..., :-1].mean(axis=tuple(range(shap.ndim - 1)))
    elif resolved == "native":
        if not _has_native(model):
            raise ParameterError(f"{type(model).__name__} has no native feature importance; "
                                 "use method='permutation' with a validation fold.")
        values = np.asarray(model.feature_importances_, dtype=np.float64)
    else:
        if y is None:
            raise ParameterError("`y` is required for method='permutation': pass the labels "
                                 "of the validation fold `X`.")
        check_int("n_repeats", n_repeats, 1, type_error=ParameterError)
        y_arr = np.asarray(y.to_numpy() if isinstance(y, (pd.Series, pd.DataFrame)) else y)
        y_arr = y_arr.reshape(-1) if y_arr.ndim == 2 and y_arr.shape[1] == 1 else y_arr
        if len(y_arr) != np.shape(X)[0]:
            raise ParameterError(f"`X` has {np.shape(X)[0]} rows but `y` has {len(y_arr)}; "
                                 "they must be aligned row for row.")
        if pd.isna(y_arr).any():
            raise ParameterError("`y` holds missing labels; drop those rows from `X` and `y`.")
        classes = getattr(model, "classes_", None)
        if classes is not None:
            unknown = sorted(set(np.unique(y_arr).tolist()) - set(np.asarray(classes).tolist()))
            if unknown:
                raise ParameterError(f"`y` holds labels {unknown} the model never saw in fit "
                                     f"(classes_ = {np.asarray(classes).tolist()}).")
        if scoring is None:
            scoring = _log_loss_scorer(classes)
        result = permutation_importance(model, X, y_arr, scoring=scoring, n_repeats=n_repeats,
                                        random_state=random_state, n_jobs=n_jobs,
                                        sample_weight=sample_weight)
        values = result.importances_mean
    values = np.asarray(values, dtype=np.float64)
    if len(values) != len(names):  # pragma: no cover - defensive
        raise ParameterError(f"the model reports {len(values)} importances for "
                             f"{len(names)} features.")
    return pd.Series(values, index=pd.Index(names, name="feature"), name=resolved)


def _as_frame(importances, allow_nan: bool = False) -> pd.DataFrame:
    if isinstance(importances, pd.DataFrame):
        frame = importances.copy()
        if not frame.index.is_unique:
            raise ParameterError("`importances` names a feature twice (duplicate index).")
        if not frame.columns.is_unique:
            raise ParameterError("`importances` has two folds with the same column name.")
    elif isinstance(importances, dict):
        frame = _series_frame(list(importances.values()), list(importances.keys()))
    elif isinstance(importances, (list, tuple)):
        names = [getattr(s, "name", None) for s in importances]
        if any(n is None for n in names) or len(set(names)) != len(names):
            names = [f"fold_{i}" for i in range(len(importances))]
        frame = _series_frame(list(importances), names)
    else:
        raise TypeError(f"`importances` must be a list of Series (one per fold), a dict of "
                        f"them or a DataFrame (features x folds), got {type(importances).__name__}.")
    if frame.shape[1] < 2:
        raise ParameterError(f"`importances` must hold at least 2 folds to compare, got "
                             f"{frame.shape[1]}.")
    if frame.shape[0] < 2:
        raise ParameterError(f"`importances` must rank at least 2 features, got {frame.shape[0]}.")
    for col in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[col].dtype) \
                or pd.api.types.is_bool_dtype(frame[col].dtype):
            raise TypeError(f"`importances` fold {col!r} must be numeric, got dtype "
                            f"{frame[col].dtype}.")
    frame = frame.astype(np.float64)
    bad = frame.isna().any()
    if bad.any() and not allow_nan:
        col = bad.index[bad.to_numpy()][0]
        raise ParameterError(f"`importances` fold {col!r} holds NaN for "
                             f"{int(frame[col].isna().sum())} features; every fold must score "
                             "every feature.")
    return frame


def _series_frame(series: list, names: list) -> pd.DataFrame:
    first = None
    columns = {}
    for name, s in zip(names, series):
        if not isinstance(s, pd.Series):
            s = pd.Series(np.asarray(s, dtype=np.float64))
        if not s.index.is_unique:
            raise ParameterError(f"`importances` fold {name!r} names a feature twice.")
        if first is None:
            first = s.index
        elif not s.index.equals(first):
            missing = [f for f in first if f not in s.index]
            extra = [f for f in s.index if f not in first]
            if missing or extra:
                raise ParameterError(f"`importances` fold {name!r} ranks other features than the "
                                     f"first fold (missing {missing[:5]}, extra {extra[:5]}); "
                                     "compare folds fitted on the same feature set.")
            s = s.reindex(first)
        columns[name] = s.to_numpy()
    return pd.DataFrame(columns, index=first)


def importance_stability(importances, *, method: str = "spearman", missing: str = "error",
                         min_shared: int = 3) -> dict:
    """Agreement of feature-importance rankings across folds.

    Parameters
    ----------
    importances : list of Series, dict of Series, or DataFrame
        One importance vector per fold (e.g. from :func:`feature_importance`),
        all over the same features; a DataFrame has features as rows and
        folds as columns (``pd.concat(list_of_series, axis=1)``).  Series are
        aligned by feature name.
    method : {"spearman", "kendall"}, default="spearman"
        Rank correlation.
    missing : {"error", "shared"}, default="error"
        What a NaN importance means.  ``"error"``: every fold must score every
        feature.  ``"shared"``: NaN marks a feature the fold did not use (e.g.
        not selected); each pair of folds is compared on the features both
        scored, so the figure measures ranking agreement, not selection
        overlap (report that separately).
    min_shared : int, default=3
        With ``missing="shared"``, pairs sharing fewer features get NaN.

    Returns
    -------
    dict
        - ``"mean"``: mean pairwise rank correlation over the
          ``n_folds * (n_folds - 1) / 2`` pairs of folds (1: the same ranking
          in every fold; about 0: unrelated rankings);
        - ``"std"``, ``"min"``: spread and worst pair;
        - ``"matrix"``: DataFrame (n_folds x n_folds) of the correlations;
        - ``"ranks"``: DataFrame (features x folds), rank 1 = most important;
        - ``"mean_rank"``: Series, each feature's mean rank, best first;
        - ``"n_folds"``, ``"method"``.

    Notes
    -----
    Values are ranked as given (largest = rank 1, ties share their average
    rank): negative permutation importances rank below zero ones.  Spearman's
    rho between folds ``a`` and ``b`` is the Pearson correlation of their
    ranks.  A fold whose importances are all equal has no ranking; its
    correlations are NaN, a warning names it, and the summary statistics
    skip it.
    """
    check_choice("method", method, _CORR_METHODS, type_error=ParameterError)
    check_choice("missing", missing, ("error", "shared"), type_error=ParameterError)
    frame = _as_frame(importances, allow_nan=missing == "shared")
    matrix = frame.corr(method=method, min_periods=max(2, int(min_shared)))
    flat = frame.columns[(frame.nunique() <= 1).to_numpy()]
    if len(flat):
        warnings.warn(f"importance_stability: fold(s) {list(flat)} give every feature the same "
                      "importance (no ranking); their correlations are NaN and left out of "
                      "the summary.", UserWarning, stacklevel=2)
    pairs = np.array([matrix.iloc[i, j] for i, j in
                      itertools.combinations(range(frame.shape[1]), 2)], dtype=np.float64)
    finite = pairs[np.isfinite(pairs)]
    ranks = frame.rank(ascending=False, method="average")
    return {
        "mean": float(finite.mean()) if len(finite) else float("nan"),
        "std": float(finite.std()) if len(finite) else float("nan"),
        "min": float(finite.min()) if len(finite) else float("nan"),
        "matrix": matrix,
        "ranks": ranks,
        "mean_rank": ranks.mean(axis=1).sort_values().rename("mean_rank"),
        "n_folds": int(frame.shape[1]),
        "method": method,
    }
