"""build_features: catalogue, values against pandas twins, sessions, errors."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from ml.data import get_calendar
from ml.exceptions import BarDataError, MissingOptionalColumnsWarning, ParameterError
from ml.features import FEATURE_GROUPS, build_features, feature_catalog
from ml.features import _features_nb as nb
from ml.features._reference import REFERENCE_FEATURES, reference_features
from tests.conftest import quiet


@pytest.fixture(scope="module")
def fil_features(fil_bars):
    return build_features(fil_bars)


def test_catalogue_documents_every_feature_and_there_are_80_plus(fil_features):
    cat = feature_catalog()
    assert len(cat) >= 80
    assert list(fil_features.columns) == list(cat.index)
    assert cat.index.is_unique
    assert (cat["description"].str.len() > 10).all()
    assert sum(len(v) for v in FEATURE_GROUPS.values()) == len(cat)
    assert set(cat["group"]) == set(FEATURE_GROUPS)


def test_output_aligned_float_and_never_infinite(fil_bars, fil_features):
    assert fil_features.index.equals(fil_bars.index)
    assert (fil_features.dtypes == np.float64).all()
    assert np.isfinite(fil_features.to_numpy()[~np.isnan(fil_features.to_numpy())]).all()
    # after the longest warm-up (1000 bars) every feature is defined on this data
    tail = fil_features.iloc[1500:]
    assert not tail.isna().all().any()


def test_missing_optional_columns_skip_features_with_a_warning(wdo_one_contract):
    with pytest.warns(MissingOptionalColumnsWarning, match="buy_volume.*sell_volume.*trades") as rec:
        X = build_features(wdo_one_contract)
    skipped = X.attrs["skipped_features"]
    assert set(skipped) == set(FEATURE_GROUPS["order_flow"]) | set(FEATURE_GROUPS["trades"])
    assert any("of_imbalance" in str(w.message) for w in rec)
    assert "vwap_dist_bar" in X.columns  # WDO has vwap
    assert X.shape[1] >= 80 - len(skipped) + 5


def test_matches_pandas_twins(fil_bars, fil_features):
    cal = get_calendar("24/7")
    ref = reference_features(fil_bars, cal.sessions(fil_bars.index).session)
    assert set(REFERENCE_FEATURES) <= set(ref.columns)
    for name in REFERENCE_FEATURES:
        a, b = fil_features[name].to_numpy(), ref[name].to_numpy()
        both = np.isfinite(a) & np.isfinite(b)
        assert both.sum() > 0.8 * len(a), name
        atol = 1e-7 * np.nanstd(b[both])  # values that cancel to ~0 (close at a band) differ in rounding only
        np.testing.assert_allclose(a[both], b[both], rtol=1e-7, atol=atol, err_msg=name)
        # never NaN where pandas has a value (warm-up lengths agree)
        assert not (np.isnan(a) & np.isfinite(b)).any(), name


def test_warmup_is_nan_not_backfilled(fil_features):
    assert fil_features["vol_cc_240"].iloc[:240].isna().all()
    assert fil_features["vol_cc_240"].iloc[240:300].notna().all()
    assert fil_features["ret_120"].iloc[:120].isna().all()


def test_session_features_reset_each_session(wdo_one_contract):
    X = quiet(build_features, wdo_one_contract)
    b = wdo_one_contract
    local = b.index.tz_convert("America/Sao_Paulo")
    first = np.r_[True, local.date[1:] != local.date[:-1]]
    # minutes since the 09:00 open and to the 18:30 close
    at_nine = (local.hour == 9) & (local.minute == 0)
    assert (X.loc[at_nine, "minutes_since_open"] == 0).all()
    assert (X.loc[at_nine, "minutes_to_close"] == 570).all()
    # session high/low restart: on a session's first bar the distance is to its own high/low
    np.testing.assert_allclose(X["dist_session_high"][first], np.log(b["close"] / b["high"])[first])
    np.testing.assert_allclose(X["ret_session"][first], np.log(b["close"] / b["open"])[first], rtol=1e-9)
    # previous-session levels are NaN on the first session only and constant within a session
    s0 = ~np.isin(local.date, local.date[0:1])
    assert X["dist_prev_close"][~s0].isna().all() and X["dist_prev_close"][s0].notna().all()
    prev_range = X["prev_range"][s0].groupby(local.date[s0]).nunique()
    assert (prev_range == 1).all()


def test_opening_range_known_only_after_30_minutes(wdo_one_contract):
    X = quiet(build_features, wdo_one_contract)
    m = X["minutes_since_open"]
    assert X.loc[(m >= 0) & (m < 29), "dist_or_high_30"].isna().all()
    later = X.index >= "2021-11-08"  # the first session starts at 12:47: its opening range was never seen
    assert X.loc[X.index < "2021-11-08", "dist_or_high_30"].isna().all()
    assert X.loc[later & (m >= 29), "dist_or_high_30"].notna().all()
    # the range of a session's first 30 minutes, checked on one day
    day = wdo_one_contract.loc["2021-11-10"]
    hi = day["high"].iloc[:30].max()
    np.testing.assert_allclose(X.loc[day.index[45], "dist_or_high_30"], np.log(day["close"].iloc[45] / hi))


def test_order_flow_features_by_hand(fil_bars, fil_features):
    b = fil_bars
    delta = b["buy_volume"] - b["sell_volume"]
    np.testing.assert_allclose(fil_features["of_imbalance"], delta / b["volume"])
    day = b.index.normalize()
    np.testing.assert_allclose(fil_features["of_cum_delta_session"], delta.groupby(day).cumsum(), rtol=1e-9)
    w = (delta.rolling(30).sum() / b["volume"].rolling(30).sum()).to_numpy()
    np.testing.assert_allclose(fil_features["of_imbalance_30"].to_numpy()[29:], w[29:], rtol=1e-9)


def test_session_vwap_by_hand(fil_bars, fil_features):
    b = fil_bars
    day = b.index.normalize()
    pv = (b["vwap"].fillna((b["high"] + b["low"] + b["close"]) / 3) * b["volume"]).groupby(day).cumsum()
    svwap = pv / b["volume"].groupby(day).cumsum()
    np.testing.assert_allclose(fil_features["vwap_dist_session"], np.log(b["close"] / svwap), rtol=1e-9, atol=1e-12)


def test_time_of_day_volume_uses_previous_sessions_only(fil_bars, fil_features):
    b = fil_bars
    assert fil_features["volume_rel_tod"].iloc[:1440].isna().all()  # no earlier session yet
    t = b.index[1440 * 3 + 600]
    same = [t - pd.Timedelta(days=k) for k in (1, 2, 3)]
    expected = b.loc[t, "volume"] / b.loc[same, "volume"].mean()
    assert fil_features.loc[t, "volume_rel_tod"] == pytest.approx(expected, rel=1e-12)


def test_hurst_of_a_random_walk_is_near_half():
    rng = np.random.default_rng(1)
    n = 20000
    idx = pd.date_range("2024-01-01", periods=n, freq="1min", tz="UTC")
    c = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    bars = pd.DataFrame({"open": c, "high": c * 1.0005, "low": c * 0.9995, "close": c,
                         "volume": 1.0, "symbol": "X"}, index=idx)
    X = build_features(bars, groups=["stats"], calendar="24/7")
    assert X["hurst_240"].iloc[1000:].mean() == pytest.approx(0.5, abs=0.03)
    assert X["var_ratio_5_240"].iloc[1000:].mean() == pytest.approx(1.0, abs=0.05)


def test_groups_subset_and_order(fil_bars):
    X = build_features(fil_bars, groups=["time", "levels"])
    assert list(X.columns) == FEATURE_GROUPS["time"] + FEATURE_GROUPS["levels"]
    full = build_features(fil_bars)
    pd.testing.assert_frame_equal(X, full[X.columns])


def test_deterministic(fil_bars, fil_features):
    pd.testing.assert_frame_equal(build_features(fil_bars), fil_features)


@pytest.mark.parametrize("w", [2, 5, 60, 240])
def test_rolling_kernels_match_pandas(fil_bars, w):
    r = np.log(fil_bars["close"]).diff()
    r.iloc[500] = np.nan  # a hole: NaN for the next w bars, as pandas does
    x = r.to_numpy()
    np.testing.assert_allclose(nb.rolling_sum_nb(x, w), r.rolling(w).sum(), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(nb.rolling_var_nb(x, w, 1), r.rolling(w).var(), rtol=1e-8, atol=1e-18)
    np.testing.assert_allclose(nb.rolling_max_nb(x, w), r.rolling(w).max())
    np.testing.assert_allclose(nb.rolling_min_nb(x, w), r.rolling(w).min())
    y = fil_bars["volume"]
    np.testing.assert_allclose(nb.rolling_cov_nb(x, y.to_numpy(), w, 1), r.rolling(w).cov(y), rtol=1e-7, atol=1e-12)
    if w >= 5:
        np.testing.assert_allclose(nb.rolling_moment_nb(x, w, 3), r.rolling(w).skew(), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(nb.rolling_moment_nb(x, w, 4), r.rolling(w).kurt(), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(nb.ewm_nb(x, 2 / (w + 1), w),
                               r.ewm(span=w, adjust=False, ignore_na=True, min_periods=w).mean(), rtol=1e-10)


def test_rolling_var_of_prices_has_no_cancellation_error():
    x = 1e6 + np.tile([0.0, 1.0], 5000)  # large level, tiny variance
    np.testing.assert_allclose(nb.rolling_var_nb(x, 20, 0)[19:], 0.25, rtol=1e-12)


def test_bad_input_raises_clear_errors(fil_bars):
    with pytest.raises(TypeError, match="`bars` must be a pandas DataFrame"):
        build_features(fil_bars.to_numpy())
    with pytest.raises(ParameterError, match="unknown feature group 'momentun'.*Did you mean 'momentum'"):
        build_features(fil_bars, groups=["momentun"])
    with pytest.raises(BarDataError, match="lacks column.*close"):
        build_features(fil_bars.drop(columns="close"))
    with pytest.raises(BarDataError, match="empty"):
        build_features(fil_bars.iloc[:0])
    ts = re.escape(str(fil_bars.index[1]))  # the bar at position 2 of the shuffled frame
    with pytest.raises(BarDataError, match=rf"`bars.index` must be strictly increasing; "
                                           rf"out-of-order timestamp {ts} at position 2 \(0-based"):
        build_features(fil_bars.iloc[[0, 2, 1, 3]])
    with pytest.raises(BarDataError, match="`bars.index` must be timezone-aware"):
        build_features(fil_bars.tz_localize(None))
    with pytest.raises(BarDataError, match="`bars.index` must be a DatetimeIndex"):
        build_features(fil_bars.reset_index(drop=True))
    two = pd.concat([fil_bars.iloc[:50], fil_bars.iloc[:50].assign(symbol="OTHER")])
    with pytest.raises(BarDataError, match="2 symbols"):
        build_features(two)
    with pytest.raises(ParameterError, match="`bar_minutes`"):
        build_features(fil_bars, bar_minutes=0)


def test_sequential_contracts_warn_about_roll_jumps(wdo_bars):
    with pytest.warns(UserWarning, match="3 contracts in sequence .WDOZ21, WDOF22, WDOG22.*continuous_contract"):
        build_features(wdo_bars, groups=["time"])


def test_bar_length_comes_from_the_data_set_not_from_the_rows_present(wdo_one_contract):
    from ml.data import resample_bars
    from ml.data._frame import bar_minutes_of

    assert wdo_one_contract.attrs["bars"]["bar_minutes"] == 1.0
    five = resample_bars(wdo_one_contract, "5min")
    assert bar_minutes_of(five) == 5.0
    assert bar_minutes_of(five.iloc[:1]) == 5.0  # a single row still knows its bar length
    X = build_features(five, groups=["levels", "time"])
    m = X["minutes_since_open"]
    later = X.index >= "2021-11-08"
    # the 09:25 bar (09:25-09:30) completes the 30-minute opening range
    assert X.loc[later & (m == 20), "dist_or_high_30"].isna().all()
    assert X.loc[later & (m == 25), "dist_or_high_30"].notna().all()
