"""Tests of ml.features._selection on features built from real FILUSDT bars.

The label is built from two known features (``flow_imb`` strongly, ``vwap_dist``
weakly) plus a little noise, so the right answer is known; the rest of the frame
is real but uninformative features, near-duplicate pairs and pure noise.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from ml.exceptions import DataQualityWarning, ParameterError
from ml.features._selection import FeatureSelector, select_features

N_ROWS = 1500  # rows of real bars used: keeps every forest fit well under a second
FAST = dict(n_estimators=50)


def fast(method="mdi"):
    """Small forests; permutation scoring predicts 5 x n_features times, so fewer trees."""
    return dict(method=method, n_estimators=20 if method == "permutation" else 50)

NOISE = ["noise_0", "noise_1", "noise_2"]
DUP_PAIRS = [("vol_20", "vol_20_dup"), ("range_hl", "range_hl_dup")]
#: a few columns for the slower tests (permutation scoring costs 5 predictions per column)
SMALL = ["ret_1", "vol_20", "vol_20_dup", "vwap_dist", "flow_imb", "noise_0"]


def make_features(bars: pd.DataFrame, seed: int = 7) -> pd.DataFrame:
    """A small causal feature frame (row t uses bars <= t only) plus planted columns."""
    rng = np.random.default_rng(seed)
    close = bars["close"]
    logc = np.log(close)
    r1 = logc.diff()
    X = pd.DataFrame(index=bars.index)
    for lag in (1, 5, 15, 60):
        X[f"ret_{lag}"] = logc.diff(lag)
    X["vol_20"] = r1.rolling(20).std()
    X["vol_60"] = r1.rolling(60).std()
    X["range_hl"] = (bars["high"] - bars["low"]) / close
    X["vwap_dist"] = close / bars["vwap"] - 1.0
    X["flow_imb"] = (bars["buy_volume"] - bars["sell_volume"]) / bars["volume"]
    X["log_volume"] = np.log1p(bars["volume"])
    # near-duplicates: feature * 1.0001 plus tiny noise, relative so that row t
    # still uses nothing after t (a full-sample std here would leak)
    for a, b in DUP_PAIRS:
        X[b] = X[a] * (1.0001 + 1e-4 * rng.normal(size=len(X)))
    for name in NOISE:
        X[name] = rng.normal(size=len(X))
    return X


def make_label(X: pd.DataFrame, seed: int = 11) -> pd.Series:
    """y = 1 when 2*z(flow_imb) + z(vwap_dist) + small noise is above its median.

    Scales and median come from the rows of ``X`` only, so a label for the first
    k rows does not depend on later rows.
    """
    rng = np.random.default_rng(seed)
    z = lambda s: (s - s.mean()) / s.std()  # noqa: E731
    score = 2.0 * z(X["flow_imb"]) + z(X["vwap_dist"]) + 0.3 * rng.normal(size=len(X))
    y = (score > score.median()).astype(float)
    y[score.isna()] = np.nan
    return y


@pytest.fixture(scope="module")
def bars(fil_bars):  # fil_bars: tests/conftest.py
    return fil_bars.iloc[:N_ROWS]


@pytest.fixture(scope="module")
def data(bars):
    X = make_features(bars)
    return X, make_label(X)


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return FeatureSelector(n_features=6, **FAST).fit(X, y)


# --------------------------------------------------------------- selection
@pytest.mark.parametrize("method", ["mdi", "permutation", "mutual_info"])
def test_informative_features_ranked_first(data, method):
    X, y = data
    sel = FeatureSelector(n_features=5, **fast(method)).fit(X, y)
    assert sel.selected_[0] == sel.importances_.idxmax() == "flow_imb"
    # univariate mutual information may put ret_1 (corr 0.6 with flow_imb) before vwap_dist
    assert "vwap_dist" in sel.selected_[:3]


def test_near_duplicates_share_a_cluster_and_at_most_one_is_selected(data, fitted):
    X, y = data
    for a, b in DUP_PAIRS:
        assert fitted.clusters_[a] == fitted.clusters_[b]
        assert len({a, b} & set(fitted.selected_)) <= 1
    # keep every cluster: each pair still gives exactly one feature
    n_clusters = fitted.n_clusters_
    sel = FeatureSelector(n_features=n_clusters, **FAST).fit(X, y)
    for a, b in DUP_PAIRS:
        assert len({a, b} & set(sel.selected_)) == 1
    assert len(set(sel.clusters_[sel.selected_])) == len(sel.selected_)


def test_duplicate_of_informative_feature_keeps_one_of_the_pair(data):
    X, y = data
    X = X.assign(flow_imb_dup=X["flow_imb"] * 1.0001 + 1e-7)
    sel = FeatureSelector(n_features=4, **FAST).fit(X, y)
    assert sel.selected_[0] in {"flow_imb", "flow_imb_dup"}
    assert len({"flow_imb", "flow_imb_dup"} & set(sel.selected_)) == 1


def test_representative_is_most_important_member_of_its_cluster(fitted):
    for name in fitted.selected_:
        members = fitted.clusters_.index[fitted.clusters_ == fitted.clusters_[name]]
        assert fitted.importances_[members].max() == fitted.importances_[name]
    ranked = fitted.importances_[fitted.selected_].to_numpy()
    assert np.all(np.diff(ranked) <= 0)


@pytest.mark.parametrize("method", ["mdi", "mutual_info"])
def test_noise_ranks_low(data, method):
    X, y = data
    sel = FeatureSelector(n_features=3, method=method, **FAST).fit(X, y)
    imp = sel.importances_
    assert not set(NOISE) & set(sel.selected_)
    assert imp[NOISE].max() < 0.25 * imp["flow_imb"]
    assert imp[NOISE].max() < imp["vwap_dist"]


@pytest.mark.parametrize("n", [1, 3, 7])
def test_result_length_equals_n(data, n):
    X, y = data
    sel = FeatureSelector(n_features=n, **FAST).fit(X, y)
    assert len(sel.selected_) == n == sel.support_.sum() == sel.transform(X).shape[1]


def test_select_features_wrapper(data):
    X, y = data
    names = select_features(X, y, n=4, method="mutual_info")
    assert names[0] == "flow_imb" and len(names) == 4 and set(names) <= set(X.columns)
    assert select_features(X, y, n=4, method="mutual_info") == names  # deterministic
    ref = FeatureSelector(n_features=4, method="mutual_info", corr_threshold=0.5, random_state=2).fit(X, y)
    assert select_features(X, y, n=4, method="mutual_info", corr_threshold=0.5, random_state=2) == ref.selected_
    w = np.ones(len(X))
    assert select_features(X.iloc[:400], y.iloc[:400], n=1, sample_weight=w[:400]) == ["flow_imb"]  # mdi, 200 trees


def test_fewer_clusters_than_n_features_keeps_all_representatives_and_warns(data):
    X, y = data
    X = X[["flow_imb", "vol_20", "vol_20_dup"]]
    with pytest.warns(UserWarning, match=r"only 2 correlation cluster.*n_features=3"):
        sel = FeatureSelector(n_features=3, **FAST).fit(X, y)
    assert sel.n_clusters_ == 2 and len(sel.selected_) == 2
    assert sel.selected_[0] == "flow_imb"


def test_corr_threshold_one_merges_only_exact_copies(data):
    X, y = data
    X = X[["flow_imb", "vol_20", "vol_20_dup"]].assign(flow_copy=lambda d: d["flow_imb"] * 3.0)
    sel = FeatureSelector(n_features=1, corr_threshold=1.0, **FAST).fit(X, y)
    assert sel.n_clusters_ == 3
    assert sel.clusters_["flow_imb"] == sel.clusters_["flow_copy"]
    assert sel.clusters_["vol_20"] != sel.clusters_["vol_20_dup"]


# -------------------------------------------------------------- cleaning
def test_nan_rows_and_bad_columns_are_dropped_and_recorded(data):
    X, y = data
    X = X.assign(const=1.0, empty=np.nan)
    expected_rows = int((X.drop(columns="empty").isna().any(axis=1) | y.isna()).sum())
    assert expected_rows >= 60  # the 60-bar warm-up
    with pytest.warns(DataQualityWarning, match="'const' \\(constant\\).*'empty' \\(all NaN/inf\\)"):
        sel = FeatureSelector(n_features=4, **FAST).fit(X, y)
    assert sel.dropped_ == {"const": "constant", "empty": "all NaN/inf"}
    assert sel.n_rows_dropped_ == expected_rows
    assert sel.n_rows_used_ == len(X) - expected_rows
    assert np.isnan(sel.importances_[["const", "empty"]]).all()
    assert (sel.clusters_[["const", "empty"]] == -1).all()
    assert list(sel.importances_.index) == list(X.columns)


def test_inf_rows_are_dropped_like_nan(data):
    X, y = data
    X2 = X.copy()
    X2.iloc[100:110, 0] = np.inf
    a = FeatureSelector(n_features=4, **FAST).fit(X2, y)
    b = FeatureSelector(n_features=4, **FAST).fit(X2.drop(index=X.index[100:110]), y.drop(index=X.index[100:110]))
    assert a.n_rows_dropped_ == b.n_rows_dropped_ + 10
    pd.testing.assert_series_equal(a.importances_, b.importances_)


# ----------------------------------------------- determinism, contract, causality
def test_deterministic_with_fixed_seed(data, fitted):
    X, y = data
    again = FeatureSelector(n_features=6, **FAST).fit(X, y)  # same settings as `fitted`
    assert again.selected_ == fitted.selected_
    pd.testing.assert_series_equal(again.importances_, fitted.importances_)
    pd.testing.assert_series_equal(again.clusters_, fitted.clusters_)
    for method in ("permutation", "mutual_info"):
        a = FeatureSelector(n_features=4, random_state=3, **fast(method)).fit(X[SMALL], y)
        b = FeatureSelector(n_features=4, random_state=3, **fast(method)).fit(X[SMALL], y)
        assert a.selected_ == b.selected_
        pd.testing.assert_series_equal(a.importances_, b.importances_)
    other = FeatureSelector(n_features=6, random_state=4, **FAST).fit(X, y)
    assert not other.importances_.equals(fitted.importances_)  # the seed is used


def test_init_stores_params_and_clone_works(data):
    X, y = data
    sel = FeatureSelector(n_features=4, method="mutual_info", corr_threshold=0.8, random_state=5)
    assert sel.get_params()["corr_threshold"] == 0.8
    bad = FeatureSelector(n_features=-3, method="nope")  # no validation before fit
    assert bad.get_params()["method"] == "nope"
    sel.fit(X, y)
    twin = clone(sel)
    assert twin.get_params() == sel.get_params()
    assert not hasattr(twin, "selected_")
    assert twin.fit(X, y).selected_ == sel.selected_
    assert sel.fit(X, y) is sel


def test_pipeline_compatibility(data):
    X, y = data
    keep = y.notna() & X.notna().all(axis=1)
    Xc, yc = X[keep].iloc[:800], y[keep].astype(int).iloc[:800]
    pipe = Pipeline([("select", FeatureSelector(n_features=3, **FAST)), ("clf", LogisticRegression())])
    pipe.fit(Xc, yc)
    assert pipe.predict_proba(Xc).shape == (len(Xc), 2)
    names = pipe[:-1].get_feature_names_out()
    assert list(names) == pipe.named_steps["select"].selected_
    pipe.set_params(select__n_features=2)
    assert pipe.fit(Xc, yc).named_steps["select"].support_.sum() == 2
    # pandas output config goes through
    sel = FeatureSelector(n_features=2, **FAST).set_output(transform="pandas")
    assert list(sel.fit_transform(Xc, yc).columns) == sel.selected_


def test_transform_frames_and_arrays(data, fitted):
    X, y = data
    out = fitted.transform(X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == fitted.selected_ and out.index.equals(X.index)  # all rows kept
    shuffled = X[X.columns[::-1]]
    pd.testing.assert_frame_equal(fitted.transform(shuffled), out)
    np.testing.assert_array_equal(fitted.get_support(indices=True), np.flatnonzero(fitted.support_))
    assert list(fitted.get_feature_names_out()) == fitted.selected_
    np.testing.assert_array_equal(fitted.feature_names_in_, np.asarray(X.columns, dtype=object))
    # array in -> array out; names x0, x1, ...
    arr_sel = FeatureSelector(n_features=3, **FAST).fit(X.to_numpy(), y.to_numpy())
    assert not hasattr(arr_sel, "feature_names_in_")
    assert arr_sel.selected_[0] == f"x{list(X.columns).index('flow_imb')}"
    res = arr_sel.transform(X.to_numpy())
    assert isinstance(res, np.ndarray) and res.shape == (len(X), 3)
    np.testing.assert_array_equal(res[:, 0], X["flow_imb"].to_numpy())


def test_fit_uses_only_the_given_rows(bars):
    """Perturbing every bar after k changes nothing fitted on the first k rows."""
    k = int(0.7 * len(bars))
    X = make_features(bars)
    y = make_label(X.iloc[:k])
    ref = FeatureSelector(n_features=5, **FAST).fit(X.iloc[:k], y)

    rng = np.random.default_rng(0)
    bars2 = bars.copy()
    num = ["open", "high", "low", "close", "vwap"]
    bars2.iloc[k:, bars2.columns.get_indexer(num)] *= rng.uniform(0.5, 2.0, size=(len(bars) - k, 1))
    bars2.iloc[k:, bars2.columns.get_indexer(["buy_volume"])] = 0.0
    X2 = make_features(bars2)
    X2.iloc[k:] = rng.normal(size=(len(X2) - k, X2.shape[1]))
    assert not X2.iloc[k:].equals(X.iloc[k:])
    got = FeatureSelector(n_features=5, **FAST).fit(X2.iloc[:k], y)
    assert got.selected_ == ref.selected_
    pd.testing.assert_series_equal(got.importances_, ref.importances_)
    pd.testing.assert_series_equal(got.clusters_, ref.clusters_)


def test_permutation_uses_chronological_holdout(data):
    """Pinned to a hand-built reference: fit on the first 75 % of usable rows, score the rest."""
    X, y = data
    X = X[SMALL]
    keep = (y.notna() & np.isfinite(X).all(axis=1)).to_numpy()
    Xc, yc = X.to_numpy()[keep], y.to_numpy()[keep]
    n_fit = int(np.floor(0.75 * len(yc)))
    rf = RandomForestClassifier(n_estimators=20, class_weight="balanced", random_state=0)
    rf.fit(Xc[:n_fit], yc[:n_fit])
    score = lambda est, A, b: -log_loss(b, est.predict_proba(A), labels=est.classes_)  # noqa: E731
    ref = permutation_importance(rf, Xc[n_fit:], yc[n_fit:], scoring=score, n_repeats=5, random_state=0)
    sel = FeatureSelector(n_features=3, **fast("permutation")).fit(X, y)
    np.testing.assert_allclose(sel.importances_.to_numpy(), ref.importances_mean)


def test_multiclass_labels(data):
    X = data[0][SMALL]
    flow = X["flow_imb"]
    y = pd.Series(np.select([flow > 0.2, flow < -0.2], [1, -1], 0), index=X.index).where(flow.notna())
    for method in ("mdi", "permutation", "mutual_info"):
        sel = FeatureSelector(n_features=3, **fast(method)).fit(X, y)
        assert sel.selected_[0] == "flow_imb"


def test_sample_weight_is_used(data):
    X, y = data
    w = np.ones(len(X))
    a = FeatureSelector(n_features=3, **FAST).fit(X, y, sample_weight=w)
    b = FeatureSelector(n_features=3, **FAST).fit(X, y)
    pd.testing.assert_series_equal(a.importances_, b.importances_)
    w[: len(X) // 2] = 0.0
    c = FeatureSelector(n_features=3, **FAST).fit(X, y, sample_weight=w)
    assert not c.importances_.equals(b.importances_)
    with pytest.warns(UserWarning, match="`sample_weight` is ignored by method='mutual_info'"):
        FeatureSelector(n_features=3, method="mutual_info").fit(X, y, sample_weight=w)


# ------------------------------------------------------------- bad input
def _frame(n=100, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    return X, (X["a"] > 0).astype(int)


@pytest.mark.parametrize(
    ("params", "exc", "pattern"),
    [
        ({"n_features": 0}, ParameterError, r"`n_features` must be an int >= 1, got 0"),
        ({"n_features": 1.5}, TypeError, r"`n_features` must be an int >= 1, got float 1.5"),
        ({"n_features": True}, TypeError, r"`n_features`"),
        ({"n_features": 4}, ParameterError, r"`n_features` must be <= the number of usable features, 3 .*got 4"),
        ({"method": "mdl"}, ParameterError, r"`method` must be one of .*'mdi'.*got 'mdl'.*Did you mean 'mdi'"),
        ({"method": "mutual-info"}, ParameterError, r"Did you mean 'mutual_info'"),
        ({"method": 3}, TypeError, r"`method` must be one of 'mdi', 'permutation', 'mutual_info', got int 3"),
        ({"corr_threshold": 0.0}, ParameterError, r"`corr_threshold` must be a number in \(0, 1\], got 0.0"),
        ({"corr_threshold": 1.2}, ParameterError, r"`corr_threshold` must be a number in \(0, 1\], got 1.2"),
        ({"corr_threshold": "0.9"}, TypeError, r"`corr_threshold`"),
        ({"corr_method": "spearmen"}, ParameterError, r"`corr_method`.*Did you mean 'spearman'"),
        ({"n_estimators": 0}, ParameterError, r"`n_estimators` must be an int >= 1, got 0"),
        ({"n_estimators": 5.0}, TypeError, r"`n_estimators` must be an int >= 1, got float 5.0"),
        ({"max_samples": 101}, ParameterError, r"`max_samples` must be <= the 100 rows .*got 101"),
        ({"max_samples": 0}, ParameterError, r"`max_samples`.*got 0"),
        ({"max_samples": 1.5}, ParameterError, r"`max_samples` as a float .* \(0, 1\], got 1.5"),
        ({"max_samples": "all"}, TypeError, r"`max_samples`"),
        ({"min_samples_leaf": 0}, ParameterError, r"`min_samples_leaf` must be an int >= 1.*got 0"),
        ({"min_samples_leaf": 0.7}, ParameterError, r"`min_samples_leaf` as a float .*\(0, 0.5\], got 0.7"),
        ({"min_samples_leaf": "big"}, TypeError, r"`min_samples_leaf`"),
        ({"random_state": "seed"}, TypeError, r"`random_state`"),
        ({"n_jobs": 1.5}, TypeError, r"`n_jobs`"),
    ],
)
def test_bad_parameters_raise_naming_them(params, exc, pattern):
    X, y = _frame()
    with pytest.raises(exc, match=pattern):
        FeatureSelector(**{"n_features": 1, **params}).fit(X, y)


def test_n_features_counts_only_usable_columns():
    X, y = _frame()
    X["const"] = 0.0
    with pytest.warns(DataQualityWarning), pytest.raises(ParameterError, match=r"usable features, 3 \(4 column\(s\) given, 1 dropped\), got 4"):
        FeatureSelector(n_features=4).fit(X, y)


def test_bad_data_raise_naming_the_argument():
    X, y = _frame()
    with pytest.raises(ParameterError, match=r"`y` has 99 rows but `X` has 100"):
        FeatureSelector(n_features=1).fit(X, y.iloc[:99])
    with pytest.raises(ParameterError, match=r"`y` has a single class \(1.0\) on the 100 usable rows"):
        FeatureSelector(n_features=1).fit(X, np.ones(100))
    with pytest.raises(ParameterError, match=r"`y` must hold class labels.*'continuous'"):
        FeatureSelector(n_features=1).fit(X, X["b"])
    Xn = X.copy()
    Xn.loc[5:, "b"] = np.nan
    with pytest.raises(ParameterError, match=r"only 5 sample\(s\) of 100 rows are left.*at least 10.*Column 'b' has the most NaN/inf \(95 rows\)"):
        FeatureSelector(n_features=1).fit(Xn, y)
    with pytest.raises(ParameterError, match=r"only 8 sample\(s\) of 100 rows.*`y` is NaN in 92 rows"):
        FeatureSelector(n_features=1).fit(X, y.astype(float).where(X.index < 8))
    with pytest.raises(TypeError, match=r"`X` column 's' has non-numeric dtype"):
        FeatureSelector(n_features=1).fit(X.assign(s="x"), y)
    with pytest.raises(ParameterError, match=r"`y` index differs from `X` index"):
        FeatureSelector(n_features=1).fit(X, y.set_axis(y.index + 1))
    with pytest.raises(ParameterError, match=r"`X` has duplicate column name\(s\) \['a'\]"):
        FeatureSelector(n_features=1).fit(pd.concat([X, X[["a"]]], axis=1), y)
    with pytest.raises(TypeError, match=r"`X` must be a DataFrame or a 2-D array-like, got Series"):
        FeatureSelector(n_features=1).fit(X["a"], y)
    with pytest.raises(ParameterError, match=r"`y` is required"):
        FeatureSelector(n_features=1).fit(X, None)
    with pytest.raises(ParameterError, match=r"`sample_weight` must have shape \(100,\)"):
        FeatureSelector(n_features=1).fit(X, y, sample_weight=np.ones(5))
    with pytest.raises(ParameterError, match=r"`sample_weight` must be finite and >= 0, got -1.0 at row 3"):
        FeatureSelector(n_features=1).fit(X, y, sample_weight=np.r_[1, 1, 1, -1, np.ones(96)])


def test_permutation_needs_holdout_classes_in_fit_part():
    X, _ = _frame()
    y = np.r_[np.zeros(75, int), np.ones(25, int)]
    with pytest.raises(ParameterError, match=r"`y` with method='permutation'.*first 75 usable rows"):
        FeatureSelector(n_features=1, method="permutation").fit(X, y)


def test_transform_errors_name_the_argument(fitted, data):
    X, _ = data
    with pytest.raises(ParameterError, match=r"`X` lacks selected column\(s\) \['flow_imb'\].*did you mean 'flow_imbx'"):
        fitted.transform(X.rename(columns={"flow_imb": "flow_imbx"}))
    with pytest.raises(ParameterError, match=r"`input_features` must have"):
        fitted.get_feature_names_out(["a"])
    arr_sel = FeatureSelector(n_features=1, **FAST).fit(*_frame())
    with pytest.raises(ParameterError, match=r"X has 2 features, but FeatureSelector is expecting 3 .*pass `X` with"):
        arr_sel.transform(np.zeros((4, 2)))
    with pytest.raises(ParameterError, match=r"`X` must be 2-D .*Reshape your data"):
        arr_sel.transform(np.zeros(3))


def test_select_features_names_its_own_argument():
    X, y = _frame()
    with pytest.raises(ParameterError, match=r"`n` must be <= the number of usable features, 3"):
        select_features(X, y, n=5)
    with pytest.raises(ParameterError, match=r"`n` must be an int >= 1, got 0"):
        select_features(X, y, n=0)
    assert select_features(X, y, n=1, method="mutual_info") == ["a"]


# ------------------------------------------------------------ properties
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n_cols=st.integers(1, 6),
    n=st.integers(1, 6),
    threshold=st.floats(0.05, 1.0),
    method=st.sampled_from(["mdi", "mutual_info"]),
)
def test_selection_invariants(seed, n_cols, n, threshold, method):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(60, n_cols))
    # some columns are noisy copies of others, so clusters of several sizes occur
    for j in range(1, n_cols):
        if rng.random() < 0.4:
            base[:, j] = base[:, j - 1] + rng.normal(scale=0.05, size=60)
    X = pd.DataFrame(base, columns=[f"f{j}" for j in range(n_cols)])
    y = (base[:, 0] + rng.normal(size=60) > 0).astype(int)
    if len(np.unique(y)) < 2:
        y[0] = 1 - y[0]
    n = min(n, n_cols)
    sel = FeatureSelector(n_features=n, method=method, corr_threshold=threshold, n_estimators=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        sel.fit(X, y)
    assert len(sel.selected_) == min(n, sel.n_clusters_)
    assert sel.n_clusters_ == sel.clusters_.nunique()
    chosen = sel.clusters_[sel.selected_]
    assert chosen.is_unique  # at most one feature per cluster
    assert list(X.columns[sel.support_]) == sorted(sel.selected_, key=list(X.columns).index)
    for name in sel.selected_:
        members = sel.clusters_.index[sel.clusters_ == sel.clusters_[name]]
        assert sel.importances_[name] == sel.importances_[members].max()
    others = sel.importances_[[c for c in X.columns if sel.clusters_[c] not in set(chosen)]]
    # every cluster left out has a best member no better than the last one kept
    if len(others):
        assert others.max() <= sel.importances_[sel.selected_[-1]]


# ------------------------------------------------- scikit-learn's own contract
@parametrize_with_checks([FeatureSelector(n_features=1, n_estimators=5)])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. "only 1 correlation cluster"
        check(estimator)


def test_a_forest_without_splits_is_an_error_not_an_arbitrary_choice():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 4)), columns=list("abcd"))
    y = pd.Series(rng.integers(0, 2, 200))
    with pytest.raises(ParameterError, match="zero importance.*no split"):
        FeatureSelector(n_features=2, n_estimators=5, min_samples_leaf=150).fit(X, y)


def _timed_frame(n=400, seed=0):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2024-01-02", periods=n, freq="min", tz="UTC")
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"], index=idx)
    y = pd.Series((X["a"] + 0.5 * rng.normal(size=n) > 0).astype(int), index=idx)
    return X, y


def test_permutation_hold_out_is_purged_with_t1():
    X, y = _timed_frame()
    t1 = pd.Series(X.index + pd.Timedelta(minutes=10), index=X.index)
    sel = FeatureSelector(n_features=2, method="permutation", n_estimators=20).fit(X, y, t1=t1)
    n_fit = int(np.floor(0.75 * len(X)))
    hold_start = X.index[n_fit]
    assert sel.n_rows_purged_ == int((t1.iloc[:n_fit] >= hold_start).sum()) == 10
    # the purge changes what the model is fitted on, so it is the same as fitting without those rows
    manual = FeatureSelector(n_features=2, method="permutation", n_estimators=20).fit(X, y)
    assert manual.n_rows_purged_ == 0
    assert sel.selected_[0] == "a"


def test_permutation_needs_time_order_and_aligned_t1():
    X, y = _timed_frame()
    with pytest.raises(ParameterError, match="time order"):
        FeatureSelector(n_features=2, method="permutation").fit(X.iloc[::-1], y.iloc[::-1])
    with pytest.raises(ParameterError, match="`t1` must have one end time per row"):
        FeatureSelector(n_features=2, method="permutation").fit(X, y, t1=X.index[:10])
    with pytest.raises(TypeError, match="`t1` needs `X` as a DataFrame"):
        FeatureSelector(n_features=2, method="permutation").fit(X.to_numpy(), y.to_numpy(), t1=X.index)


def test_bagging_share_is_uniqueness_but_leaves_trees_room_to_split():
    from ml.features import bagging_share

    u = np.full(10_000, 0.05)
    assert bagging_share(u, 10_000) == pytest.approx(0.05)          # 500 rows a tree: the uniqueness
    # 200 rows: 5% would be 10 rows a tree, fewer than one leaf of 20; 5 leaves' worth is 100 rows
    assert bagging_share(u[:200], 200, min_samples_leaf=20) == pytest.approx(0.5)
    assert bagging_share(u[:50], 50) == 1.0
    assert bagging_share(np.full(100, 0.001), 100_000) == pytest.approx(0.02)   # the 2% floor


def test_available_features_leaves_out_windows_longer_than_the_rows():
    from ml.features import available_features, usable_rows

    X = pd.DataFrame({"short": np.r_[np.nan, np.arange(9.0)], "long": np.r_[np.full(7, np.nan), 1.0, 2.0, 3.0],
                      "dead": np.nan})
    assert available_features(X) == ["short"]
    assert available_features(X, min_share=0.3) == ["short", "long"]
    assert usable_rows(X) == 3 and usable_rows(X[["short"]]) == 9
