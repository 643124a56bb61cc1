"""BlendingEnsemble: log-loss-optimal convex weights, per regime when asked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import log_loss
from sklearn.model_selection import KFold

from ml.ensemble import BlendingEnsemble, out_of_fold_proba
from ml.exceptions import ParameterError
from tests.ml.ensemble._helpers import logistic, tree


@pytest.fixture(scope="module")
def probas(fil_xy):
    """Out-of-fold probabilities of real models, the (softened) truth and pure noise."""
    X, y = fil_xy
    lr, classes = out_of_fold_proba(logistic(), X, y, KFold(5))
    dt, _ = out_of_fold_proba(tree(), X, y, KFold(5))
    truth = np.eye(2)[np.searchsorted(classes, y)] * 0.96 + 0.02
    noise = np.random.default_rng(0).dirichlet([1.0, 1.0], size=len(y))
    return {"lr": lr, "tree": dt, "truth": truth, "noise": noise}, y, X


def _blend_loss(blend, P, y):
    return log_loss(y, blend.predict_proba(P))


def test_all_weight_goes_to_the_model_that_equals_the_truth(probas):
    P, y, _ = probas
    blend = BlendingEnsemble().fit(P, y)
    w = blend.weights_.loc["global"]
    assert w["truth"] > 0.99
    assert w["noise"] < 1e-3
    assert (blend.weights_.to_numpy() >= 0).all()
    assert blend.weights_.sum(axis=1).tolist() == pytest.approx([1.0], abs=1e-12)
    assert list(blend.weights_.columns) == ["lr", "tree", "truth", "noise"]
    assert blend.n_ignored_ == 0 and blend.n_samples_fit_ == len(y)


def test_optimum_is_no_worse_than_any_model_or_the_mean(probas):
    P, y, _ = probas
    P = {k: P[k] for k in ("lr", "tree", "noise")}
    blend = BlendingEnsemble().fit(P, y)
    loss = _blend_loss(blend, P, y)
    assert loss == pytest.approx(blend.log_loss_["global"], rel=1e-9)
    assert all(loss <= log_loss(y, p) + 1e-9 for p in P.values())
    assert loss <= _blend_loss(BlendingEnsemble(weights="equal").fit(P, y), P, y) + 1e-9
    assert blend.weights_.loc["global", "noise"] < 0.05


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(8, 40), st.integers(2, 3), st.floats(0.0, 1.0), st.integers(0, 10_000))
def test_weights_are_on_the_simplex_and_above_the_floor(m, n, k, floor, seed):
    rng = np.random.default_rng(seed)
    P = {f"m{i}": rng.dirichlet(np.ones(k), size=n) for i in range(m)}
    y = np.arange(n) % k
    min_weight = floor / m
    w = BlendingEnsemble(min_weight=min_weight).fit(P, y).weights_.to_numpy()
    assert np.all(w >= min_weight - 1e-12)
    assert w.sum() == pytest.approx(1.0, abs=1e-12)


def test_equal_weights_equal_the_mean(probas):
    P, y, _ = probas
    out = BlendingEnsemble(weights="equal").fit(P, y).predict_proba(P)
    np.testing.assert_allclose(out, np.mean(list(P.values()), axis=0), atol=1e-15)


def test_fixed_weights_are_normalised(probas):
    P, y, _ = probas
    P = {"lr": P["lr"], "tree": P["tree"]}
    blend = BlendingEnsemble(weights={"tree": 6, "lr": 2}).fit(P, y)
    assert blend.global_weights_.to_dict() == {"lr": 0.25, "tree": 0.75}
    np.testing.assert_allclose(blend.predict_proba(P), 0.25 * P["lr"] + 0.75 * P["tree"])


def test_min_weight_is_a_floor(probas):
    P, y, _ = probas
    P = {"truth": P["truth"], "noise": P["noise"]}
    w = BlendingEnsemble(min_weight=0.1).fit(P, y).global_weights_
    assert w["noise"] == pytest.approx(0.1, abs=1e-9)
    assert w["truth"] == pytest.approx(0.9, abs=1e-9)


def test_nan_rows_are_ignored_counted_and_propagated(probas):
    P, y, _ = probas
    P = {"lr": P["lr"].copy(), "tree": P["tree"], "noise": P["noise"]}
    P["lr"][:150] = np.nan
    blend = BlendingEnsemble().fit(P, y)
    clean = BlendingEnsemble().fit({k: v[150:] for k, v in P.items()}, y[150:])
    assert blend.n_ignored_ == 150 and blend.n_samples_fit_ == len(y) - 150
    np.testing.assert_allclose(blend.weights_.to_numpy(), clean.weights_.to_numpy(), atol=1e-12)
    out = blend.predict_proba(P)
    assert np.isnan(out[:150]).all() and np.isfinite(out[150:]).all()


@pytest.fixture(scope="module")
def two_regimes(probas):
    """Regime = volatility above its median; model A is right in regime 0, model B in regime 1."""
    P, y, X = probas
    regime = (X["vol_cc_15"] > X["vol_cc_15"].median()).astype(int).to_numpy()
    a = np.where(regime[:, None] == 0, P["truth"], P["noise"])
    b = np.where(regime[:, None] == 1, P["truth"], P["noise"])
    return {"A": a, "B": b}, y, regime


def test_regime_weights_differ_when_each_regime_has_its_own_best_model(two_regimes):
    P, y, regime = two_regimes
    blend = BlendingEnsemble(regime_aware=True).fit(P, y, regimes=regime)
    w = blend.weights_
    assert w.index.tolist() == [0, 1] and w.index.name == "regime"
    assert w.loc[0, "A"] > 0.99 and w.loc[1, "B"] > 0.99
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12)
    assert blend.fallback_regimes_ == []
    out = blend.predict_proba(P, regimes=regime)
    expected = np.where(regime[:, None] == 0, w.loc[0, "A"] * P["A"] + w.loc[0, "B"] * P["B"],
                        w.loc[1, "A"] * P["A"] + w.loc[1, "B"] * P["B"])
    np.testing.assert_allclose(out, expected, atol=1e-14)
    flat = BlendingEnsemble().fit(P, y)
    assert log_loss(y, out) < log_loss(y, flat.predict_proba(P))


def test_regime_probabilities_mix_the_weights(two_regimes):
    P, y, regime = two_regimes
    hard = BlendingEnsemble(regime_aware=True).fit(P, y, regimes=regime)
    onehot = pd.DataFrame(np.eye(2)[regime], columns=["calm", "wild"])
    soft = BlendingEnsemble(regime_aware=True).fit(P, y, regimes=onehot)
    assert soft.regime_labels_ == ["calm", "wild"]
    np.testing.assert_allclose(soft.weights_.to_numpy(), hard.weights_.to_numpy(), atol=1e-9)
    half = np.full((len(y), 2), 0.5)
    mixed = soft.weights_.mean(axis=0).to_numpy()
    np.testing.assert_allclose(soft.predict_proba(P, regimes=half), mixed[0] * P["A"] + mixed[1] * P["B"],
                               atol=1e-12)
    fuzzy = pd.DataFrame(0.8 * np.eye(2)[regime] + 0.1, columns=["calm", "wild"])
    w = BlendingEnsemble(regime_aware=True).fit(P, y, regimes=fuzzy).weights_
    assert w.loc["calm", "A"] > 0.6 and w.loc["wild", "B"] > 0.6
    # a DataFrame of regime probabilities is matched by column name
    np.testing.assert_allclose(soft.predict_proba(P, regimes=onehot[["wild", "calm"]]),
                               soft.predict_proba(P, regimes=onehot), atol=1e-15)
    with pytest.raises(ParameterError, match=r"`regimes` columns .*Did you mean 'wild'"):
        soft.predict_proba(P, regimes=onehot.rename(columns={"wild": "wilde"}))
    # hard labels at predict time use the same weights as one-hot probabilities
    np.testing.assert_allclose(hard.predict_proba(P, regimes=np.eye(2)[regime]),
                               hard.predict_proba(P, regimes=regime), atol=1e-14)


def test_small_and_unseen_regimes_use_the_global_weights(two_regimes):
    P, y, regime = two_regimes
    regime = regime.copy()
    regime[:30] = 7  # a regime with only 30 rows
    blend = BlendingEnsemble(regime_aware=True, min_regime_samples=50).fit(P, y, regimes=regime)
    assert blend.fallback_regimes_ == [7]
    assert blend.regime_counts_[7] == 30
    np.testing.assert_array_equal(blend.weights_.loc[7].to_numpy(), blend.global_weights_.to_numpy())
    unseen = np.full(len(y), 99)
    np.testing.assert_allclose(blend.predict_proba(P, regimes=unseen),
                               BlendingEnsemble().fit(P, y).predict_proba(P), atol=1e-9)


def test_clone_params_and_determinism(two_regimes):
    P, y, regime = two_regimes
    blend = BlendingEnsemble(regime_aware=True, min_weight=0.01, min_regime_samples=10)
    twin = clone(blend)
    assert twin.get_params() == blend.get_params()
    a = blend.fit(P, y, regimes=regime).weights_
    b = twin.fit(P, y, regimes=regime).weights_
    pd.testing.assert_frame_equal(a, b)
    assert not hasattr(clone(blend), "weights_")


def test_sample_weight_changes_the_fit(two_regimes):
    P, y, regime = two_regimes
    w = np.where(regime == 0, 1.0, 0.0)  # only regime 0 counts: model A is right there
    assert BlendingEnsemble().fit(P, y, sample_weight=w).global_weights_["A"] > 0.99


# ---------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    ("params", "fit_kwargs", "error", "match"),
    [
        ({"weights": "optimise"}, {}, ParameterError, r"`weights`.*Did you mean 'optimize'"),
        ({"weights": [0.5, 0.5]}, {}, TypeError, "`weights`"),
        ({"weights": {"truht": 1, "noise": 1}}, {}, ParameterError, r"`weights`.*Did you mean 'truth'"),
        ({"weights": {"truth": 1}}, {}, ParameterError, r"`weights`.*missing \['noise'\]"),
        ({"weights": {"truth": -1, "noise": 1}}, {}, ParameterError, r"`weights\['truth'\]`"),
        ({"min_weight": 0.6}, {}, ParameterError, r"`min_weight` must be a number in \[0, 0.5\], got 0.6"),
        ({"min_regime_samples": 0}, {}, ParameterError, "`min_regime_samples`"),
        ({"regime_aware": True}, {}, ParameterError, "`regimes` is required"),
        ({"regime_aware": True, "weights": "equal"}, {"regimes": "ok"}, ParameterError, "`regime_aware=True`"),
        ({"regime_aware": "yes"}, {}, TypeError, "`regime_aware`"),
        ({"regime_aware": True}, {"regimes": np.zeros(3)}, ParameterError, "`regimes` must have shape"),
        ({}, {"classes": [0, 1, 2]}, ParameterError, "`y` holds labels|3 classes"),
        ({}, {"sample_weight": np.ones(3)}, ParameterError, "`sample_weight`"),
    ],
)
def test_bad_arguments_raise_naming_them(probas, params, fit_kwargs, error, match):
    P, y, _ = probas
    P = {"truth": P["truth"], "noise": P["noise"]}
    if isinstance(fit_kwargs.get("regimes"), str):
        fit_kwargs = {"regimes": np.arange(len(y)) % 2}
    with pytest.raises(error, match=match):
        BlendingEnsemble(**params).fit(P, y, **fit_kwargs)


def test_bad_probabilities_raise_naming_the_model(probas):
    P, y, _ = probas
    with pytest.raises(ParameterError, match=r"`oof_probas\['noise'\]` has shape"):
        BlendingEnsemble().fit({"truth": P["truth"], "noise": P["noise"][:-1]}, y)
    bad = P["noise"].copy()
    bad[5] = [0.7, 0.7]
    with pytest.raises(ParameterError, match=r"`oof_probas\['noise'\]` row 5 is not a probability vector"):
        BlendingEnsemble().fit({"truth": P["truth"], "noise": bad}, y)
    with pytest.raises(TypeError, match="`oof_probas` must be a non-empty dict"):
        BlendingEnsemble().fit([P["truth"]], y)
    with pytest.raises(ParameterError, match="`y` has"):
        BlendingEnsemble().fit({"truth": P["truth"]}, y[:-1])


def test_predict_checks_its_inputs(probas, two_regimes):
    P, y, _ = probas
    with pytest.raises(NotFittedError):
        BlendingEnsemble().predict_proba(P)
    blend = BlendingEnsemble().fit({"truth": P["truth"], "noise": P["noise"]}, y)
    with pytest.raises(ParameterError, match=r"`probas` holds model 'nois' .*Did you mean 'noise'"):
        blend.predict_proba({"truth": P["truth"], "nois": P["noise"]})
    with pytest.raises(ParameterError, match=r"`probas` lacks models \['noise'\]"):
        blend.predict_proba({"truth": P["truth"]})
    P2, y2, regime = two_regimes
    aware = BlendingEnsemble(regime_aware=True).fit(P2, y2, regimes=regime)
    with pytest.raises(ParameterError, match="`regimes` is required"):
        aware.predict_proba(P2)
    with pytest.raises(ParameterError, match="`regimes` has 3 probability columns"):
        aware.predict_proba(P2, regimes=np.full((len(y2), 3), 1 / 3))
