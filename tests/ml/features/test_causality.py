"""Causality: no feature at row t may depend on rows after t (PITFALLS.md #2)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml.exceptions import LookAheadError
from ml.features import build_features, check_causality
from ml.features._causality import perturb_after


def _features(bars):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_features(bars)


@pytest.fixture(scope="module")
def samples(fil_bars, wdo_one_contract):
    # Enough rows for every window (the longest is 1000 bars) plus several sessions.
    return {"fil": fil_bars.iloc[:3500], "wdo": wdo_one_contract.iloc[:3500]}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(["fil", "wdo"]), frac=st.floats(0.0, 0.999), seed=st.integers(0, 2**31 - 1))
def test_every_feature_ignores_rows_after_t(samples, which, frac, seed):
    bars = samples[which]
    t = int(frac * (len(bars) - 1))
    base = _features(bars)
    pert = _features(perturb_after(bars, t, seed=seed))
    cut = _features(bars.iloc[: t + 1])
    # bit-identical: compare raw bytes, NaN included
    a = base.to_numpy()[: t + 1]
    assert a.tobytes() == pert.to_numpy()[: t + 1].tobytes()
    assert a.tobytes() == cut.to_numpy().tobytes()
    # and the perturbation really changed the future (otherwise the test proves nothing)
    if t < len(bars) - 2:
        assert not np.array_equal(base.to_numpy()[t + 1:], pert.to_numpy()[t + 1:], equal_nan=True)


def test_check_causality_passes_on_the_feature_builder(samples):
    assert check_causality(_features, samples["fil"], 2000) == []


def test_a_planted_look_ahead_feature_is_caught(samples):
    def leaky(bars):
        X = _features(bars)
        X["planted_future_close"] = bars["close"].shift(-1)
        return X

    with pytest.raises(LookAheadError, match="planted_future_close"):
        check_causality(leaky, samples["fil"], 2000)
    assert check_causality(leaky, samples["fil"], 2000, raise_error=False) == ["planted_future_close"]


def test_a_full_sample_normalisation_is_caught(samples):
    def leaky(bars):
        r = np.log(bars["close"]).diff()
        return pd.DataFrame({"z": (r - r.mean()) / r.std()}, index=bars.index)

    assert check_causality(leaky, samples["wdo"], 1000, raise_error=False) == ["z"]


def test_perturb_after_keeps_rows_up_to_t_and_valid_bars(samples):
    bars = samples["fil"]
    p = perturb_after(bars, 100, seed=3)
    pd.testing.assert_frame_equal(p.iloc[:101], bars.iloc[:101])
    assert (p["high"] >= p[["open", "close"]].max(axis=1)).all()
    assert (p["low"] <= p[["open", "close"]].min(axis=1)).all()
    np.testing.assert_allclose(p["buy_volume"] + p["sell_volume"], p["volume"])
    assert not p.iloc[101:]["close"].equals(bars.iloc[101:]["close"])


def test_features_on_a_back_adjusted_series_do_not_depend_on_later_rolls(wdo_bars):
    """Ratio back-adjustment rescales every bar before a roll by the roll's factor.
    Features must not notice: cut the raw bars 3 sessions before the first roll,
    build the continuous series and features on the cut, and compare with the full
    series (which carries two later rolls)."""
    from ml.data import continuous_contract

    cut_at = wdo_bars.index.searchsorted(pd.Timestamp("2021-11-25", tz="America/Sao_Paulo"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = _features(continuous_contract(wdo_bars))
        part = _features(continuous_contract(wdo_bars.iloc[:cut_at]))
    a, b = full.iloc[:cut_at], part
    assert a.columns.equals(b.columns)
    # equal up to the rounding of multiplying prices by the roll factor
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-6, atol=1e-9)


def test_difference_adjusted_series_warn():
    from ml.data import continuous_contract, load_bars, sample_path
    from ml.exceptions import DataQualityWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cont = continuous_contract(load_bars(sample_path("wdo")), adjust="difference")
    with pytest.warns(DataQualityWarning, match="difference-adjusted"):
        build_features(cont.iloc[:500], groups=["time"])
