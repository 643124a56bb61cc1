"""train_walkforward: leakage, determinism, stitching, purging, tuning, errors."""

import warnings

import numpy as np
import pandas as pd
import pytest

from ml.exceptions import ParameterError
from ml.features._causality import perturb_after
from ml.training import WalkForwardConfig, train_walkforward

FAST = WalkForwardConfig(model="random_forest", model_params={"n_estimators": 20, "min_samples_leaf": 20},
                         train_sessions=3, test_sessions=2, n_features=8, label_params={"max_holding": 20},
                         min_train_rows=100)


def run(bars, cfg=FAST, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train_walkforward(bars, cfg, **kw)


@pytest.fixture(scope="module")
def fil_result(fil_bars):
    return run(fil_bars, keep_models=True)


def test_stitched_predictions_cover_every_later_bar_once(fil_bars, fil_result):
    p = fil_result.predictions
    assert p.index.is_unique and p.index.is_monotonic_increasing
    first_test = fil_bars.index[3 * 1440]  # 24/7 sessions are UTC days of 1440 bars
    assert p.index[0] == first_test and p.index[-1] == fil_bars.index[-1]
    assert len(p) == len(fil_bars) - 3 * 1440
    assert list(p["fold"].unique()) == [0, 1]
    probs = p[[c for c in p.columns if c.startswith("p_") and c != "p_up"]]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-9)
    assert (p["p_up"] == p["p_1"]).all()


def test_metrics_and_diagnostics(fil_result):
    m = fil_result.metrics
    assert m["n_folds"] == 2 and 0 <= m["auc"] <= 1 and m["log_loss"] > 0 and 0 <= m["accuracy"] <= 1
    fm = fil_result.fold_metrics
    assert list(fm.columns[:4]) == ["train_start", "train_end", "test_start", "test_end"]
    assert (fm["train_end"] < fm["test_start"]).all()
    assert all(len(f.selected) == 8 for f in fil_result.folds)
    assert fil_result.importance.shape[1] == 2
    shared = int(fil_result.importance.notna().all(axis=1).sum())
    if shared >= 3:
        assert -1 <= m["importance_stability"] <= 1
    else:  # too few features in common to compare rankings
        assert np.isnan(m["importance_stability"])
    assert fil_result.selection_frequency.max() == 1.0
    assert all(f.model is not None for f in fil_result.folds)


def test_training_labels_never_reach_the_test_window(fil_bars):
    """Labels that may cross the session close reach into the next (test) session:
    exactly those training rows are purged, and the window is reported in full."""
    res = run(fil_bars, FAST.replace(label_params={"max_holding": 20, "cross_session": True}))
    t1 = res.labels["t1"]
    for f in res.folds:
        assert f.train_end == fil_bars.index[fil_bars.index.get_loc(f.test_start) - 1]
        window = (fil_bars.index >= f.train_start) & (fil_bars.index <= f.train_end)
        reaching = int((window & (t1 >= f.test_start).to_numpy()).sum())
        assert reaching > 0 and f.n_purged == reaching  # exactly those were dropped from training
        assert f.n_train == int((window & (t1 < f.test_start).to_numpy() & t1.notna().to_numpy()).sum())


def test_stability_compares_rankings_on_shared_features(fil_result):
    imp = fil_result.importance
    for f in fil_result.folds:
        assert imp[f.fold].notna().sum() == len(f.selected)  # NaN where not selected
    assert 0 <= fil_result.metrics["selection_jaccard"] <= 1


