"""GarchModel: fit on real WDO 1-minute returns, forecast, causal filtering, convention, save/load."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from ml.exceptions import ParameterError
from ml.models import get_model
from ml.models._garch import GarchModel

N_TRAIN = 3000


@pytest.fixture(scope="module")
def returns(wdo_one_contract):
    """Log returns of one contract (no roll jump), leading NaN row kept."""
    return np.log(wdo_one_contract["close"]).diff()


@pytest.fixture(scope="module")
def train(returns):
    return returns.iloc[:N_TRAIN + 1]  # first row NaN: N_TRAIN finite returns


@pytest.fixture(scope="module")
def test_fold(returns):
    return returns.iloc[N_TRAIN + 1:N_TRAIN + 1501]


@pytest.fixture(scope="module")
def garch(train):
    return GarchModel().fit(train)


@pytest.fixture(scope="module")
def egarch(train):
    return GarchModel(vol="EGARCH", o=1).fit(train)


def _arch_fixed(model, train):
    """arch's own result for the fitted parameters on the training sample."""
    from arch import arch_model

    x = train.dropna() * model.scale_
    am = arch_model(x, mean=model.mean, vol="EGARCH" if model.vol == "EGARCH" else "GARCH",
                    p=model.p, o=model.o_, q=model.q, dist=model.dist, rescale=False)
    return am.fix(model.params_.to_numpy())


# --------------------------------------------------------------------------- fit
def test_fit_learns_parameters_in_documented_units(garch, train):
    assert list(garch.params_.index) == ["omega", "alpha[1]", "beta[1]", "nu"]
    assert garch.n_obs_ == N_TRAIN and garch.n_dropped_ == 1
    assert garch.scale_ == 1e4  # 1-minute FX returns: std ~4e-4 -> scaled std in [1, 10)
    assert 1.0 <= np.std(train.dropna()) * garch.scale_ < 10.0
    assert garch.convergence_flag_ == 0
    a, b = garch.params_["alpha[1]"], garch.params_["beta[1]"]
    assert 0 < a < 1 and 0 < b < 1 and a + b < 1
    assert garch.mu_ == 0.0 and garch.o_ == 0
    cv = garch.conditional_volatility_
    assert cv.index.equals(train.index[1:]) and (cv > 0).all()
    # sigma is in return units: of the order of the returns' own std
    assert 0.3 < cv.mean() / train.std() < 3


def test_fixed_scale_100_is_accepted(train):
    m = GarchModel(scale=100.0, dist="normal").fit(train)
    assert m.scale_ == 100.0
    assert np.isfinite(m.forecast(2).to_numpy()).all()


# --------------------------------------------------------------------------- forecast
def test_forecast_shapes_positivity_and_the_garch_recursion(garch):
    f1 = garch.forecast()
    assert f1.shape == (1, 4) and list(f1.index) == [1]
    f = garch.forecast(h=10)
    assert list(f.columns) == ["variance", "sigma", "cum_variance", "cum_sigma"]
    assert list(f.index) == list(range(1, 11)) and f.index.name == "horizon"
    assert (f.to_numpy() > 0).all()
    np.testing.assert_allclose(f["sigma"], np.sqrt(f["variance"]), rtol=1e-14)
    np.testing.assert_allclose(f["cum_variance"], np.cumsum(f["variance"]), rtol=1e-14)
    np.testing.assert_allclose(f["cum_sigma"], np.sqrt(f["cum_variance"]), rtol=1e-14)
    assert f["variance"].iloc[0] == f1["variance"].iloc[0]
    # GARCH(1,1) by hand: E[s2_{k+1}] = omega + (alpha + beta) * s2_k (scaled units),
    # converging to omega / (1 - alpha - beta).
    w, a, b = (garch.params_[k] for k in ("omega", "alpha[1]", "beta[1]"))
    s2 = f["variance"].to_numpy() * garch.scale_ ** 2
    np.testing.assert_allclose(s2[1:], w + (a + b) * s2[:-1], rtol=1e-10)
    uncond = w / (1 - a - b) / garch.scale_ ** 2
    far = garch.forecast(h=400)["variance"].iloc[-1]
    assert far == pytest.approx(uncond, rel=1e-6)


def test_forecast_from_new_returns_uses_their_end(garch, test_fold):
    f = garch.forecast(h=3, returns=test_fold)
    pv = garch.predict_volatility(test_fold)
    assert f["sigma"].iloc[0] == pytest.approx(pv.iloc[-1], rel=1e-12)
    assert f["sigma"].iloc[0] != pytest.approx(garch.forecast(h=3)["sigma"].iloc[0], rel=1e-6)


