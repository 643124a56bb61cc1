"""scikit-learn classifiers as adapters: L2 logistic regression, random forest, RBF SVM and MLP.

This module also holds the input validation every tabular classifier adapter
shares (:class:`TabularClassifierAdapter`), so that all of them reject the same
bad inputs with the same messages:

- ``X``: a DataFrame or 2-D array of numbers (``bool`` allowed), NaN allowed
  (warm-up rows of rolling features), ``+-inf`` rejected;
- ``y``: one label per row of ``X``, any hashable labels (e.g. ``-1/0/1``,
  strings), no missing labels, at least two classes;
- ``sample_weight``: ``None`` or one finite weight ``>= 0`` per row, not all zero.

Every adapter trains its underlying model on the integer codes ``0 .. k-1``
of ``classes_`` (sorted labels), so the columns of ``predict_proba`` are in
``classes_`` order by construction.
"""

from __future__ import annotations

import copy
from abc import ABCMeta, abstractmethod
import inspect
import math
import numbers
import warnings

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.svm import SVC
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ml._checks import check_bool, check_int, check_real
from ml.exceptions import DataQualityWarning, ParameterError
from ml.models._base import BaseClassifierAdapter

__all__ = ["LogisticModel", "MLPModel", "RandomForestModel", "SVMModel", "TabularClassifierAdapter"]


# --------------------------------------------------------------------------- parameters
def _check_random_state(value):
    if value is None or isinstance(value, np.random.RandomState):
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`random_state` must be an int, a numpy RandomState or None, "
                        f"got {type(value).__name__} {value!r}.")
    if not 0 <= value < 2**32:
        raise ParameterError(f"`random_state` must be in [0, 2**32 - 1], got {int(value)!r}.")
    return int(value)


# --------------------------------------------------------------------------- inputs
def _is_numeric_dtype(dtype) -> bool:
    return pd.api.types.is_bool_dtype(dtype) or (
        pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype))


def check_X(X, *, name: str = "X"):
    """``X`` as a float64 array of shape (n_samples, n_features) and its feature names.

    Returns
    -------
    array : ndarray of float64
    names : list of str or None
        Column names of a DataFrame whose column names are all strings
        (scikit-learn's rule for ``feature_names_in_``), else ``None``.
    """
    if X is None:
        raise ParameterError(f"`{name}` is required: a DataFrame or 2-D array of shape "
                             "(n_samples, n_features).")
    if hasattr(X, "tocsr") or hasattr(X, "toarray"):
        raise TypeError(f"`{name}` must be dense (DataFrame or ndarray), got a sparse "
                        f"{type(X).__name__}; convert it with `.toarray()`.")
    names = None
    if isinstance(X, pd.Series):
        raise ParameterError(f"`{name}` must be 2-D of shape (n_samples, n_features), got a "
                             f"Series; use `{name}.to_frame()` for one feature.")
    if isinstance(X, pd.DataFrame):
        dtypes = X.dtypes
        for dtype in set(dtypes):  # each distinct dtype once (a feature frame has one or two)
            if not _is_numeric_dtype(dtype):
                col = next(c for c, d in dtypes.items() if d == dtype)
                raise TypeError(f"`{name}` column {col!r} has dtype {dtype}; every feature must "
                                "be numeric (encode categorical or text columns first).")
        cols = X.columns.tolist()
        if all(isinstance(c, str) for c in cols):
            names = cols
        arr = X.to_numpy(dtype=np.float64, na_value=np.nan) if X.shape[1] else np.empty(X.shape)
    else:
        arr = np.asarray(X)
        if arr.dtype.kind not in "biuf":
            if arr.dtype.kind == "O":
                try:
                    arr = arr.astype(np.float64)
                except (TypeError, ValueError) as exc:
                    raise TypeError(f"`{name}` must hold numbers only, got an object array "
                                    f"with non-numeric values ({exc}).") from None
            elif arr.dtype.kind == "c":
                raise ParameterError(f"Complex data not supported: `{name}` has dtype {arr.dtype}; features "
                                     "must be real numbers.")
            else:
                raise TypeError(f"`{name}` must be numeric, got dtype {arr.dtype}.")
        arr = arr.astype(np.float64, copy=False)
    if arr.ndim != 2:
        hint = (f"; Reshape your data with `{name}.reshape(-1, 1)` for one feature or `{name}.reshape(1, -1)` "
                "for one sample") if arr.ndim == 1 else ""
        raise ParameterError(f"`{name}` must be 2-D of shape (n_samples, n_features), "
                             f"got {arr.ndim}-D with shape {arr.shape}{hint}.")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        what = (f"0 sample(s) (shape={arr.shape}) while a minimum of 1 is required" if arr.shape[0] == 0 else
                f"0 feature(s) (shape={arr.shape}) while a minimum of 1 is required")
        raise ParameterError(f"`{name}` must have at least one row and one column: found {what}.")
    inf = np.isinf(arr)
    if inf.any():
        rows, cols = np.nonzero(inf)
        col = names[cols[0]] if names else int(cols[0])
        raise ParameterError(f"`{name}` column {col!r} holds +-inf (first at row {int(rows[0])}, "
                             f"{int(inf.sum())} values in all); replace inf with NaN "
                             "(missing) or a finite value, nothing is replaced silently.")
    return arr, names


