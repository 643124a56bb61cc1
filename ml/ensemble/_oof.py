"""Out-of-fold class probabilities from any scikit-learn splitter."""

from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.utils.validation import has_fit_parameter

from ml.ensemble._checks import (
    as_matrix,
    check_classes,
    check_classifier,
    check_cv,
    check_sample_weight,
    check_y,
    n_samples,
    take_rows,
)
from ml.exceptions import ParameterError

__all__ = ["out_of_fold_proba"]


def out_of_fold_proba(estimator, X, y, cv=5, *, sample_weight=None, groups=None, n_jobs=None):
    """Class probabilities of every row from a model that never saw that row.

    For each ``(train, test)`` pair yielded by ``cv.split(X, y, groups)`` a
    :func:`~sklearn.base.clone` of ``estimator`` is fitted on the ``train``
    rows and predicts the ``test`` rows.  Folds run in parallel with
    :class:`joblib.Parallel` (``n_jobs``), so a Dask or Ray backend set with
    ``joblib.parallel_config`` spreads them over a cluster.

    Parameters
    ----------
    estimator : classifier
        Any scikit-learn classifier with ``fit`` and ``predict_proba`` (an
        :mod:`ml.models` adapter, ``LogisticRegression()``, a ``Pipeline``...).
        It is cloned, never fitted in place.
    X : array-like of shape (n_samples, n_features)
        Features; a DataFrame is sliced with ``iloc`` and handed to the
        estimator as a DataFrame (column names kept).  NaN is passed through:
        handling it is the estimator's job (see :mod:`ml.models`).
    y : array-like of shape (n_samples,)
        Class labels, no missing values.
    cv : int, splitter or iterable of (train, test), default 5
        A splitter with ``split(X, y, groups)`` yielding integer index arrays
        (``PurgedKFold``, ``CombinatorialPurgedCV``, a walk-forward splitter,
        any scikit-learn splitter), a list of ``(train, test)`` index pairs,
        or an int ``k >= 2`` meaning ``KFold(k, shuffle=False)`` (contiguous
        blocks, no purging: with overlapping labels prefer a purged
        splitter).  ``split`` is called once.  The splits do *not* have to
        form a partition.
    sample_weight : array-like of shape (n_samples,), optional
        Passed to each fold's ``fit`` (training rows only).  The estimator's
        ``fit`` must accept ``sample_weight``.
    groups : array-like of shape (n_samples,), optional
        Passed to ``cv.split``.
    n_jobs : int, optional
        Folds fitted in parallel (joblib semantics: ``None`` = 1, ``-1`` = all
        cores).

    Returns
    -------
    oof : ndarray of shape (n_samples, n_classes)
        ``oof[i]`` is the prediction of the model(s) whose test fold held row
        ``i``, columns in ``classes`` order.  A row tested by several folds
        (e.g. combinatorial purged CV) gets the mean of those predictions, all
        from models that did not see it.  Rows never tested (the first
        training window of a walk-forward split, rows purged out of every
        test fold) are NaN: they are never filled.
    classes : ndarray of shape (n_classes,)
        Sorted unique labels of ``y``.  A class absent from a fold's training
        rows gets probability 0 in that fold's predictions.

    Raises
    ------
    TypeError
        ``estimator`` is not a probabilistic classifier, ``cv`` is not a
        splitter, or ``sample_weight`` is given to an estimator whose ``fit``
        does not take it.
    ml.exceptions.ParameterError
        ``y`` misaligned with ``X`` or holding missing labels; a fold whose
        train and test indices share a row (that model would predict a row it
        saw: the check that out-of-fold really means out of fold), an index
        out of range, an empty training fold, or a splitter that yields no
        fold.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> class NextBlock:  # train on the past, test on the next block
    ...     def split(self, X, y=None, groups=None):
    ...         for start in (4, 6):
    ...             yield np.arange(start), np.arange(start, start + 2)
    >>> X = np.arange(8.0).reshape(-1, 1); y = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    >>> oof, classes = out_of_fold_proba(LogisticRegression(), X, y, NextBlock())
    >>> np.isnan(oof[:, 0]).tolist()
    [True, True, True, True, False, False, False, False]
    """
    check_classifier("estimator", estimator)
    X = as_matrix(X)
    n = n_samples("X", X)
    y = check_y(y, n)
    classes = check_classes(y)
    sample_weight = check_sample_weight(sample_weight, n)
    splits = compute_splits(check_cv(cv), X, y, groups, n)
    (oof,) = oof_many([("estimator", estimator)], X, y, splits, classes,
                      sample_weight=sample_weight, n_jobs=n_jobs)
    return oof, classes


