"""Fixtures of the model-adapter contract suite.

Adding a classifier adapter to the contract suite means adding one
``<name>_factory`` fixture below (small, fast parameters) and its registry
name to :data:`CONTRACT_MODELS`.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from ml.features import build_features
from ml.labels import triple_barrier_labels
from ml.models import get_model
from tests.conftest import quiet

#: Registry names of the classifier adapters every contract test runs on.
CONTRACT_MODELS = ["catboost", "logistic", "random_forest", "svm", "mlp"]

N_BARS = 3000
N_TRAIN = 1500
N_TEST = 500


# --------------------------------------------------------------------------- data
@pytest.fixture(scope="session")
def fil_xy(fil_bars):
    """Features of the first 3000 FILUSDT bars and their triple-barrier labels (-1/0/1).

    Rows without a label (end of data, volatility warm-up) are dropped; rows
    with NaN features (rolling warm-up) are kept: adapters must accept them.
    """
    bars = fil_bars.iloc[:N_BARS]
    X = quiet(build_features, bars)
    label = triple_barrier_labels(bars, max_holding=30)["label"]
    keep = label.notna()
    return X[keep], label[keep].astype(np.int64)


@pytest.fixture(scope="session")
def train_test(fil_xy):
    """(X_train, y_train, X_test, y_test): 1500 rows, then the next 500 (time order)."""
    X, y = fil_xy
    end = N_TRAIN + N_TEST
    return X.iloc[:N_TRAIN], y.iloc[:N_TRAIN], X.iloc[N_TRAIN:end], y.iloc[N_TRAIN:end]


@pytest.fixture(scope="session")
def tiny_xy(fil_xy):
    """600 rows and the 12 first features without warm-up NaN columns: for extra fits."""
    X, y = fil_xy
    X = X.iloc[1000:1600]
    cols = [c for c in X.columns if X[c].notna().all()][:12]
    return X[cols], y.iloc[1000:1600]


# --------------------------------------------------------------------------- one factory per model
@pytest.fixture(scope="session")
def catboost_factory():
    """CatBoost with 30 trees of depth 4 and 32 bins."""
    return functools.partial(get_model, "catboost", iterations=30, depth=4, border_count=32)


@pytest.fixture(scope="session")
def logistic_factory():
    """L2 logistic regression with its default penalty."""
    return functools.partial(get_model, "logistic")


@pytest.fixture(scope="session")
def random_forest_factory():
    """Random forest of 40 trees."""
    return functools.partial(get_model, "random_forest", n_estimators=40)


@pytest.fixture(scope="session")
def svm_factory():
    """RBF SVM with default parameters (1500 training rows fit in about a second)."""
    return functools.partial(get_model, "svm")


@pytest.fixture(scope="session")
def mlp_factory():
    """MLP with one hidden layer of 16 units and at most 40 epochs."""
    return functools.partial(get_model, "mlp", hidden_layer_sizes=(16,), max_iter=40)


# --------------------------------------------------------------------------- contract plumbing
@pytest.fixture(scope="session", params=CONTRACT_MODELS)
def model_name(request):
    """Registry name of the adapter under test."""
    return request.param


@pytest.fixture(scope="session")
def make_model(request, model_name):
    """``make_model(**overrides)`` -> a new, unfitted small adapter."""
    return request.getfixturevalue(f"{model_name}_factory")


@pytest.fixture(scope="session")
def fitted_model(make_model, train_test):
    """The small adapter fitted once on the training rows (tests must not modify it)."""
    X_train, y_train, _, _ = train_test
    return quiet(make_model().fit, X_train, y_train)


@pytest.fixture(scope="session")
def fitted_proba(fitted_model, train_test):
    """``fitted_model.predict_proba`` of the test rows."""
    return fitted_model.predict_proba(train_test[2])


def as_frame(X, values):
    """A DataFrame shaped like ``X`` holding ``values``."""
    return pd.DataFrame(values, index=X.index, columns=X.columns)
