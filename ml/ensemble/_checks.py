"""Input validation shared by :mod:`ml.ensemble`."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from scipy import sparse
from sklearn.exceptions import DataConversionWarning
from sklearn.model_selection import KFold
from sklearn.model_selection import check_cv as sklearn_check_cv

from ml.exceptions import ParameterError

__all__ = [
    "as_matrix",
    "check_classes",
    "check_classifier",
    "check_cv",
    "check_sample_weight",
    "check_y",
    "n_samples",
    "take_rows",
]


def check_classifier(name: str, estimator) -> None:
    """``estimator`` is an unfitted-or-fitted scikit-learn style probabilistic classifier."""
    missing = [m for m in ("fit", "predict_proba", "get_params") if not callable(getattr(estimator, m, None))]
    if isinstance(estimator, type) or missing:
        what = "a class, not an instance" if isinstance(estimator, type) else f"no {', '.join(missing)}"
        raise TypeError(
            f"`{name}` must be a scikit-learn classifier instance with fit, predict_proba and "
            f"get_params, got {type(estimator).__name__} {estimator!r} ({what}); "
            f"e.g. LogisticRegression() or an ml.models adapter."
        )


def check_cv(cv):
    """An int >= 2 (contiguous :class:`~sklearn.model_selection.KFold`), a splitter with ``split``, or
    an iterable of ``(train, test)`` index pairs (wrapped as scikit-learn does)."""
    if isinstance(cv, numbers.Integral) and not isinstance(cv, (bool, np.bool_)):
        if cv < 2:
            raise ParameterError(
                f"`cv` must be an int >= 2 or a splitter with a split(X, y, groups) method, got {int(cv)!r}."
            )
        return KFold(n_splits=int(cv), shuffle=False)
    if not isinstance(cv, (type, str, bytes, dict)) and not callable(getattr(cv, "split", None)) \
            and hasattr(cv, "__iter__"):
        return sklearn_check_cv(cv)
    if isinstance(cv, (type, str, bytes)) or not callable(getattr(cv, "split", None)):
        raise TypeError(
            f"`cv` must be an int >= 2, a splitter instance with a split(X, y, groups) method "
            f"(e.g. KFold(5), a PurgedKFold or a walk-forward splitter) or a list of (train, test) index "
            f"pairs, got {type(cv).__name__} {cv!r}."
        )
    return cv


def n_samples(name: str, X) -> int:
    if X is None or isinstance(X, (str, bytes)) or not hasattr(X, "__len__"):
        raise TypeError(f"`{name}` must be array-like of shape (n_samples, n_features), got {type(X).__name__}.")
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) != 2:
        raise ParameterError(
            f"`{name}` must be 2-D of shape (n_samples, n_features), got shape {tuple(shape)}. Reshape your "
            f"data with X.reshape(-1, 1) if it holds one feature or X.reshape(1, -1) if it is one sample."
        )
    return len(X)


def take_rows(X, idx: np.ndarray):
    """Rows ``idx`` of ``X`` keeping its type (DataFrame stays a DataFrame)."""
    if hasattr(X, "iloc"):
        return X.iloc[idx]
    return X[idx]


def as_matrix(X):
    """``X`` as something indexable by position: DataFrames unchanged, lists to arrays."""
    if sparse.issparse(X):
        raise TypeError("`X` is a sparse matrix; sparse input is not supported, pass a dense array.")
    if hasattr(X, "iloc") or isinstance(X, np.ndarray):
        return X
    return np.asarray(X)


def check_y(y, n: int, *, name: str = "y") -> np.ndarray:
    """A 1-D label array of length ``n`` with no missing values."""
    if y is None:
        raise ParameterError(
            f"`{name}` must be array-like of shape (n_samples,): fitting requires y to be passed, but the "
            f"target y is None."
        )
    arr = y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        warnings.warn(
            f"A column-vector y was passed when a 1d array was expected; `{name}` was raveled to shape "
            f"({len(arr)},).", DataConversionWarning, stacklevel=3,
        )
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ParameterError(f"`{name}` must be 1-D of shape (n_samples,), got shape {arr.shape}.")
    if len(arr) != n:
        raise ParameterError(f"`{name}` has {len(arr)} rows but `X` has {n}; they must be aligned row by row.")
    try:
        missing = np.asarray(arr != arr, dtype=bool)  # NaN / NaT
    except (TypeError, ValueError):  # pragma: no cover - exotic objects
        missing = np.zeros(len(arr), dtype=bool)
    if arr.dtype == object:
        missing |= np.array([v is None for v in arr], dtype=bool)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise ParameterError(
            f"`{name}` has {int(missing.sum())} missing labels (first at position {i}); drop those rows "
            f"from `X` and `{name}` first (e.g. labels undefined at a session end) -- they are never dropped "
            f"silently."
        )
    return arr


def check_classes(y: np.ndarray, classes=None) -> np.ndarray:
    """Sorted classes of ``y`` (or the given ``classes``, which must cover ``y``)."""
    if classes is None:
        classes = np.unique(y)
    else:
        classes = np.asarray(classes)
        if classes.ndim != 1 or len(np.unique(classes)) != len(classes):
            raise ParameterError(f"`classes` must be 1-D without duplicates, got {classes!r}.")
        if not np.array_equal(np.sort(classes), classes):
            raise ParameterError(
                f"`classes` must be sorted (the order of predict_proba columns), got {classes!r}."
            )
        unknown = np.setdiff1d(np.unique(y), classes)
        if len(unknown):
            raise ParameterError(
                f"`y` holds labels {unknown.tolist()!r} that are not in `classes` {classes.tolist()!r}."
            )
    if len(classes) < 2:
        raise ParameterError(f"`y` must hold at least 2 classes, got one class {classes.tolist()!r}.")
    return classes


def check_sample_weight(sample_weight, n: int) -> np.ndarray | None:
    """``None`` or a float64 array of ``n`` finite weights >= 0 with a positive sum."""
    if sample_weight is None:
        return None
    w = sample_weight.to_numpy() if hasattr(sample_weight, "to_numpy") else np.asarray(sample_weight)
    if w.dtype == bool or not np.issubdtype(w.dtype, np.number):
        raise TypeError(f"`sample_weight` must be numeric, got dtype {w.dtype}.")
    w = w.astype("float64")
    if w.ndim != 1 or len(w) != n:
        raise ParameterError(f"`sample_weight` must have shape ({n},) like `y`, got {w.shape}.")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if len(bad):
        i = int(bad[0])
        raise ParameterError(
            f"`sample_weight` must be finite and >= 0, got {w[i]!r} at position {i} ({len(bad)} such rows)."
        )
    if not w.sum() > 0:
        raise ParameterError("`sample_weight` must have a positive sum, got all zeros.")
    return w
