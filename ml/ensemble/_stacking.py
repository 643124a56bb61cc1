"""Stacking: a final classifier fitted on the base models' out-of-fold probabilities."""

from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from ml._checks import check_bool
from ml.ensemble._checks import (
    as_matrix,
    check_classes,
    check_classifier,
    check_cv,
    check_sample_weight,
    check_y,
    n_samples,
)
from ml.ensemble._oof import align_proba, check_accepts_weights, compute_splits, fit_estimator, oof_many
from ml.exceptions import ParameterError

__all__ = ["StackingEnsemble"]


class StackingEnsemble(ClassifierMixin, BaseEstimator):
    """Stacked generalisation over any splitter, purged and walk-forward ones included.

    ``fit`` computes each base estimator's out-of-fold class probabilities
    with ``cv`` (:func:`~ml.ensemble.out_of_fold_proba`, the same folds for
    every base model), fits ``final_estimator`` on those probabilities only
    (plus ``X`` when ``passthrough``), dropping the rows no fold tested, then
    refits every base estimator on all rows.  ``predict_proba`` stacks the
    refitted base models' probabilities and applies the final estimator.

    Parameters
    ----------
    estimators : list of (str, estimator)
        Named base classifiers with ``fit`` and ``predict_proba`` (e.g.
        :mod:`ml.models` adapters); names must be unique.
    final_estimator : classifier, optional
        Fitted on the stacked out-of-fold probabilities; default
        ``LogisticRegression(max_iter=1000)``.
    cv : int, splitter or iterable of (train, test), default 5
        Splitter with ``split(X, y, groups)`` yielding integer index arrays
        (``PurgedKFold``, walk-forward, combinatorial purged CV, any
        scikit-learn splitter) or a list of ``(train, test)`` index pairs; an
        int ``k`` means ``KFold(k, shuffle=False)`` (contiguous blocks, not
        purged).  ``split`` is called once per fit, so every base model gets
        the same folds.  The splits need not be a partition.
    passthrough : bool, default False
        Also give the final estimator the raw features ``X`` (which must then
        be free of NaN if the final estimator cannot handle NaN).
    n_jobs : int, optional
        joblib workers for the (base model x fold) fits and the refits.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Sorted labels of ``y``.
    estimators_ : list of estimators
        Base estimators refitted on all rows, in ``estimators`` order.
    named_estimators_ : dict of str -> estimator
        The same, by name.
    final_estimator_ : estimator
        The final estimator, fitted on out-of-fold probabilities.
    oof_proba_ : dict of str -> ndarray of shape (n_samples, n_classes)
        Out-of-fold probabilities of each base model (NaN rows never
        tested); can be handed to :class:`~ml.ensemble.BlendingEnsemble`.
    oof_tested_ : ndarray of bool, shape (n_samples,)
        Rows that some test fold covered: the final estimator's training rows.
    n_untested_ : int
        Rows dropped from the final estimator's fit because no fold tested
        them (e.g. the first training window of a walk-forward split).
    feature_names_ : list of str
        Columns given to the final estimator: ``"<model>__<class>"`` for each
        base model's probability columns (for two classes only the second
        class's column, the first being redundant, as in scikit-learn), then
        the raw feature names with ``passthrough``.
    n_features_in_ : int
        Columns of ``X``.

    Notes
    -----
    Why not :class:`sklearn.ensemble.StackingClassifier`?  It builds its
    out-of-fold predictions with :func:`sklearn.model_selection.cross_val_predict`,
    which requires the test folds to form a *partition* of the rows (each row
    tested exactly once) and raises ``ValueError: cross_val_predict only
    works for partitions`` otherwise.  The splitters a time series needs are
    not partitions: a walk-forward split never tests its first training
    window, combinatorial purged CV tests each row on several paths, and
    purging may leave rows in no test fold.  Here rows never tested are
    dropped from the final estimator's fit (and counted in ``n_untested_``);
    rows tested several times get the mean of their out-of-fold predictions.
    Splitters whose purge uses label end times bound to ``X``'s rows keep
    working because every index is a position in ``X`` and ``X`` is never
    reordered or filtered before ``cv.split`` sees it.  Each fold's train and
    test indices are checked to be disjoint, so no stacked feature comes from
    a model that saw its row.

    References
    ----------
    Wolpert, D. H. (1992). Stacked generalization. *Neural Networks* 5(2), 241-259.
    Lopez de Prado, M. (2018). *Advances in Financial Machine Learning*, Wiley,
    chapter 7 (cross-validation in finance: purging and embargo).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)); y = (X[:, 0] + 0.5 * rng.normal(size=200) > 0).astype(int)
    >>> stack = StackingEnsemble([("lr", LogisticRegression()),
    ...                           ("tree", DecisionTreeClassifier(max_depth=3, random_state=0))], cv=4)
    >>> stack.fit(X, y).predict_proba(X[:2]).shape
    (2, 2)
    >>> stack.feature_names_
    ['lr__1', 'tree__1']
    """

    def __init__(self, estimators, final_estimator=None, cv=5, passthrough=False, n_jobs=None):
        self.estimators = estimators
        self.final_estimator = final_estimator
        self.cv = cv
        self.passthrough = passthrough
        self.n_jobs = n_jobs

    def _check_estimators(self):
        if not isinstance(self.estimators, (list, tuple)) or not self.estimators:
            raise ParameterError(
                f"`estimators` must be a non-empty list of (name, classifier) pairs, got {self.estimators!r}."
            )
        names = []
        for k, item in enumerate(self.estimators):
            if not isinstance(item, (list, tuple)) or len(item) != 2 or not isinstance(item[0], str):
                raise TypeError(f"`estimators[{k}]` must be a (name: str, classifier) pair, got {item!r}.")
            name, est = item
            if "__" in name:
                raise ParameterError(f"`estimators[{k}]` name {name!r} must not contain '__'.")
            check_classifier(f"estimators[{k}] ({name!r})", est)
            names.append(name)
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ParameterError(f"`estimators` names must be unique, got {dup!r} more than once.")
        return list(self.estimators)

    def _final(self):
        if self.final_estimator is None:
            return LogisticRegression(max_iter=1000)
        check_classifier("final_estimator", self.final_estimator)
        return clone(self.final_estimator)

    def fit(self, X, y, sample_weight=None, groups=None):
        """Fit the final estimator on out-of-fold probabilities, then refit the base models.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features, in the row order the splitter expects.
        y : array-like of shape (n_samples,)
            Class labels, no missing values.
        sample_weight : array-like of shape (n_samples,), optional
            Passed to every base fit (training rows of each fold, then all
            rows) and to the final estimator (tested rows).
        groups : array-like of shape (n_samples,), optional
            Passed to ``cv.split``.

        Returns
        -------
        self
        """
        estimators = self._check_estimators()
        final = self._final()
        passthrough = check_bool("passthrough", self.passthrough)
        cv = check_cv(self.cv)
        X = as_matrix(X)
        n = n_samples("X", X)
        y = check_y(y, n)
        classes = check_classes(y)
        sw = check_sample_weight(sample_weight, n)
        if sw is not None:
            check_accepts_weights(final, "final_estimator")

        splits = compute_splits(cv, X, y, groups, n)
        oofs = oof_many(estimators, X, y, splits, classes, sample_weight=sw, n_jobs=self.n_jobs)
        tested = ~np.isnan(oofs[0][:, 0])
        if tested.sum() < 2 or len(np.unique(y[tested])) < 2:
            raise ParameterError(
                f"`cv` tested only {int(tested.sum())} rows holding classes {np.unique(y[tested]).tolist()!r}; "
                f"the final estimator needs tested rows of at least 2 classes."
            )

        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        if hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_  # left by an earlier fit on a DataFrame
        names = [name for name, _ in estimators]
        cls_cols = classes[1:] if len(classes) == 2 else classes
        self.feature_names_ = [f"{name}__{c}" for name in names for c in cls_cols]
        if passthrough:
            raw = (list(self.feature_names_in_) if hasattr(self, "feature_names_in_")
                   else [f"x{j}" for j in range(self.n_features_in_)])
            self.feature_names_ += raw

        meta = self._stack(oofs, X, passthrough)
        final_sw = None if sw is None else sw[tested]
        self.final_estimator_ = fit_estimator(final, meta[tested], y[tested], final_sw, "final_estimator")
        self.oof_proba_ = dict(zip(names, oofs))
        self.oof_tested_ = tested
        self.n_untested_ = int(n - tested.sum())

        self.estimators_ = Parallel(n_jobs=self.n_jobs)(
            delayed(_refit)(name, est, X, y, sw) for name, est in estimators
        )
        self.named_estimators_ = dict(zip(names, self.estimators_))
        return self

    def _stack(self, probas, X, passthrough):
        cols = [p[:, 1:] if len(self.classes_) == 2 else p for p in probas]
        if passthrough:
            raw = X.to_numpy(dtype="float64", na_value=np.nan) if hasattr(X, "to_numpy") else np.asarray(X, float)
            cols.append(raw)
        return np.hstack(cols)

    def _base_probas(self, X):
        check_is_fitted(self, "final_estimator_")
        X = as_matrix(X)
        n = n_samples("X", X)
        if X.shape[1] != self.n_features_in_:
            raise ParameterError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input: `X` must have the columns seen in fit."
            )
        names = list(self.named_estimators_)
        probas = [align_proba(est.predict_proba(X), est.classes_, self.classes_, n, name)
                  for name, est in zip(names, self.estimators_)]
        return probas, X

    def meta_features(self, X):
        """The final estimator's input for ``X``: the refitted base models' probabilities (and ``X``
        with passthrough), columns named by ``feature_names_``.

        Not called ``transform`` on purpose: on the training rows these are in-sample predictions;
        the honest training input of a further stage is ``oof_proba_``.
        """
        probas, X = self._base_probas(X)
        return self._stack(probas, X, self.passthrough)

    def predict_proba(self, X):
        """Class probabilities of the final estimator, columns in ``classes_`` order.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        meta = self.meta_features(X)
        proba = self.final_estimator_.predict_proba(meta)
        return align_proba(proba, self.final_estimator_.classes_, self.classes_, len(meta), "final_estimator")

    def predict(self, X):
        """Most probable class per row."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


def _refit(name, estimator, X, y, sample_weight):
    return fit_estimator(clone(estimator), X, y, sample_weight, name)