def check_y(y, n_samples: int, X=None, *, estimator: str = "this classifier"):
    """Labels ``y`` as a 1-D array aligned with ``X``; at least two classes, no missing labels,
    class labels rather than a continuous target."""
    if y is None:
        raise ParameterError(f"`y` is required: {estimator} requires y to be passed, but the target y is None; "
                             "pass one class label per row of `X`.")
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise ParameterError(f"`y` must be 1-D (one label per row), got a DataFrame with "
                                 f"{y.shape[1]} columns; pass the label column, e.g. y['label'].")
        y = y.iloc[:, 0]
    if isinstance(y, pd.Series) and isinstance(X, (pd.DataFrame, pd.Series)):
        if len(y) == len(X) and not y.index.equals(X.index):
            raise ParameterError("`y` index differs from `X` index; align them first "
                                 "(e.g. `y = y.reindex(X.index)` and drop missing labels) "
                                 "or pass arrays; rows are never realigned silently.")
    arr = y.to_numpy() if isinstance(y, pd.Series) else np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = column_or_1d(arr, warn=True)     # scikit-learn's DataConversionWarning for a column vector
    if arr.ndim != 1:
        raise ParameterError(f"`y` must be 1-D (one label per row), got shape {arr.shape}.")
    if len(arr) != n_samples:
        raise ParameterError(f"`X` has {n_samples} rows but `y` has {len(arr)}; they must be "
                             "aligned row for row.")
    missing = np.asarray(pd.isna(arr))
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        raise ParameterError(f"`y` holds {int(missing.sum())} missing labels (first at row "
                             f"{first}); drop those rows from `X` and `y` (e.g. "
                             "`keep = y.notna()`), labels are never filled silently.")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ParameterError("`y` holds +-inf; class labels must be finite.")
    try:
        classes, codes = np.unique(arr, return_inverse=True)
    except TypeError as exc:
        raise TypeError(f"`y` labels must be mutually comparable (e.g. all numbers or all "
                        f"strings): {exc}") from None
    if len(classes) < 2:
        raise ParameterError(f"`y` must hold at least 2 classes, got 1 class {classes.tolist()}; "
                             "a classifier cannot learn from a single label.")
    check_not_continuous(arr)
    return classes, codes.reshape(-1).astype(np.int64)


def check_not_continuous(y) -> None:
    """Refuse a continuous target (e.g. float returns): a classifier would learn one class per value."""
    arr = np.asarray(y)
    if arr.dtype.kind in "fc" and type_of_target(arr) == "continuous":
        raise ParameterError(f"Unknown label type: continuous. `y` holds {len(np.unique(arr))} distinct non-integer "
                             "values (e.g. returns), not class labels; a classifier would learn one class per "
                             "value. Label the bars first (ml.labels: triple_barrier_labels, "
                             "fixed_horizon_labels) or pass np.sign(returns).")


def check_sample_weight(sample_weight, n_samples: int):
    """``None`` or finite weights >= 0, one per row, not all zero, as float64."""
    if sample_weight is None:
        return None
    w = sample_weight.to_numpy() if isinstance(sample_weight, pd.Series) else np.asarray(sample_weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"`sample_weight` must be numeric, got dtype {w.dtype}.")
    w = w.astype(np.float64).reshape(-1) if w.ndim == 2 and 1 in w.shape else w.astype(np.float64)
    if w.ndim != 1 or len(w) != n_samples:
        raise ParameterError(f"`sample_weight` must hold one weight per row of `X` "
                             f"({n_samples}), got shape {w.shape}.")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ParameterError("`sample_weight` must hold finite weights >= 0, got "
                             f"min {np.nanmin(w)!r} and {int((~np.isfinite(w)).sum())} non-finite.")
    if w.sum() <= 0:
        raise ParameterError("`sample_weight` must not be all zero.")
    return w