# --------------------------------------------------------------------------- convention
def test_predict_volatility_on_training_data_is_arch_conditional_volatility_shifted(garch, train):
    """Row t of predict_volatility = sigma_{t+1|t} = arch's conditional_volatility[t + 1]."""
    pv = garch.predict_volatility(train)
    assert pv.index.equals(train.index) and np.isnan(pv.iloc[0])  # leading NaN row -> NaN
    res = _arch_fixed(garch, train)
    arch_cv = np.asarray(res.conditional_volatility) / garch.scale_  # sigma_t of r_t, given r_<t
    # arch_cv[j] belongs to finite return j = row j + 1 of `train`
    np.testing.assert_allclose(pv.to_numpy()[1:-1], arch_cv[1:], rtol=1e-12)
    np.testing.assert_allclose(pv.to_numpy()[1:-1], garch.conditional_volatility_.shift(-1).to_numpy()[:-1],
                               rtol=1e-12)
    # the last row is arch's own one-step forecast from the end of the sample
    last = np.sqrt(res.forecast(horizon=1, reindex=False).variance.iloc[-1, 0]) / garch.scale_
    assert pv.iloc[-1] == pytest.approx(last, rel=1e-12)
    assert garch.forecast(1)["sigma"].iloc[0] == pytest.approx(last, rel=1e-12)


def test_egarch_convention_matches_arch_too(egarch, train):
    pv = egarch.predict_volatility(train)
    arch_cv = np.asarray(_arch_fixed(egarch, train).conditional_volatility) / egarch.scale_
    np.testing.assert_allclose(pv.to_numpy()[1:-1], arch_cv[1:], rtol=1e-10)


def test_arch_fix_on_new_data_is_not_causal_which_is_why_it_is_not_used(garch, test_fold):
    """arch's fix() recomputes its backcast from the first 75 rows of the new sample."""
    from arch import arch_model

    x = test_fold * garch.scale_
    y = x.copy()
    y.iloc[50:] *= 3.0  # change rows after T = 49 only

    def fixed(s):
        return np.asarray(arch_model(s, mean="Zero", vol="GARCH", dist="t", rescale=False)
                          .fix(garch.params_.to_numpy()).conditional_volatility)

    assert not np.allclose(fixed(x)[:50], fixed(y)[:50])  # arch: early rows moved
    ours_x = garch.predict_volatility(test_fold).to_numpy()[:50]
    ours_y = garch.predict_volatility(y / garch.scale_).to_numpy()[:50]
    assert ours_x.tobytes() == ours_y.tobytes()


# --------------------------------------------------------------------------- causality
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frac=st.floats(0.0, 0.995), seed=st.integers(0, 2**31 - 1), which=st.sampled_from(["garch", "egarch"]),
       init=st.sampled_from(["fit", "continue"]))
def test_predict_volatility_is_causal(garch, egarch, test_fold, frac, seed, which, init):
    model = {"garch": garch, "egarch": egarch}[which]
    t = int(frac * (len(test_fold) - 1))
    rng = np.random.default_rng(seed)
    pert = test_fold.copy()
    pert.iloc[t + 1:] = rng.standard_t(4, size=len(test_fold) - t - 1) * 1e-3
    base = model.predict_volatility(test_fold, init=init).to_numpy()
    moved = model.predict_volatility(pert, init=init).to_numpy()
    cut = model.predict_volatility(test_fold.iloc[:t + 1], init=init).to_numpy()
    assert base[:t + 1].tobytes() == moved[:t + 1].tobytes()
    assert base[:t + 1].tobytes() == cut.tobytes()
    if t < len(test_fold) - 2:
        assert not np.array_equal(base[t + 1:], moved[t + 1:])


def test_continue_equals_filtering_train_and_test_together(garch, train, test_fold):
    both = garch.predict_volatility(pd.concat([train, test_fold]))
    cont = garch.predict_volatility(test_fold, init="continue")
    assert cont.index.equals(test_fold.index)
    np.testing.assert_array_equal(cont.to_numpy(), both.to_numpy()[len(train):])
    fresh = garch.predict_volatility(test_fold)  # init="fit": differs early, converges
    assert not np.allclose(fresh.iloc[:3], cont.iloc[:3], rtol=1e-9)
    np.testing.assert_allclose(fresh.iloc[-100:], cont.iloc[-100:], rtol=1e-8)
    f_cont = garch.forecast(h=2, returns=test_fold, init="continue")
    assert f_cont["sigma"].iloc[0] == pytest.approx(cont.iloc[-1], rel=1e-12)


def test_leading_nan_rows_give_nan_and_array_input_works(garch, test_fold):
    s = pd.concat([pd.Series([np.nan, np.nan], index=test_fold.index[:2]), test_fold.iloc[2:]])
    pv = garch.predict_volatility(s)
    assert pv.iloc[:2].isna().all() and pv.iloc[2:].notna().all()
    arr = garch.predict_volatility(test_fold.to_numpy())
    assert isinstance(arr.index, pd.RangeIndex)
    np.testing.assert_array_equal(arr.to_numpy(), garch.predict_volatility(test_fold).to_numpy())


