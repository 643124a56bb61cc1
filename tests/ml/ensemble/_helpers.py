"""Test-only splitters and planted models of the ensemble tests."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from tests.ml.ensemble.conftest import FEATURES


class WalkForward:
    """Train on every row before the block, test the next block: not a partition.

    Rows ``[0, min_train)`` are never tested.

    >>> [(tr.tolist(), te.tolist()) for tr, te in WalkForward(2, 3).split(np.zeros((7, 1)))]
    [([0, 1, 2], [3, 4]), ([0, 1, 2, 3, 4], [5, 6])]
    """

    def __init__(self, n_splits=4, min_train=500):
        self.n_splits = n_splits
        self.min_train = min_train

    def split(self, X, y=None, groups=None):
        n = len(X)
        edges = np.linspace(self.min_train, n, self.n_splits + 1).astype(int)
        for start, stop in zip(edges[:-1], edges[1:]):
            yield np.arange(start), np.arange(start, stop)

    def get_n_splits(self, X=None, y=None, groups=None):
        return self.n_splits


class FixedSplits:
    """Yields the given (train, test) pairs."""

    def __init__(self, folds):
        self.folds = folds

    def split(self, X, y=None, groups=None):
        yield from self.folds

    def get_n_splits(self, X=None, y=None, groups=None):
        return len(self.folds)


class SpyClassifier(ClassifierMixin, BaseEstimator):
    """Remembers the row ids (column 0) it was fitted on and fails if asked to predict one of them."""

    def fit(self, X, y, sample_weight=None):
        self.seen_ = set(np.asarray(X, dtype=float)[:, 0].tolist())
        self.classes_, counts = np.unique(y, return_counts=True)
        self.prior_ = counts / counts.sum()
        return self

    def predict_proba(self, X):
        ids = np.asarray(X, dtype=float)[:, 0]
        leaked = [i for i in ids.tolist() if i in self.seen_]
        if leaked:
            raise AssertionError(f"predicted {len(leaked)} rows the model was fitted on (ids {leaked[:3]})")
        return np.tile(self.prior_, (len(ids), 1))


def memorizer():
    """1-nearest-neighbour on the row id: perfect in sample, useless out of sample."""
    return make_pipeline(ColumnTransformer([("id", "passthrough", ["id"])]), KNeighborsClassifier(1))


def logistic():
    return make_pipeline(ColumnTransformer([("f", StandardScaler(), FEATURES)]),
                         LogisticRegression(solver="newton-cholesky"))


def tree():
    return make_pipeline(ColumnTransformer([("f", "passthrough", FEATURES)]),
                         DecisionTreeClassifier(max_depth=4, min_samples_leaf=20, random_state=0))


def fast_lr(**params):
    """Logistic regression with a Newton solver (L-BFGS needs hundreds of steps on these features)."""
    return LogisticRegression(solver="newton-cholesky", **params)