# --------------------------------------------------------------------------- base
class TabularClassifierAdapter(BaseClassifierAdapter, metaclass=ABCMeta):
    """Shared ``fit``/``predict_proba`` template of the tabular classifier adapters.

    Subclasses implement ``_check_params()``, ``_fit_codes(X, codes,
    sample_weight)`` (``X`` float64 with NaN, ``codes`` in ``0 .. k-1``) and
    ``_predict_proba_array(X)``.

    Attributes (after ``fit``)
    --------------------------
    classes_ : ndarray of shape (n_classes,)
        Sorted class labels; the columns of ``predict_proba``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` was a DataFrame with string column names.
    """

    def _check_params(self) -> None:  # pragma: no cover - overridden
        pass

    @abstractmethod
    def _fit_codes(self, X, codes, sample_weight):
        """Fit the wrapped model on ``X`` (float64, NaN allowed) and integer ``codes``."""

    @abstractmethod
    def _predict_proba_array(self, X):
        """Probabilities of shape (n_samples, n_classes) in code order."""

    def fit(self, X, y, sample_weight=None):
        """Fit on features ``X`` and class labels ``y``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Numeric features; NaN allowed.
        y : array-like of shape (n_samples,)
            Class labels (any sortable labels, e.g. -1/0/1); no missing labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights (e.g. label uniqueness).

        Returns
        -------
        self
        """
        self._check_params()
        arr, names = check_X(X)
        classes, codes = check_y(y, arr.shape[0], X, estimator=type(self).__name__)
        w = check_sample_weight(sample_weight, arr.shape[0])
        if w is not None:
            weighted = np.bincount(codes, weights=w, minlength=len(classes)) > 0
            if weighted.sum() < 2:
                raise ParameterError(f"`sample_weight` leaves {int(weighted.sum())} class with a positive weight "
                                     f"({classes[weighted].tolist()} of {classes.tolist()}); a classifier needs at "
                                     "least 2 classes that weigh something.")
        for attr in ("feature_names_in_",):
            if hasattr(self, attr):
                delattr(self, attr)
        self.classes_ = classes
        self.n_features_in_ = arr.shape[1]
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        self._fit_codes(arr, codes, w)
        return self

    def _check_predict_X(self, X):
        check_is_fitted(self, "classes_")
        arr, names = check_X(X)
        if arr.shape[1] != self.n_features_in_:
            raise ParameterError(f"`X` has {arr.shape[1]} features but the model was fitted with "
                                 f"{self.n_features_in_} (X has {arr.shape[1]} features, but {type(self).__name__} "
                                 f"is expecting {self.n_features_in_} features as input).")
        fitted = getattr(self, "feature_names_in_", None)
        if fitted is not None and names is not None and list(fitted) != names:
            missing = [c for c in fitted if c not in names]
            extra = [c for c in names if c not in set(fitted)]
            detail = (f"missing {missing[:5]}, unexpected {extra[:5]}" if missing or extra
                      else "same columns in a different order")
            raise ParameterError(f"`X` columns differ from those seen in fit ({detail}); "
                                 "select them in fit order with `X[model.feature_names_in_]`.")
        return arr

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns in ``classes_`` order; every row sums to 1.
        """
        arr = self._check_predict_X(X)
        proba = np.asarray(self._predict_proba_array(arr), dtype=np.float64)
        proba = np.clip(proba, 0.0, 1.0)
        return proba / proba.sum(axis=1, keepdims=True)

    def feature_names(self) -> list[str]:
        """Names of the fitted features: ``feature_names_in_`` or ``x0, x1, ...``."""
        check_is_fitted(self, "classes_")
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return [str(n) for n in names]
        return [f"x{i}" for i in range(self.n_features_in_)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def _codes_class_weight(class_weight, classes):
    """Translate a ``{label: weight}`` ``class_weight`` to the integer codes the model sees."""
    if not isinstance(class_weight, dict):
        return class_weight
    lookup = {c: i for i, c in enumerate(classes.tolist())}
    out = {}
    for label, weight in class_weight.items():
        key = label.item() if isinstance(label, np.generic) else label
        if key not in lookup:
            raise ParameterError(f"`class_weight` has key {label!r}, which is not a class of `y` "
                                 f"({classes.tolist()}).")
        out[lookup[key]] = weight
    return out


def _imputer():
    return SimpleImputer(strategy="median", keep_empty_features=True)


def _rf_supports_nan() -> bool:
    try:
        return bool(RandomForestClassifier().__sklearn_tags__().input_tags.allow_nan)
    except AttributeError:  # scikit-learn < 1.6
        return bool(RandomForestClassifier()._get_tags().get("allow_nan", False))


# --------------------------------------------------------------------------- logistic regression
class LogisticModel(TabularClassifierAdapter):
    """L2-regularised logistic regression on standardised, clipped features (scikit-learn).

    The model is ``SimpleImputer(median) -> StandardScaler -> clip to +-clip ->
    LogisticRegression``: missing values take the training rows' medians, every
    feature the training rows' mean and standard deviation, values beyond
    ``clip`` standard deviations are clipped (a level-type feature that drifts
    out of its training range cannot push a probability to 0 or 1), and the
    coefficients carry an L2 penalty of ``alpha / 2 * ||w||^2`` per unit of
    training weight.  The penalty is per row, unlike scikit-learn's ``C``, so
    its strength does not change with the length of the training window:
    scikit-learn gets ``C = 1 / (alpha * sum of the sample weights)``.

    On intraday bars, where a real edge is a directional AUC of a few
    hundredths, a linear model with a firm penalty overfits the noise far less
    than boosted trees or a deep forest.

    Parameters
    ----------
    alpha : float, default=1.0
        Per-row L2 penalty (larger: stronger shrinkage toward 0).
    clip : float or None, default=5.0
        Standardised feature values are clipped to ``[-clip, clip]``; None: no clipping.
    class_weight : "balanced", dict or None, default="balanced"
        A dict is keyed by the labels of ``y``.
    max_iter : int, default=1000
    random_state : int, RandomState or None, default=0
        Unused by the lbfgs solver (the fit is deterministic); kept so every
        adapter takes ``random_state``.

    Attributes (after ``fit``)
    --------------------------
    coef_ : ndarray of shape (n_classes or 1, n_features)
        Coefficients on the standardised features.
    feature_importances_ : ndarray of shape (n_features,)
        ``|coef_|`` summed over classes, normalised to sum to 1.
    """

    name = "logistic"

    def __init__(self, alpha=1.0, clip=5.0, class_weight="balanced", max_iter=1000, random_state=0):
        self.alpha = alpha
        self.clip = clip
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.random_state = random_state

    def _check_params(self):
        check_real("alpha", self.alpha, lo=0.0, lo_open=True)
        if self.clip is not None:
            check_real("clip", self.clip, lo=0.0, lo_open=True)
        check_int("max_iter", self.max_iter, 1)
        _check_random_state(self.random_state)

    def _fit_codes(self, X, codes, sample_weight):
        total = float(len(codes) if sample_weight is None else np.sum(sample_weight))
        model = LogisticRegression(C=1.0 / (self.alpha * total),
                                   class_weight=_codes_class_weight(self.class_weight, self.classes_),
                                   max_iter=self.max_iter)
        steps = [("impute", _imputer()), ("scale", StandardScaler())]
        if self.clip is not None:
            steps.append(("clip", FunctionTransformer(np.clip, kw_args={"a_min": -self.clip, "a_max": self.clip})))
        pipe = Pipeline([*steps, ("model", model)])
        # the weights reach the scaler too, so a row of weight 2 counts as that row twice
        fit_params = {} if sample_weight is None else {"model__sample_weight": sample_weight,
                                                       "scale__sample_weight": sample_weight}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.estimator_ = pipe.fit(X, codes, **fit_params)

    @property
    def n_iter_(self) -> int:
        """Iterations the solver ran."""
        check_is_fitted(self, "estimator_")
        return int(np.max(self.estimator_[-1].n_iter_))

    def _predict_proba_array(self, X):
        return self.estimator_.predict_proba(X)

    @property
    def coef_(self):
        check_is_fitted(self, "estimator_")
        return self.estimator_[-1].coef_

    @property
    def feature_importances_(self):
        """``|coef_|`` on the standardised features, summed over classes, normalised to 1."""
        imp = np.abs(self.coef_).sum(axis=0)
        total = imp.sum()
        return imp / total if total > 0 else np.full(imp.shape, 1.0 / max(len(imp), 1))

    @classmethod
    def search_space(cls, trial) -> dict:
        """Optuna search space: the penalty on a log scale."""
        return {
            "alpha": trial.suggest_float("alpha", 1e-3, 10.0, log=True),
            "class_weight": trial.suggest_categorical("class_weight", ["balanced", None]),
        }


# --------------------------------------------------------------------------- random forest
class RandomForestModel(TabularClassifierAdapter):
    """Random forest classifier (scikit-learn), NaN handled natively.

    Parameters
    ----------
    n_estimators : int, default=300
    max_depth : int or None, default=None
    min_samples_leaf : int or float, default=20
    max_features : {"sqrt", "log2"}, int, float or None, default="sqrt"
    max_samples : int, float or None, default=None
        Rows drawn per tree (bootstrap); a fraction < 1 decorrelates trees
        trained on overlapping labels (Lopez de Prado 2018, ch. 6).
    class_weight : "balanced", "balanced_subsample", dict or None, default="balanced"
        A dict is keyed by the labels of ``y`` (e.g. ``{-1: 1, 0: 3, 1: 1}``).
    random_state : int, RandomState or None, default=0
    n_jobs : int or None, default=1

    Notes
    -----
    scikit-learn >= 1.4 forests split on NaN natively (missing values go to
    the side that lowers impurity most); on an older version the adapter
    imputes the training medians first.  ``feature_importances_`` is the mean
    decrease in impurity (MDI) of the forest.

    References
    ----------
    Breiman, L. (2001). Random forests. *Machine Learning* 45, 5-32.
    """

    name = "random_forest"

    def __init__(self, n_estimators=300, max_depth=None, min_samples_leaf=20,
                 max_features="sqrt", max_samples=None, class_weight="balanced",
                 random_state=0, n_jobs=1):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.max_samples = max_samples
        self.class_weight = class_weight
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _check_params(self):
        check_int("n_estimators", self.n_estimators, 1)
        check_int("max_depth", self.max_depth, 1, allow_none=True)
        _check_random_state(self.random_state)

    def _fit_codes(self, X, codes, sample_weight):
        rf = RandomForestClassifier(
            n_estimators=self.n_estimators, max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf, max_features=self.max_features,
            max_samples=self.max_samples,
            class_weight=_codes_class_weight(self.class_weight, self.classes_),
            random_state=self.random_state, n_jobs=self.n_jobs)
        if _rf_supports_nan():
            self.estimator_ = rf.fit(X, codes, sample_weight=sample_weight)
        else:  # pragma: no cover - scikit-learn < 1.4
            self.estimator_ = Pipeline([("impute", _imputer()), ("model", rf)]).fit(
                X, codes, model__sample_weight=sample_weight)

    def _predict_proba_array(self, X):
        return self.estimator_.predict_proba(X)

    @property
    def feature_importances_(self):
        """Mean decrease in impurity per feature (sums to 1)."""
        check_is_fitted(self, "estimator_")
        est = self.estimator_
        return (est[-1] if isinstance(est, Pipeline) else est).feature_importances_

    @classmethod
    def search_space(cls, trial) -> dict:
        """Optuna search space (Lopez de Prado-style shallow, bagged forests)."""
        return {
            "n_estimators": trial.suggest_int("n_estimators", 100, 600, step=50),
            "max_depth": trial.suggest_categorical("max_depth", [None, 4, 6, 8, 12]),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 5, 200, log=True),
            "max_features": trial.suggest_float("max_features", 0.05, 0.5),
            "max_samples": trial.suggest_float("max_samples", 0.1, 1.0),
            "class_weight": trial.suggest_categorical(
                "class_weight", ["balanced", "balanced_subsample", None]),
        }


# --------------------------------------------------------------------------- SVM
class SVMModel(TabularClassifierAdapter):
    """RBF support vector classifier with calibrated probabilities.

    The model is ``SimpleImputer(median) -> StandardScaler ->
    CalibratedClassifierCV(SVC, method=calibration, cv=calibration_folds,
    ensemble=False)``: the SVC is fitted on all rows, and a sigmoid (Platt)
    or isotonic map from its decision values to probabilities is fitted on
    out-of-fold decision values of ``calibration_folds`` stratified,
    unshuffled folds.  This is scikit-learn's replacement for the deprecated
    ``SVC(probability=True)`` (which used random internal folds); with
    unshuffled folds nothing is random, so the probabilities are fully
    deterministic, and ``predict`` is the arg-max of ``predict_proba``.
    Multiclass probabilities are one-vs-rest calibrations normalised to
    sum to 1.

    Parameters
    ----------
    C : float, default=1.0
    gamma : "scale", "auto" or float, default="scale"
    kernel : str, default="rbf"
    class_weight : "balanced", dict or None, default="balanced"
        A dict is keyed by the labels of ``y``.
    calibration : {"sigmoid", "isotonic"}, default="sigmoid"
    calibration_folds : int, default=5
        Every class needs at least this many training rows.
    max_train_rows : int or None, default=None
        Fitting an SVC costs O(n^2) to O(n^3) time and O(n^2) kernel cache;
        when set, only the *last* ``max_train_rows`` rows (the most recent,
        if rows are in time order) are used and a
        :class:`~ml.exceptions.DataQualityWarning` says how many were left
        out (``n_train_rows_`` records it).  Around 20,000 rows fit in tens
        of seconds.
    cache_size : float, default=500
        libsvm kernel cache in MB.
    random_state : int, RandomState or None, default=0
        Passed to the SVC; with ``probability`` off it has no effect, kept
        so every adapter takes ``random_state``.

    Notes
    -----
    NaN are imputed with the medians of the training rows, then features are
    standardised with the training rows' mean and std.
    """

    name = "svm"

    def __init__(self, C=1.0, gamma="scale", kernel="rbf", class_weight="balanced",
                 calibration="sigmoid", calibration_folds=5, max_train_rows=None,
                 cache_size=500, random_state=0):
        self.C = C
        self.gamma = gamma
        self.kernel = kernel
        self.class_weight = class_weight
        self.calibration = calibration
        self.calibration_folds = calibration_folds
        self.max_train_rows = max_train_rows
        self.cache_size = cache_size
        self.random_state = random_state

    def _check_params(self):
        check_real("C", self.C, lo=0.0, lo_open=True)
        if self.calibration not in ("sigmoid", "isotonic"):
            raise ParameterError(f"`calibration` must be 'sigmoid' or 'isotonic', got "
                                 f"{self.calibration!r}.")
        check_int("calibration_folds", self.calibration_folds, 2)
        check_int("max_train_rows", self.max_train_rows, 2, allow_none=True)
        _check_random_state(self.random_state)

    def _fit_codes(self, X, codes, sample_weight):
        n = len(codes)
        if self.max_train_rows is not None and n > self.max_train_rows:
            start = n - self.max_train_rows
            warnings.warn(f"SVMModel: `max_train_rows={self.max_train_rows}` keeps the last "
                          f"{self.max_train_rows} of {n} training rows; the first {start} "
                          "were left out.", DataQualityWarning, stacklevel=3)
            X, codes = X[start:], codes[start:]
            sample_weight = None if sample_weight is None else sample_weight[start:]
        self.n_train_rows_ = len(codes)
        counts = np.bincount(codes, minlength=len(self.classes_))
        if counts.min() < self.calibration_folds:
            rare = self.classes_[int(np.argmin(counts))]
            rare = rare.item() if isinstance(rare, np.generic) else rare
            raise ParameterError(
                f"`y` class {rare!r} has {int(counts.min())} training rows, fewer than "
                f"`calibration_folds={self.calibration_folds}`; lower `calibration_folds`, "
                "merge rare classes or train on more rows.")
        svc = SVC(C=self.C, kernel=self.kernel, gamma=self.gamma,
                  class_weight=_codes_class_weight(self.class_weight, self.classes_),
                  cache_size=self.cache_size, random_state=self.random_state)
        calibrated = CalibratedClassifierCV(svc, method=self.calibration,
                                            cv=self.calibration_folds, ensemble=False)
        pipe = Pipeline([("impute", _imputer()), ("scale", StandardScaler()),
                         ("model", calibrated)])
        fit_params = {} if sample_weight is None else {"model__sample_weight": sample_weight}
        self.estimator_ = pipe.fit(X, codes, **fit_params)

    def _predict_proba_array(self, X):
        return self.estimator_.predict_proba(X)

    @classmethod
    def search_space(cls, trial) -> dict:
        """Optuna search space: C and gamma on log scales (features are standardised)."""
        return {
            "C": trial.suggest_float("C", 1e-2, 1e2, log=True),
            "gamma": trial.suggest_float("gamma", 1e-4, 1e-1, log=True),
            "class_weight": trial.suggest_categorical("class_weight", ["balanced", None]),
        }


# --------------------------------------------------------------------------- MLP
def _mlp_takes_sample_weight() -> bool:
    return "sample_weight" in inspect.signature(MLPClassifier.partial_fit).parameters


class MLPModel(TabularClassifierAdapter):
    """Multi-layer perceptron (scikit-learn, Adam) with chronological early stopping.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(64, 32)
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
    alpha : float, default=1e-4
        L2 penalty.
    learning_rate_init : float, default=1e-3
    batch_size : int or "auto", default="auto"
        ``min(200, n_samples)`` when "auto".
    max_iter : int, default=200
        Maximum number of epochs.
    early_stopping : bool, default=True
        Hold out the *last* ``validation_fraction`` of the training rows (the
        most recent, if rows are in time order -- never a random split, which
        would leak the future into model selection), train on the rest, and
        keep the weights of the epoch with the lowest validation log-loss;
        stop when it has not improved by ``tol`` for ``n_iter_no_change``
        epochs.  Without early stopping the training loss drives the stop.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    tol : float, default=1e-4
    random_state : int, RandomState or None, default=0
        Seeds the weight initialisation and the per-epoch shuffling of rows.

    Attributes
    ----------
    n_iter_ : int
        Epochs run.
    best_iteration_ : int
        Epoch (1-based) whose weights are kept.
    validation_loss_curve_ : list of float
        Validation log-loss per epoch (empty without early stopping).
    loss_curve_ : list of float
        Training loss per epoch.

    Notes
    -----
    NaN are imputed with the medians of the training rows, then features are
    standardised; both statistics come from all rows passed to ``fit``.
    ``sample_weight`` needs scikit-learn >= 1.7 (MLP weighted loss); on an
    older version it is ignored with a ``UserWarning``.  There is no
    ``class_weight``: pass balancing weights as ``sample_weight``.  The rows
    just before the validation tail may carry labels that end inside it; use a
    purged split upstream if that matters.  A ``ConvergenceWarning`` says when
    ``max_iter`` epochs ran without meeting the stopping rule.
    """

    name = "mlp"

    def __init__(self, hidden_layer_sizes=(64, 32), activation="relu", alpha=1e-4,
                 learning_rate_init=1e-3, batch_size="auto", max_iter=200, early_stopping=True,
                 validation_fraction=0.1, n_iter_no_change=10, tol=1e-4, random_state=0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.alpha = alpha
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state

    def _check_params(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, numbers.Integral) else sizes
        try:
            sizes = list(sizes)
        except TypeError:
            raise TypeError(f"`hidden_layer_sizes` must be a tuple of ints >= 1, got "
                            f"{type(self.hidden_layer_sizes).__name__}.") from None
        if not sizes:
            raise ParameterError("`hidden_layer_sizes` must name at least one layer, got ().")
        for s in sizes:
            check_int("hidden_layer_sizes", s, 1)
        check_real("alpha", self.alpha, lo=0.0)
        check_real("learning_rate_init", self.learning_rate_init, lo=0.0, lo_open=True)
        if self.batch_size != "auto":
            check_int("batch_size", self.batch_size, 1)
        check_int("max_iter", self.max_iter, 1)
        check_bool("early_stopping", self.early_stopping)
        check_real("validation_fraction", self.validation_fraction, lo=0.0, hi=1.0,
                   lo_open=True, hi_open=True)
        check_int("n_iter_no_change", self.n_iter_no_change, 1)
        check_real("tol", self.tol, lo=0.0)
        _check_random_state(self.random_state)

    def _fit_codes(self, X, codes, sample_weight):
        if sample_weight is not None and not _mlp_takes_sample_weight():  # pragma: no cover
            warnings.warn("MLPModel: this scikit-learn version (< 1.7) has no weighted MLP "
                          "loss; `sample_weight` is ignored.", UserWarning, stacklevel=3)
            sample_weight = None
        imputer = _imputer().fit(X)
        scaler = StandardScaler().fit(imputer.transform(X))
        Z = scaler.transform(imputer.transform(X))
        n = len(codes)
        all_codes = np.arange(len(self.classes_))
        if self.early_stopping:
            n_val = int(math.ceil(self.validation_fraction * n))
            n_tr = n - n_val
            if n_val < 2 or n_tr < 2:
                raise ParameterError(
                    f"`validation_fraction={self.validation_fraction}` leaves {n_tr} training "
                    f"and {n_val} validation rows of {n}; both need >= 2: change it, pass "
                    "more rows or set `early_stopping=False`.")
        else:
            n_tr, n_val = n, 0
        Z_tr, y_tr = Z[:n_tr], codes[:n_tr]
        Z_val, y_val = Z[n_tr:], codes[n_tr:]
        w_tr = None if sample_weight is None else sample_weight[:n_tr]
        w_val = None if sample_weight is None else sample_weight[n_tr:]
        if w_tr is not None and w_tr.sum() <= 0:
            raise ParameterError(f"`sample_weight` is zero on all {n_tr} rows before the "
                                 "validation tail; the MLP would learn nothing.")
        if w_val is not None and w_val.sum() <= 0:
            w_val = None  # an all-zero tail would make the weighted validation loss 0/0

        mlp = MLPClassifier(hidden_layer_sizes=tuple(np.atleast_1d(self.hidden_layer_sizes)),
                            activation=self.activation, solver="adam", alpha=self.alpha,
                            batch_size=self.batch_size, learning_rate_init=self.learning_rate_init,
                            max_iter=1, shuffle=False, random_state=self.random_state,
                            early_stopping=False)
        # partial_fit re-seeds its own shuffler every call, so rows are
        # shuffled here, once per epoch, from one generator.
        rng = check_random_state(self.random_state)
        if isinstance(self.random_state, np.random.RandomState):
            rng = copy.deepcopy(rng)
        best, best_epoch, no_improve, stopped = np.inf, 0, 0, False
        best_params = None
        val_curve, loss_curve = [], []
        kwargs = {}
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*batch_size.*", category=UserWarning)
            for epoch in range(1, self.max_iter + 1):
                perm = rng.permutation(n_tr)
                if w_tr is not None:
                    kwargs["sample_weight"] = w_tr[perm]
                if epoch == 1:
                    mlp.partial_fit(Z_tr[perm], y_tr[perm], classes=all_codes, **kwargs)
                else:
                    mlp.partial_fit(Z_tr[perm], y_tr[perm], **kwargs)
                loss_curve.append(float(mlp.loss_))
                if self.early_stopping:
                    score = log_loss(y_val, mlp.predict_proba(Z_val), labels=all_codes,
                                     sample_weight=w_val)
                    val_curve.append(float(score))
                else:
                    score = float(mlp.loss_)
                no_improve = no_improve + 1 if score > best - self.tol else 0
                if score < best:
                    best, best_epoch = score, epoch
                    if self.early_stopping:
                        best_params = ([c.copy() for c in mlp.coefs_],
                                       [b.copy() for b in mlp.intercepts_])
                if no_improve > self.n_iter_no_change:
                    stopped = True
                    break
        if not stopped:
            warnings.warn(f"MLPModel: max_iter={self.max_iter} epochs ran and the "
                          f"{'validation' if self.early_stopping else 'training'} loss was "
                          "still improving; raise `max_iter`.", ConvergenceWarning, stacklevel=3)
        if self.early_stopping:
            mlp.coefs_, mlp.intercepts_ = best_params
        else:
            best_epoch = epoch  # the last epoch's weights are kept
        self.n_iter_ = epoch
        self.best_iteration_ = best_epoch
        self.validation_loss_curve_ = val_curve
        self.loss_curve_ = loss_curve
        self.estimator_ = Pipeline([("impute", imputer), ("scale", scaler), ("model", mlp)])

    def _predict_proba_array(self, X):
        return self.estimator_.predict_proba(X)

    @classmethod
    def search_space(cls, trial) -> dict:
        """Optuna search space: depth and width of the net, L2 penalty, step size, batch."""
        n_layers = trial.suggest_int("n_layers", 1, 3)
        sizes = tuple(trial.suggest_int(f"units_{i}", 8, 128, log=True) for i in range(n_layers))
        return {
            "hidden_layer_sizes": sizes,
            "alpha": trial.suggest_float("alpha", 1e-6, 1e-1, log=True),
            "learning_rate_init": trial.suggest_float("learning_rate_init", 1e-4, 1e-2, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [64, 128, 256]),
        }