# --------------------------------------------------------------------------- variants
def test_gjr_and_egarch_variants_fit(train, egarch):
    gjr = GarchModel(vol="gjr").fit(train)  # case-insensitive; o=0 read as o=1
    assert gjr.o_ == 1 and "gamma[1]" in gjr.params_.index
    assert "gamma[1]" in egarch.params_.index and egarch.convergence_flag_ == 0
    for m in (gjr, egarch):
        f = m.forecast(h=5)
        assert f.shape == (5, 4) and (f.to_numpy() > 0).all()
    # EGARCH beyond one step is simulated, seeded by random_state: repeatable
    pd.testing.assert_frame_equal(egarch.forecast(h=5), egarch.forecast(h=5))
    other = clone(egarch).set_params(random_state=1).fit(train).forecast(h=5)
    assert not other.equals(egarch.forecast(h=5))


def test_constant_mean_and_skewt(train):
    m = GarchModel(mean="constant", dist="skewt").fit(train)
    assert list(m.params_.index[:1]) == ["mu"] and {"eta", "lambda"} <= set(m.params_.index)
    assert m.mu_ == pytest.approx(m.params_["mu"] / m.scale_)
    pv = m.predict_volatility(train)
    arch_cv = np.asarray(_arch_fixed(m, train).conditional_volatility) / m.scale_
    np.testing.assert_allclose(pv.to_numpy()[1:-1], arch_cv[1:], rtol=1e-10)


# --------------------------------------------------------------------------- persistence
def test_save_load_round_trip_gives_identical_outputs(garch, egarch, test_fold, tmp_path):
    for m in (garch, egarch):
        path = m.save(tmp_path / f"{m.vol}.joblib")
        back = GarchModel.load(path)
        pd.testing.assert_frame_equal(back.forecast(h=4), m.forecast(h=4))
        pd.testing.assert_series_equal(back.predict_volatility(test_fold), m.predict_volatility(test_fold))
        pd.testing.assert_series_equal(back.params_, m.params_)
    from ml.models._regime import RegimeModel

    with pytest.raises(TypeError, match="GarchModel"):
        RegimeModel.load(tmp_path / "GARCH.joblib")


def test_clone_and_determinism(garch, train):
    c = clone(garch)
    assert c.get_params() == garch.get_params() and not hasattr(c, "params_")
    c.fit(train)
    pd.testing.assert_series_equal(c.params_, garch.params_)


def test_registry_and_search_space():
    import optuna

    m = get_model("garch", vol="EGARCH")
    assert isinstance(m, GarchModel) and m.kind == "volatility" and m.name == "garch"
    space = GarchModel.search_space(optuna.trial.FixedTrial({"vol": "GJR", "dist": "t", "p": 1, "q": 2}))
    assert space == {"vol": "GJR", "dist": "t", "p": 1, "q": 2}
    assert GarchModel(**space).get_params()["q"] == 2


# --------------------------------------------------------------------------- errors
def test_errors_name_the_parameter_or_row(train, garch):
    with pytest.raises(ParameterError, match="at least 100"):
        GarchModel().fit(train.iloc[:80])
    bad = train.copy()
    bad.iloc[500] = np.nan
    with pytest.raises(ParameterError, match=r"NaN at position 500 \(index Timestamp"):
        GarchModel().fit(bad)
    with pytest.raises(ParameterError, match="position 500"):
        garch.predict_volatility(bad)
    inf = train.copy()
    inf.iloc[7] = np.inf
    with pytest.raises(ParameterError, match="infinite value at position 7"):
        GarchModel().fit(inf)
    with pytest.raises(ParameterError, match="Did you mean 'EGARCH'"):
        GarchModel(vol="EGARHC").fit(train)
    with pytest.raises(ParameterError, match="Did you mean 'skewt'"):
        GarchModel(dist="skew-t").fit(train)
    with pytest.raises(ParameterError, match="`mean`"):
        GarchModel(mean="AR").fit(train)
    with pytest.raises(ParameterError, match="`p` must be an int >= 1"):
        GarchModel(p=0).fit(train)
    with pytest.raises(ParameterError, match="`scale`"):
        GarchModel(scale=-1).fit(train)
    with pytest.raises(ParameterError, match="constant"):
        GarchModel().fit(pd.Series(np.zeros(200)))
    with pytest.raises(ParameterError, match="2 columns"):
        GarchModel().fit(pd.DataFrame({"a": train, "b": train}))
    with pytest.raises(TypeError, match="numbers"):
        GarchModel().fit(pd.Series(["x"] * 200))
    with pytest.raises(ParameterError, match="`init`.*Did you mean 'continue'"):
        garch.predict_volatility(train, init="contine")
    with pytest.raises(ParameterError, match="`h`"):
        garch.forecast(h=0)
    with pytest.raises(NotFittedError):
        GarchModel().forecast()


def test_no_warning_on_a_normal_fit(train):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GarchModel(dist="normal").fit(train)
