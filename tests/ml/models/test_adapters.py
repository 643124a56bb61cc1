"""Contract suite of the classifier adapters, then model-specific behaviour.

Every test of :class:`TestClassifierContract` runs on each name in
``CONTRACT_MODELS`` (see ``conftest.py``), on real FILUSDT features and
triple-barrier labels.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import optuna
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import log_loss

from ml.exceptions import DataQualityWarning, ParameterError
from ml.models import get_model, get_model_class
from ml.models._catboost import CatBoostModel
from ml.models._sklearn import LogisticModel, MLPModel, RandomForestModel, SVMModel
from tests.conftest import quiet

optuna.logging.set_verbosity(optuna.logging.WARNING)

DEFAULTS = {
    "catboost": dict(iterations=300, depth=6, learning_rate=0.05, l2_leaf_reg=3.0,
                     auto_class_weights=None, random_state=0, thread_count=1, verbose=False),
    "logistic": dict(alpha=1.0, clip=5.0, class_weight="balanced", max_iter=1000, random_state=0),
    "random_forest": dict(n_estimators=300, max_depth=None, min_samples_leaf=20,
                          max_features="sqrt", max_samples=None, class_weight="balanced",
                          random_state=0, n_jobs=1),
    "svm": dict(C=1.0, gamma="scale", kernel="rbf", class_weight="balanced", random_state=0,
                max_train_rows=None),
    "mlp": dict(hidden_layer_sizes=(64, 32), alpha=1e-4, early_stopping=True,
                validation_fraction=0.1, max_iter=200, random_state=0),
}


def _fit(model, X, y, **kwargs):
    return quiet(model.fit, X, y, **kwargs)


class TestClassifierContract:
    # ------------------------------------------------------------------ registry and params
    def test_registry_builds_the_adapter_with_documented_defaults(self, model_name):
        cls = get_model_class(model_name)
        model = get_model(model_name)
        assert type(model) is cls
        assert cls.name == model_name and cls.kind == "classifier"
        params = model.get_params()
        for key, value in DEFAULTS[model_name].items():
            assert params[key] == value, key

    def test_get_params_set_params(self, make_model):
        model = make_model()
        params = model.get_params()
        assert model.set_params(**params) is model
        assert model.set_params(random_state=7).get_params()["random_state"] == 7
        with pytest.raises(ValueError, match="Invalid parameter"):
            model.set_params(not_a_parameter=1)

    def test_search_space_params_are_accepted(self, model_name, make_model, tiny_xy):
        X, y = tiny_xy
        cls = get_model_class(model_name)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))

        def objective(trial):
            params = cls.search_space(trial)
            assert params, "search_space returned no parameters"
            model = get_model(model_name, **params)
            for key, value in params.items():
                assert model.get_params()[key] == value
            if model_name == "catboost":  # keep the check fast: fewer trees, same other params
                model.set_params(iterations=20)
            if model_name == "random_forest":
                model.set_params(n_estimators=20)
            proba = _fit(model, X, y).predict_proba(X.iloc[:50])
            return float(proba[:, 0].mean())

        study.optimize(objective, n_trials=2)
        assert len(study.trials) == 2
        assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)

    # ------------------------------------------------------------------ fit / predict
    def test_predict_proba_shape_range_and_rows_sum_to_one(self, fitted_model, fitted_proba,
                                                           train_test):
        X_test = train_test[2]
        assert fitted_proba.shape == (len(X_test), 3)
        assert np.isfinite(fitted_proba).all()
        assert (fitted_proba >= 0).all() and (fitted_proba <= 1).all()
        np.testing.assert_allclose(fitted_proba.sum(axis=1), 1.0, atol=1e-12)
        # better than the class frequencies is not guaranteed on 1-minute data, but a
        # probability model must not be absurd either
        assert log_loss(train_test[3], fitted_proba, labels=fitted_model.classes_) < 2.0

    def test_classes_order_and_predict(self, fitted_model, fitted_proba, train_test):
        np.testing.assert_array_equal(fitted_model.classes_, [-1, 0, 1])
        pred = fitted_model.predict(train_test[2])
        np.testing.assert_array_equal(pred, fitted_model.classes_[fitted_proba.argmax(axis=1)])
        assert fitted_model.n_features_in_ == train_test[0].shape[1]
        np.testing.assert_array_equal(fitted_model.feature_names_in_, train_test[0].columns)

    def test_labels_are_codes_whatever_their_type(self, make_model, tiny_xy):
        """Strings in the same sorted order as -1/0/1 give the same model, column for column."""
        X, y = tiny_xy
        as_int = _fit(make_model(), X, y)
        y_str = y.map({-1: "down", 0: "flat", 1: "up"})
        as_str = _fit(make_model(), X, y_str)
        np.testing.assert_array_equal(as_str.classes_, ["down", "flat", "up"])
        np.testing.assert_array_equal(as_int.predict_proba(X), as_str.predict_proba(X))
        assert set(as_str.predict(X)) <= {"down", "flat", "up"}

    def test_binary_labels(self, make_model, tiny_xy):
        X, y = tiny_xy
        keep = (y != 0).to_numpy()
        model = _fit(make_model(), X[keep], y[keep])
        proba = model.predict_proba(X)
        np.testing.assert_array_equal(model.classes_, [-1, 1])
        assert proba.shape == (len(X), 2)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)

    def test_same_seed_identical_predictions_and_clone(self, fitted_model, fitted_proba,
                                                       train_test):
        X_train, y_train, X_test, _ = train_test
        twin = clone(fitted_model)
        assert twin.get_params() == fitted_model.get_params()
        with pytest.raises(NotFittedError):
            twin.predict_proba(X_test)
        assert _fit(twin, X_train, y_train) is twin  # fit returns self
        np.testing.assert_array_equal(twin.predict_proba(X_test), fitted_proba)

    def test_sample_weight_is_used(self, make_model, tiny_xy):
        X, y = tiny_xy
        w = np.where(np.arange(len(y)) < len(y) // 2, 0.2, 3.0)
        plain = _fit(make_model(), X, y).predict_proba(X)
        weighted = _fit(make_model(), X, y, sample_weight=w).predict_proba(X)
        np.testing.assert_allclose(weighted.sum(axis=1), 1.0, atol=1e-12)
        assert not np.allclose(plain, weighted)

    # ------------------------------------------------------------------ NaN
    def test_nan_rows_are_accepted(self, fitted_model, train_test):
        X_train, _, X_test, _ = train_test
        assert X_train.isna().any(axis=1).sum() > 100  # warm-up rows were in the fit
        X_nan = X_test.iloc[:5].copy()
        X_nan.iloc[0, :] = np.nan
        X_nan.iloc[1, ::2] = np.nan
        proba = fitted_model.predict_proba(X_nan)
        assert np.isfinite(proba).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)

    @settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def test_any_finite_or_missing_rows_give_probabilities(self, fitted_model, train_test, data):
        X_test = train_test[2]
        cell = st.one_of(st.none(), st.floats(-1e6, 1e6))
        rows = data.draw(st.lists(st.lists(cell, min_size=X_test.shape[1],
                                           max_size=X_test.shape[1]), min_size=1, max_size=8))
        x = pd.DataFrame([[np.nan if v is None else v for v in row] for row in rows],
                         columns=X_test.columns)
        proba = fitted_model.predict_proba(x)
        assert proba.shape == (len(rows), 3) and np.isfinite(proba).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)

    # ------------------------------------------------------------------ persistence
    def test_save_load_round_trip(self, fitted_model, fitted_proba, train_test, tmp_path):
        path = fitted_model.save(tmp_path / "sub" / "model.joblib")
        assert os.listdir(tmp_path / "sub") == ["model.joblib"]  # no temporary file left
        loaded = type(fitted_model).load(path)
        np.testing.assert_array_equal(loaded.predict_proba(train_test[2]), fitted_proba)
        np.testing.assert_array_equal(loaded.classes_, fitted_model.classes_)
        assert loaded.get_params() == fitted_model.get_params()
        other = CatBoostModel if not isinstance(fitted_model, CatBoostModel) else SVMModel
        with pytest.raises(TypeError, match="not a"):
            other.load(path)

    # ------------------------------------------------------------------ input validation
    def test_unfitted_predict_raises(self, make_model, train_test):
        with pytest.raises(NotFittedError):
            make_model().predict_proba(train_test[2])

    def test_length_mismatch_names_y(self, make_model, tiny_xy):
        X, y = tiny_xy
        with pytest.raises(ParameterError, match=r"`X` has 600 rows but `y` has 599"):
            make_model().fit(X, y.to_numpy()[:-1])

    def test_single_class_rejected(self, make_model, tiny_xy):
        X, _ = tiny_xy
        with pytest.raises(ParameterError, match=r"`y` must hold at least 2 classes"):
            make_model().fit(X, np.ones(len(X)))

    def test_missing_labels_rejected(self, make_model, tiny_xy):
        X, y = tiny_xy
        y = y.astype(float)
        y.iloc[3] = np.nan
        with pytest.raises(ParameterError, match=r"`y` holds 1 missing labels \(first at row 3\)"):
            make_model().fit(X, y)

    def test_misaligned_index_rejected(self, make_model, tiny_xy):
        X, y = tiny_xy
        with pytest.raises(ParameterError, match="`y` index differs from `X` index"):
            make_model().fit(X, y.shift(1, freq="min"))

    def test_non_numeric_X_names_the_column(self, make_model, tiny_xy):
        X, y = tiny_xy
        bad = X.assign(session=np.where(np.arange(len(X)) % 2, "am", "pm"))
        with pytest.raises(TypeError, match=r"`X` column 'session' has dtype"):
            make_model().fit(bad, y)
        with pytest.raises(TypeError, match=r"`X` must be numeric"):
            make_model().fit(np.full((len(y), 2), "a"), y)

    def test_inf_rejected(self, make_model, tiny_xy):
        X, y = tiny_xy
        bad = X.copy()
        bad.iloc[5, 2] = np.inf
        with pytest.raises(ParameterError, match=rf"`X` column '{X.columns[2]}' holds \+-inf"):
            make_model().fit(bad, y)

    def test_one_dimensional_X_rejected(self, make_model, tiny_xy):
        X, y = tiny_xy
        with pytest.raises(ParameterError, match=r"`X` must be 2-D"):
            make_model().fit(X.iloc[:, 0].to_numpy(), y)

    def test_bad_sample_weight_rejected(self, make_model, tiny_xy):
        X, y = tiny_xy
        with pytest.raises(ParameterError, match="`sample_weight` must hold one weight per row"):
            make_model().fit(X, y, sample_weight=np.ones(3))
        with pytest.raises(ParameterError, match="`sample_weight` must hold finite weights >= 0"):
            make_model().fit(X, y, sample_weight=-np.ones(len(y)))

    def test_predict_checks_features(self, fitted_model, fitted_proba, train_test):
        X_test = train_test[2]
        with pytest.raises(ParameterError, match="`X` has 3 features but the model was fitted"):
            fitted_model.predict_proba(X_test.iloc[:, :3])
        with pytest.raises(ParameterError, match="different order"):
            fitted_model.predict_proba(X_test[X_test.columns[::-1]])
        # a bare array in fit order is accepted
        np.testing.assert_array_equal(fitted_model.predict_proba(X_test.to_numpy()), fitted_proba)


def test_unknown_model_name_lists_valid_names():
    with pytest.raises(ParameterError, match=r"valid models: catboost, logistic, random_forest") as err:
        get_model("catbost")
    assert "Did you mean 'catboost'?" in str(err.value)
    with pytest.raises(ParameterError, match="Did you mean 'random_forest'"):
        get_model("random_forrest")


# --------------------------------------------------------------------------- model-specific
@pytest.mark.parametrize("params, match", [
    (dict(iterations=0), r"`iterations` must be an int >= 1, got 0"),
    (dict(depth=17), r"`depth` must be an int in \[1, 16\]"),
    (dict(learning_rate=0.0), r"`learning_rate` must be a finite number > 0, got 0.0"),
    (dict(auto_class_weights="balanced"), r"`auto_class_weights` must be one of"),
    (dict(thread_count=0), r"`thread_count` must be -1 \(all cores\) or >= 1"),
])
def test_catboost_parameter_errors(params, match, tiny_xy):
    with pytest.raises(ParameterError, match=match):
        CatBoostModel(**params).fit(*tiny_xy)


def test_catboost_writes_no_files(tmp_path, monkeypatch, tiny_xy, catboost_factory):
    monkeypatch.chdir(tmp_path)
    catboost_factory(iterations=5).fit(*tiny_xy)
    assert os.listdir(tmp_path) == []


def test_catboost_native_importance_and_seed(tiny_xy, catboost_factory):
    X, y = tiny_xy
    a = catboost_factory(random_state=1).fit(X, y)
    b = catboost_factory(random_state=2).fit(X, y)
    assert a.feature_importances_.shape == (X.shape[1],)
    assert a.feature_importances_.sum() == pytest.approx(100.0)
    assert not np.array_equal(a.predict_proba(X), b.predict_proba(X))


def test_random_forest_class_weight_dict_uses_labels(tiny_xy, random_forest_factory):
    X, y = tiny_xy
    model = random_forest_factory(class_weight={-1: 1.0, 0: 5.0, 1: 1.0}).fit(X, y)
    assert model.predict_proba(X).shape == (len(X), 3)
    with pytest.raises(ParameterError, match=r"`class_weight` has key 2"):
        random_forest_factory(class_weight={-1: 1.0, 2: 1.0}).fit(X, y)
    assert model.feature_importances_.sum() == pytest.approx(1.0)


def test_svm_max_train_rows_keeps_the_most_recent_rows(tiny_xy):
    X, y = tiny_xy
    with pytest.warns(DataQualityWarning, match="keeps the last 400 of 600 training rows"):
        capped = SVMModel(max_train_rows=400).fit(X, y)
    assert capped.n_train_rows_ == 400
    tail = SVMModel().fit(X.iloc[200:], y.iloc[200:])
    np.testing.assert_array_equal(capped.predict_proba(X), tail.predict_proba(X))


def test_svm_needs_enough_rows_per_class_for_calibration(tiny_xy):
    X, y = tiny_xy
    y = y.copy()
    y.iloc[:] = np.where(np.arange(len(y)) % 2, 1, -1)
    y.iloc[[10, 20]] = 0
    with pytest.raises(ParameterError, match=r"`y` class 0 has 2 training rows, fewer than "
                                             r"`calibration_folds=5`"):
        SVMModel().fit(X, y)


def test_mlp_early_stopping_validates_on_the_last_rows(tiny_xy, mlp_factory):
    X, y = tiny_xy
    model = quiet(mlp_factory(max_iter=60, validation_fraction=0.2).fit, X, y)
    curve = model.validation_loss_curve_
    assert len(curve) == model.n_iter_ == len(model.loss_curve_)
    assert curve[model.best_iteration_ - 1] == min(curve)
    # the kept weights are the best epoch's, scored on the last 20% of the rows
    tail = slice(len(X) - 120, None)
    assert log_loss(y.iloc[tail], model.predict_proba(X.iloc[tail]),
                    labels=model.classes_) == pytest.approx(min(curve), rel=1e-12)


def test_mlp_warns_when_max_iter_is_too_small(tiny_xy, mlp_factory):
    with pytest.warns(ConvergenceWarning, match="max_iter=2 epochs ran"):
        mlp_factory(max_iter=2, early_stopping=False).fit(*tiny_xy)


def test_mlp_validation_fraction_errors(tiny_xy, mlp_factory):
    X, y = tiny_xy
    with pytest.raises(ParameterError, match=r"`validation_fraction` must be a number in \(0, 1\), got 1.0"):
        mlp_factory(validation_fraction=1.0).fit(X, y)
    with pytest.raises(ParameterError, match=r"leaves 2 training and 1 validation rows"):
        mlp_factory(validation_fraction=0.2).fit(X.iloc[:3], np.array([0, 1, 0]))


def test_mlp_sample_weight_zero_tail_keeps_training(tiny_xy, mlp_factory):
    """All-zero weights on the validation tail fall back to an unweighted validation loss."""
    X, y = tiny_xy
    w = np.ones(len(y))
    w[-60:] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = mlp_factory().fit(X, y, sample_weight=w)
    assert np.isfinite(model.validation_loss_curve_).all()


@pytest.mark.parametrize("cls", [CatBoostModel, LogisticModel, RandomForestModel, SVMModel, MLPModel])
def test_adapters_declare_nan_support(cls):
    assert cls().__sklearn_tags__().input_tags.allow_nan


def test_logistic_is_scikit_learns_penalised_regression_on_standardised_features(tiny_xy):
    """The reference is scikit-learn's own pipeline, built here from its parts, with
    scikit-learn's C = 1 / (alpha * n)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = tiny_xy
    X = X.copy()
    X.iloc[::7, 0] = np.nan
    ours = LogisticModel(alpha=0.5, clip=None).fit(X.iloc[:400], y.iloc[:400])
    ref = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                        LogisticRegression(C=1 / (0.5 * 400), class_weight="balanced", max_iter=1000))
    ref.fit(X.iloc[:400].to_numpy(), y.iloc[:400].to_numpy())
    np.testing.assert_allclose(ours.predict_proba(X.iloc[400:]), ref.predict_proba(X.iloc[400:].to_numpy()),
                               atol=1e-8)
    assert list(ours.classes_) == list(ref.classes_)
    # the penalty is per row: twice the rows, each given weight 1/2, is the same fit
    half = LogisticModel(alpha=0.5, clip=None).fit(pd.concat([X.iloc[:400]] * 2), pd.concat([y.iloc[:400]] * 2),
                                                    sample_weight=np.full(800, 0.5))
    np.testing.assert_allclose(half.coef_, ours.coef_, atol=1e-5)
    # a stronger penalty shrinks every coefficient toward zero
    strong = LogisticModel(alpha=1e3, clip=None).fit(X.iloc[:400], y.iloc[:400])
    assert np.abs(strong.coef_).max() < 0.1 * np.abs(ours.coef_).max()
    assert ours.feature_importances_.sum() == pytest.approx(1.0)


def test_logistic_clips_features_beyond_their_training_range(tiny_xy):
    X, y = tiny_xy
    model = LogisticModel().fit(X.iloc[:400], y.iloc[:400])
    far = X.iloc[400:401].copy()
    far.iloc[0, :] = X.iloc[:400].mean() + 1e6 * X.iloc[:400].std()
    at_clip = X.iloc[400:401].copy()
    at_clip.iloc[0, :] = X.iloc[:400].mean() + 6 * X.iloc[:400].std(ddof=0)
    np.testing.assert_allclose(model.predict_proba(far), model.predict_proba(at_clip), atol=1e-9)