# --------------------------------------------------------------------------- internals
def _as_index(idx, n: int, what: str, fold: int) -> np.ndarray:
    arr = np.asarray(idx)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise ParameterError(f"`cv` fold {fold}: boolean {what} mask has shape {arr.shape}, expected ({n},).")
        return np.flatnonzero(arr)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ParameterError(
            f"`cv` fold {fold}: {what} indices must be a 1-D integer array, got dtype {arr.dtype}, "
            f"shape {arr.shape}."
        )
    arr = arr.astype(np.intp, copy=False)
    bad = (arr < 0) | (arr >= n)
    if bad.any():
        raise ParameterError(
            f"`cv` fold {fold}: {what} index {int(arr[bad][0])} is out of range for {n} samples; "
            f"the splitter must index the rows of `X` by position."
        )
    return arr


def compute_splits(cv, X, y, groups, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """All folds of ``cv`` as validated ``(train, test)`` index arrays with disjoint train and test."""
    splits = []
    for k, fold in enumerate(cv.split(X, y, groups)):
        try:
            train, test = fold
        except (TypeError, ValueError):
            raise ParameterError(f"`cv` fold {k} is not a (train, test) pair of index arrays.") from None
        train = _as_index(train, n, "train", k)
        test = _as_index(test, n, "test", k)
        if len(train) == 0:
            raise ParameterError(f"`cv` fold {k} has no training rows; no model can be fitted for it.")
        if len(test) == 0:
            continue
        seen = np.zeros(n, dtype=bool)
        seen[train] = True
        leaked = test[seen[test]]
        if len(leaked):
            raise ParameterError(
                f"`cv` fold {k}: {len(np.unique(leaked))} test rows are also training rows (first: "
                f"{int(leaked[0])}); an out-of-fold prediction must come from a model that never saw the "
                f"row. Use a splitter whose train and test indices are disjoint."
            )
        splits.append((train, test))
    if not splits:
        raise ParameterError(f"`cv` ({type(cv).__name__}) yielded no fold with test rows for {n} samples.")
    return splits


def align_proba(proba, model_classes, classes: np.ndarray, n_rows: int, name: str) -> np.ndarray:
    """Columns of ``proba`` (in ``model_classes`` order) placed into ``classes`` order; missing -> 0."""
    proba = np.asarray(proba, dtype="float64")
    model_classes = np.asarray(model_classes)
    if proba.ndim != 2 or proba.shape != (n_rows, len(model_classes)):
        raise ParameterError(
            f"`{name}`.predict_proba returned shape {proba.shape}, expected ({n_rows}, "
            f"{len(model_classes)}) (rows, classes_)."
        )
    pos = np.searchsorted(classes, model_classes)
    pos = np.clip(pos, 0, len(classes) - 1)
    if not np.array_equal(classes[pos], model_classes):
        raise ParameterError(
            f"`{name}` learned classes {model_classes.tolist()!r} that are not among {classes.tolist()!r}."
        )
    if len(model_classes) == len(classes):
        return proba
    out = np.zeros((n_rows, len(classes)))
    out[:, pos] = proba
    return out


def check_accepts_weights(estimator, name: str) -> None:
    """TypeError unless ``estimator.fit`` takes ``sample_weight``."""
    if not has_fit_parameter(estimator, "sample_weight"):
        raise TypeError(
            f"`sample_weight` was given but `{name}` ({type(estimator).__name__}).fit does not accept "
            f"sample_weight; drop the weights or wrap the model in an estimator that takes them."
        )


def fit_estimator(estimator, X, y, sample_weight, name: str):
    """Fit ``estimator`` (already cloned) with ``sample_weight`` when given."""
    if sample_weight is None:
        return estimator.fit(X, y)
    check_accepts_weights(estimator, name)
    return estimator.fit(X, y, sample_weight=sample_weight)


def _fit_predict(name, estimator, X, y, train, test, classes, sample_weight):
    model = clone(estimator)
    sw = None if sample_weight is None else sample_weight[train]
    fit_estimator(model, take_rows(X, train), y[train], sw, name)
    proba = model.predict_proba(take_rows(X, test))
    return align_proba(proba, model.classes_, classes, len(test), name)


def oof_many(estimators, X, y, splits, classes, *, sample_weight=None, n_jobs=None) -> list[np.ndarray]:
    """Out-of-fold probabilities of each ``(name, estimator)`` on the same ``splits``.

    All ``(estimator, fold)`` pairs form one flat list of joblib tasks.
    """
    n, k = len(y), len(classes)
    if sample_weight is not None:
        for name, est in estimators:  # fail before any work is dispatched
            check_accepts_weights(est, name)
    tasks = [(name, est, train, test) for name, est in estimators for train, test in splits]
    results = Parallel(n_jobs=n_jobs)(
        delayed(_fit_predict)(name, est, X, y, train, test, classes, sample_weight)
        for name, est, train, test in tasks
    )
    out = []
    per = len(splits)
    for m in range(len(estimators)):
        total = np.zeros((n, k))
        count = np.zeros(n)
        for (train, test), proba in zip(splits, results[m * per:(m + 1) * per]):
            np.add.at(total, test, proba)
            np.add.at(count, test, 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            oof = total / count[:, None]
        oof[count == 0] = np.nan
        out.append(oof)
    return out
