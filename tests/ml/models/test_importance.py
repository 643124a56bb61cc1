"""Feature importance (SHAP, permutation, native) and its stability across folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.exceptions import NotFittedError

from ml.exceptions import ParameterError
from ml.models import get_model
from ml.models._importance import feature_importance, importance_stability
from tests.conftest import quiet


# --------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def planted(fil_xy):
    """Real features (15 columns, NaN warm-up rows included) plus a planted column that
    carries the label: (X_train, y_train, X_val, y_val), time-ordered, 1200 + 600 rows."""
    X, y = fil_xy
    X = X.iloc[:1800, :15].copy()
    y = y.iloc[:1800]
    rng = np.random.default_rng(0)
    X.insert(7, "planted", y.to_numpy() + rng.normal(0.0, 0.6, len(y)))
    return X.iloc[:1200], y.iloc[:1200], X.iloc[1200:], y.iloc[1200:]


@pytest.fixture(scope="module")
def catboost_fit(planted):
    X_train, y_train, _, _ = planted
    return get_model("catboost", iterations=40, depth=4, border_count=32).fit(X_train, y_train)


@pytest.fixture(scope="module")
def catboost_binary(planted):
    X_train, y_train, _, _ = planted
    keep = (y_train != 0).to_numpy()
    return get_model("catboost", iterations=40, depth=4, border_count=32).fit(
        X_train[keep], y_train[keep])


@pytest.fixture(scope="module")
def forest_fit(planted):
    X_train, y_train, _, _ = planted
    return get_model("random_forest", n_estimators=40).fit(X_train, y_train)


# --------------------------------------------------------------------------- SHAP
def test_shap_values_sum_to_raw_output_multiclass(catboost_fit, planted):
    X_val = planted[2]
    shap = catboost_fit.shap_values(X_val)
    assert shap.shape == (len(X_val), 3, X_val.shape[1] + 1)
    np.testing.assert_allclose(shap.sum(axis=-1), catboost_fit.raw_predict(X_val), atol=1e-6)


def test_shap_values_sum_to_log_odds_binary(catboost_binary, planted):
    X_val = planted[2]
    shap = catboost_binary.shap_values(X_val)
    assert shap.shape == (len(X_val), X_val.shape[1] + 1)
    p_up = catboost_binary.predict_proba(X_val)[:, 1]
    np.testing.assert_allclose(shap.sum(axis=-1), np.log(p_up / (1 - p_up)), atol=1e-6)


def test_shap_importance_is_mean_absolute_shap(catboost_fit, planted):
    X_val = planted[2]
    imp = feature_importance(catboost_fit, X_val)  # auto -> shap for CatBoost
    shap = catboost_fit.shap_values(X_val)
    assert imp.name == "shap"
    assert list(imp.index) == list(X_val.columns) and imp.index.name == "feature"
    np.testing.assert_allclose(imp.to_numpy(), np.abs(shap[:, :, :-1]).mean(axis=(0, 1)))
    assert imp.idxmax() == "planted"


def test_shap_needs_catboost(forest_fit, planted):
    with pytest.raises(ParameterError, match=r"`method='shap'` needs .* use method='permutation'"):
        feature_importance(forest_fit, planted[2], method="shap")


# --------------------------------------------------------------------------- permutation
@pytest.mark.parametrize("fit", ["forest_fit", "catboost_fit"])
def test_permutation_ranks_the_planted_feature_first(fit, planted, request):
    model = request.getfixturevalue(fit)
    _, _, X_val, y_val = planted
    X_val, y_val = X_val.iloc[:400], y_val.iloc[:400]
    imp = feature_importance(model, X_val, y_val, method="permutation", n_repeats=2)
    assert imp.name == "permutation"
    assert imp.idxmax() == "planted"
    assert imp["planted"] > 5 * imp.drop("planted").abs().max()
    again = feature_importance(model, X_val, y_val, method="permutation", n_repeats=2)
    pd.testing.assert_series_equal(imp, again)  # fixed random_state: same numbers


def test_permutation_auto_for_models_without_shap(planted):
    X_train, y_train, X_val, y_val = planted
    mlp = quiet(get_model("mlp", hidden_layer_sizes=(16,), max_iter=30).fit, X_train, y_train)
    imp = feature_importance(mlp, X_val.iloc[:300], y_val.iloc[:300], n_repeats=2)
    assert imp.name == "permutation" and imp.idxmax() == "planted"


def test_permutation_on_a_fold_missing_a_class(forest_fit, planted):
    _, _, X_val, y_val = planted
    keep = (y_val != 0).to_numpy()
    imp = feature_importance(forest_fit, X_val[keep], y_val[keep], method="permutation",
                             n_repeats=2)
    assert np.isfinite(imp).all() and imp.idxmax() == "planted"


def test_permutation_errors(forest_fit, planted):
    _, _, X_val, y_val = planted
    with pytest.raises(ParameterError, match="`y` is required for method='permutation'"):
        feature_importance(forest_fit, X_val, method="permutation")
    with pytest.raises(ParameterError, match="`y` holds labels \\[5\\] the model never saw"):
        feature_importance(forest_fit, X_val, np.full(len(X_val), 5), method="permutation")
    with pytest.raises(ParameterError, match="`X` has 600 rows but `y` has 10"):
        feature_importance(forest_fit, X_val, y_val.iloc[:10], method="permutation")


# --------------------------------------------------------------------------- native / auto
def test_native_importance(forest_fit, catboost_fit, planted):
    X_val = planted[2]
    rf = feature_importance(forest_fit, X_val, method="native")
    assert rf.name == "native" and rf.sum() == pytest.approx(1.0) and rf.idxmax() == "planted"
    cb = feature_importance(catboost_fit, X_val, method="native")
    assert cb.sum() == pytest.approx(100.0) and cb.idxmax() == "planted"
    assert feature_importance(forest_fit, X_val).name == "native"  # auto without y


def test_native_missing_and_auto_without_y(planted):
    X_train, y_train, X_val, _ = planted
    svm = get_model("svm").fit(X_train.iloc[:300], y_train.iloc[:300])
    with pytest.raises(ParameterError, match="SVMModel has no native feature importance"):
        feature_importance(svm, X_val, method="native")
    with pytest.raises(ParameterError, match=r"pass the labels `y` of a validation fold"):
        feature_importance(svm, X_val)


def test_method_typo_and_unfitted(planted):
    with pytest.raises(ParameterError, match=r"`method` must be one of .* Did you mean 'shap'"):
        feature_importance(get_model("catboost"), planted[2], method="shapp")
    with pytest.raises(NotFittedError):
        feature_importance(get_model("catboost"), planted[2])


# --------------------------------------------------------------------------- stability
FEATURES = ["a", "b", "c", "d", "e"]


def _s(values, name=None):
    return pd.Series(values, index=FEATURES, name=name, dtype=float)


def test_identical_rankings_give_one():
    base = _s([5, 4, 3, 2, 1])
    # a monotone transform keeps the ranking: still 1
    out = importance_stability([base, base * 10, np.exp(base)])
    assert out["mean"] == pytest.approx(1.0) and out["min"] == pytest.approx(1.0)
    assert out["n_folds"] == 3 and out["method"] == "spearman"
    np.testing.assert_allclose(out["matrix"].to_numpy(), np.ones((3, 3)))
    assert list(out["matrix"].columns) == ["fold_0", "fold_1", "fold_2"]
    assert list(out["ranks"]["fold_0"]) == [1, 2, 3, 4, 5]
    assert list(out["mean_rank"].index) == FEATURES


def test_one_swap_hand_computed():
    """Swapping the top two of five: rho = 1 - 6 * (1 + 1) / (5 * 24) = 0.9."""
    base = _s([5, 4, 3, 2, 1])
    swap = _s([4, 5, 3, 2, 1])
    assert importance_stability([base, swap])["mean"] == pytest.approx(0.9)
    three = importance_stability({"f1": base, "f2": base, "f3": swap})
    assert three["mean"] == pytest.approx((1.0 + 0.9 + 0.9) / 3)
    assert three["min"] == pytest.approx(0.9) and three["mean"] < 1
    assert three["matrix"].loc["f1", "f3"] == pytest.approx(0.9)


def test_reversed_ranking_gives_minus_one_and_kendall():
    base = _s([5, 4, 3, 2, 1])
    assert importance_stability([base, -base])["mean"] == pytest.approx(-1.0)
    assert importance_stability([base, _s([4, 5, 3, 2, 1])],
                                method="kendall")["mean"] == pytest.approx(0.8)


def test_inputs_aligned_by_feature_name():
    base = _s([5, 4, 3, 2, 1])
    shuffled = base.iloc[[3, 0, 4, 1, 2]]
    from_list = importance_stability([base, shuffled, base])
    assert from_list["mean"] == pytest.approx(1.0)
    frame = pd.concat([base, shuffled, base], axis=1, keys=["x", "y", "z"])
    from_frame = importance_stability(frame)
    np.testing.assert_allclose(from_frame["matrix"].to_numpy(), from_list["matrix"].to_numpy())


def test_stability_errors():
    base = _s([5, 4, 3, 2, 1])
    with pytest.raises(ParameterError, match="at least 2 folds"):
        importance_stability([base])
    other = pd.Series([1.0, 2, 3, 4, 5], index=["a", "b", "c", "d", "z"])
    with pytest.raises(ParameterError, match=r"missing \['e'\], extra \['z'\]"):
        importance_stability([base, other])
    with pytest.raises(ParameterError, match="holds NaN"):
        importance_stability([base, _s([1, np.nan, 3, 4, 5])])
    with pytest.raises(ParameterError, match="`method` must be one of .* Did you mean 'spearman'"):
        importance_stability([base, base], method="spearmann")
    with pytest.raises(TypeError, match="`importances` must be a list"):
        importance_stability(base)


def test_constant_fold_warns_and_is_left_out():
    base = _s([5, 4, 3, 2, 1])
    with pytest.warns(UserWarning, match=r"fold\(s\) \['fold_2'\]"):
        out = importance_stability([base, base, _s([1, 1, 1, 1, 1])])
    assert out["mean"] == pytest.approx(1.0)
    assert np.isnan(out["matrix"].loc["fold_0", "fold_2"])


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(3, 12), st.integers(2, 5)),
                  elements=st.floats(-1e3, 1e3)))
def test_stability_matrix_properties(values):
    """Any importance table: symmetric matrix, unit diagonal, values in [-1, 1]."""
    frame = pd.DataFrame(values, index=[f"f{i}" for i in range(values.shape[0])])
    if (frame.nunique() <= 1).any():
        return
    out = importance_stability(frame)
    m = out["matrix"].to_numpy()
    np.testing.assert_allclose(m, m.T)
    np.testing.assert_allclose(np.diag(m), 1.0)
    assert (m >= -1 - 1e-12).all() and (m <= 1 + 1e-12).all()
    assert -1 - 1e-12 <= out["mean"] <= 1 + 1e-12
    assert importance_stability([frame[0], frame[0]])["mean"] == pytest.approx(1.0)


def test_stability_across_real_folds(planted):
    """Native importances of forests fitted on three consecutive folds agree on the planted
    feature, and the noise features make the ranking imperfect."""
    X = pd.concat([planted[0], planted[2]])
    y = pd.concat([planted[1], planted[3]])
    folds = []
    for k in range(3):
        rows = slice(600 * k, 600 * (k + 1))
        model = get_model("random_forest", n_estimators=30, random_state=k)
        folds.append(feature_importance(model.fit(X.iloc[rows], y.iloc[rows]), X.iloc[rows],
                                        method="native").rename(f"fold_{k}"))
    out = importance_stability(folds)
    assert out["mean_rank"].index[0] == "planted"
    assert (out["ranks"].loc["planted"] == 1).all()
    assert 0 < out["mean"] < 1


def test_shared_mode_measures_ranking_not_selection_overlap():
    """Zeros for unselected features made identical selections look stable even
    with random rankings (about 0.97); on shared features the figure is about 0."""
    import numpy as np
    import pandas as pd

    from ml.models import importance_stability

    rng = np.random.default_rng(0)
    feats = [f"f{i}" for i in range(80)]
    chosen = feats[:20]
    folds = {}
    for k in range(6):
        col = pd.Series(np.nan, index=feats)
        col[chosen] = rng.random(20)
        folds[k] = col
    frame = pd.DataFrame(folds)
    shared = importance_stability(frame, missing="shared")
    zeros = importance_stability(frame.fillna(0.0))
    assert zeros["mean"] > 0.9
    assert abs(shared["mean"]) < 0.2
    same = frame.copy()
    for k in same.columns:
        same[k] = frame[0]
    assert importance_stability(same, missing="shared")["mean"] == pytest.approx(1.0)


def test_nan_importances_are_an_error_by_default():
    import numpy as np
    import pandas as pd

    from ml.exceptions import ParameterError
    from ml.models import importance_stability

    frame = pd.DataFrame({0: [1.0, 2.0, np.nan], 1: [1.0, 2.0, 3.0]}, index=list("abc"))
    with pytest.raises(ParameterError, match="holds NaN"):
        importance_stability(frame)
