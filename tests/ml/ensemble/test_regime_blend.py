"""``ml.ensemble.RegimeBlendEnsemble`` (``--model blend``): weights per volatility regime, out of fold.

A market built so that the answer is known: in calm blocks the label follows
feature ``a``, in turbulent blocks feature ``b``.  Model A sees only ``a``,
model B only ``b``.  The blend must give A the weight in the calm regime and B
in the turbulent one, and beat both on held-out rows; rows whose regime
features are missing are blended with the global weights.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from ml.ensemble import RegimeBlendEnsemble
from ml.exceptions import ParameterError


class OneColumn(ClassifierMixin, BaseEstimator):
    """A logistic regression on one named column (what a base model sees)."""

    def __init__(self, column="a"):
        self.column = column

    def fit(self, X, y, sample_weight=None):
        self.model_ = LogisticRegression().fit(X[[self.column]], y, sample_weight=sample_weight)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X[[self.column]])


def market(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    turbulent = (np.arange(n) // 250) % 2 == 1          # blocks of 250 rows
    vol = np.where(turbulent, rng.normal(3.0, 0.2, n), rng.normal(1.0, 0.1, n))
    a, b = rng.normal(size=n), rng.normal(size=n)
    driver = np.where(turbulent, b, a)
    y = (driver + 0.5 * rng.normal(size=n) > 0).astype(int)
    return pd.DataFrame({"vol_x": vol, "a": a, "b": b}), y, turbulent


def blend():
    return RegimeBlendEnsemble([("A", OneColumn("a")), ("B", OneColumn("b"))], cv=5, min_regime_samples=50)


def test_each_regime_weights_the_model_that_works_there():
    X, y, turbulent = market()
    m = blend().fit(X.iloc[:4000], y[:4000])
    assert m.regime_columns_ == ["vol_x"]
    w = m.blender_.weights_
    calm, wild = w.index[0], w.index[1]   # RegimeModel orders regimes by the volatility column, calm first
    assert w.loc[calm, "A"] > 0.9 and w.loc[wild, "B"] > 0.9
    # held out: the blend beats either model alone
    Xt, yt = X.iloc[4000:], y[4000:]
    p = m.predict_proba(Xt)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    alone = [log_loss(yt, OneColumn(c).fit(X.iloc[:4000], y[:4000]).predict_proba(Xt)) for c in "ab"]
    assert log_loss(yt, p) < min(alone) - 0.05


def test_rows_without_a_regime_get_the_global_weights():
    X, y, _ = market()
    m = blend().fit(X.iloc[:4000], y[:4000])
    Xt = X.iloc[4000:4010].copy()
    Xt.iloc[:5, 0] = np.nan
    p = m.predict_proba(Xt)
    base = [est.predict_proba(Xt) for est in m.stack_.estimators_]
    g = m.blender_.global_weights_.to_numpy()
    np.testing.assert_allclose(p[:5], g[0] * base[0][:5] + g[1] * base[1][:5], rtol=1e-12)
    assert np.isfinite(p).all()


def test_regime_columns_must_exist_and_x_must_be_a_frame():
    X, y, _ = market(600)
    with pytest.raises(ParameterError, match="regime_columns"):
        RegimeBlendEnsemble([("A", OneColumn("a")), ("B", OneColumn("b"))], regime_columns=["nope"]).fit(X, y)
    with pytest.raises(TypeError, match="DataFrame"):
        blend().fit(X.to_numpy(), y)


def test_walkforward_blend_runs_and_is_causal():
    import warnings

    from ml.data import continuous_contract, load_bars, sample_path
    from ml.training import WalkForwardConfig, train_walkforward

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bars = continuous_contract(load_bars(sample_path("wdo"))).iloc[:5000]
        cfg = WalkForwardConfig(model="blend", ensemble_models=("logistic", "random_forest"),
                                model_params={"random_forest": {"n_estimators": 10}}, train_sessions=5,
                                test_sessions=2, feature_groups=("volatility",))
        a = train_walkforward(bars, cfg, keep_models=True)
        b = train_walkforward(bars.iloc[:4500], cfg)   # causal: the bars after 4,500 change nothing before
    common = b.predictions.index
    pd.testing.assert_series_equal(a.predictions["p_up"].loc[common], b.predictions["p_up"], check_exact=True)
    assert a.predictions["p_up"].notna().all()
    assert a.folds[0].model.regime_columns_[0].startswith("vol_")
    assert isinstance(a.folds[0].model, RegimeBlendEnsemble)
    with pytest.raises(ParameterError, match="tune_trials"):
        cfg.replace(tune_trials=2).validate()