def test_predictions_before_t_do_not_change_when_later_data_change(fil_bars, fil_result):
    """The leakage test: perturb every bar after T (inside the second test window);
    every prediction for a bar <= T is bit-identical."""
    t = 5 * 1440 + 300
    other = run(perturb_after(fil_bars, t, seed=11))
    a = fil_result.predictions.loc[: fil_bars.index[t]]
    b = other.predictions.loc[: fil_bars.index[t]]
    cols = [c for c in a.columns if c.startswith("p_")] + ["fold"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    # and the perturbation did change later predictions
    assert not np.allclose(fil_result.predictions["p_up"].iloc[-500:], other.predictions["p_up"].iloc[-500:])


def test_deterministic_and_parallel_equals_serial(fil_bars, fil_result):
    """Bit for bit, baselines included: every fold runs with one BLAS thread, in a worker or not."""
    again = run(fil_bars, n_jobs=2)
    pd.testing.assert_frame_equal(again.predictions, fil_result.predictions, check_exact=True)
    assert set(again.folds[0].stages) >= {"select", "baselines", "fit", "predict", "importance"}


def test_tuning_inside_each_fold_counts_trials(fil_bars):
    cfg = FAST.replace(tune_trials=2, tune_splits=2)
    res = run(fil_bars.iloc[: 6 * 1440], cfg)
    assert res.metrics["tuning_trials"] == 2 * res.metrics["n_folds"]
    assert res.fold_metrics["tuning_trials"].eq(2).all()
    assert all(set(f.params) >= {"n_estimators"} for f in res.folds)


def test_on_a_continuous_futures_series(wdo_bars):
    from ml.data import continuous_contract

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cont = continuous_contract(wdo_bars)
    res = run(cont.loc[:"2021-11-30"], FAST.replace(train_sessions=10, test_sessions=3))
    # 17 sessions (15 Nov is a holiday): train on 10, test 3 + 3 + 1 from 22 Nov 09:00
    assert res.metrics["n_folds"] == 3
    assert res.predictions.index[0] == pd.Timestamp("2021-11-22 09:00", tz="America/Sao_Paulo")


@pytest.mark.parametrize("changes, match", [
    ({"model": "catbost"}, "Did you mean 'catboost'"),
    ({"model": "garch"}, "volatility model"),
    ({"label": "triple"}, "Did you mean 'triple_barrier'"),
    ({"train_sessions": 0}, "`train_sessions` must be an int >= 1"),
    ({"n_features": -1}, "`n_features`"),
    ({"n_jobs": 0}, "`n_jobs`"),
    ({"train_sessions": 30}, "sessions"),
    ({"step_sessions": 1}, "`step_sessions` must be >= `test_sessions`"),
])
def test_bad_settings(fil_bars, changes, match):
    with pytest.raises(ParameterError, match=match):
        run(fil_bars, FAST.replace(**changes))


def test_unknown_model_parameter_names_a_suggestion(fil_bars):
    with pytest.raises(ParameterError, match="'n_estimator' is not a parameter of random_forest.*"
                                             "Did you mean 'n_estimators'"):
        run(fil_bars, FAST.replace(model_params={"n_estimator": 5}))


def test_unknown_setting_names_a_suggestion():
    with pytest.raises(ParameterError, match="Did you mean 'train_sessions'"):
        FAST.replace(train_session=3)


def test_sequence_models_predict_with_the_bars_before_the_test_window(fil_bars):
    pytest.importorskip("torch")
    cfg = FAST.replace(model="lstm", model_params={"window": 8, "hidden_size": 4, "epochs": 1},
                       n_features=4)
    bars = fil_bars.iloc[: 5 * 1440]
    res = run(bars, cfg, keep_models=True)
    f = res.folds[0]
    start = bars.index.get_loc(f.test_start)
    X = res.features[f.selected]
    with_context = f.model.predict_proba(X.iloc[start - 7: start + 1])[-1]
    got = res.predictions.loc[f.test_start, ["p_-1", "p_0", "p_1"]].to_numpy(dtype=float)
    np.testing.assert_allclose(got, with_context, rtol=1e-12)


ENSEMBLE = FAST.replace(model="ensemble", ensemble_models=("random_forest", "catboost"),
                        model_params={"random_forest": {"n_estimators": 20, "min_samples_leaf": 20},
                                      "catboost": {"iterations": 30, "depth": 4}})


def test_stacking_ensemble_per_fold(fil_bars):
    bars = fil_bars.iloc[: 5 * 1440]
    res = run(bars, ENSEMBLE, keep_models=True)
    from ml.ensemble import StackingEnsemble

    model = res.folds[0].model
    assert isinstance(model, StackingEnsemble)
    assert [name for name, _ in model.estimators] == ["random_forest", "catboost"]
    # the stacking folds are purged on the fold's training labels
    from ml.validation import PurgedKFold

    assert isinstance(model.cv, PurgedKFold) and len(model.cv.t1) == res.folds[0].n_train
    p = res.predictions[["p_-1", "p_0", "p_1"]].to_numpy()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-9)
    assert np.isfinite(res.metrics["auc"])
    again = run(bars, ENSEMBLE)
    pd.testing.assert_frame_equal(res.predictions, again.predictions)


@pytest.mark.parametrize("changes, match", [
    ({"ensemble_models": ("random_forest",)}, "at least two"),
    ({"ensemble_models": ("random_forest", "random_forest")}, "twice"),
    ({"ensemble_models": ("random_forest", "lstm")}, "windows of past bars"),
    ({"ensemble_models": ("random_forest", "garch")}, "volatility model"),
    ({"model_params": {"svm": {}}}, "maps base model names"),
    ({"model_params": {"catboost": {"iteration": 5}}}, "Did you mean 'iterations'"),
    ({"tune_trials": 2}, "not supported with model='ensemble'"),
])
def test_bad_ensemble_settings(fil_bars, changes, match):
    if "lstm" in changes.get("ensemble_models", ()):
        pytest.importorskip("torch")
    with pytest.raises(ParameterError, match=match):
        run(fil_bars, ENSEMBLE.replace(**changes))


def test_checkpoint_resumes_finished_folds_and_retrains_changed_ones(fil_bars, fil_result, tmp_path):
    first = run(fil_bars, checkpoint=tmp_path)
    assert first.resumed_folds == []
    files = sorted(tmp_path.glob("fold-*.joblib"))
    assert len(files) == first.metrics["n_folds"]
    pd.testing.assert_frame_equal(first.predictions, fil_result.predictions)
    files[-1].unlink()                                   # as if the run had stopped before the last fold
    second = run(fil_bars, checkpoint=tmp_path, keep_models=True)
    assert second.resumed_folds == list(range(first.metrics["n_folds"] - 1))
    assert all(f.model is not None for f in second.folds)
    pd.testing.assert_frame_equal(second.predictions, first.predictions)
    assert not list(tmp_path.glob(".*tmp"))              # atomic writes leave no temporary files
    changed = run(fil_bars, FAST.replace(n_features=6), checkpoint=tmp_path)
    assert changed.resumed_folds == []                   # a changed setting trains every fold again
    files[0].write_bytes(b"not a joblib file")           # a damaged checkpoint is trained again
    third = run(fil_bars, FAST.replace(n_features=6), checkpoint=tmp_path)
    assert third.resumed_folds == list(range(1, first.metrics["n_folds"]))
    pd.testing.assert_frame_equal(third.predictions, changed.predictions)
