"""ml.tuning.tune: search spaces, pruning, scoring, storage and determinism."""

import warnings

import numpy as np
import optuna
import pandas as pd
import pytest

from ml.exceptions import ParameterError
from ml.features import build_features
from ml.labels import triple_barrier_labels
from ml.tuning import fold_score, tune


class Forward:
    """Past -> next block splits (a minimal walk-forward, independent of ml.validation)."""

    def __init__(self, n_splits=3):
        self.n_splits = n_splits

    def split(self, X, y=None, groups=None):
        n = len(X)
        size = n // (self.n_splits + 1)
        for k in range(1, self.n_splits + 1):
            yield np.arange(0, k * size), np.arange(k * size, min((k + 1) * size, n))

    def get_n_splits(self, *a, **k):
        return self.n_splits


@pytest.fixture(scope="module")
def data(fil_bars):
    bars = fil_bars.iloc[:3000]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = build_features(bars, groups=["momentum", "volatility"])
    lab = triple_barrier_labels(bars, max_holding=20)
    ok = lab["label"].notna().to_numpy() & X.notna().all(axis=1).to_numpy()
    return X[ok], lab["label"][ok].to_numpy(), lab["ret"][ok].to_numpy()


FAST = {"n_estimators": 10, "n_jobs": 1}


def test_tune_returns_constructor_params_and_counts_every_trial(data):
    X, y, _ = data
    res = tune("random_forest", X, y, Forward(), n_trials=4, fixed_params=FAST, seed=1)
    assert res.n_trials == 4 and res.direction == "minimize"
    assert len(res.fold_scores) == 3 and res.best_score == pytest.approx(np.mean(res.fold_scores))
    from ml.models import get_model
    get_model("random_forest", **res.best_params)  # accepted by the constructor
    assert all(t.params for t in res.study.trials)


def test_same_seed_same_study(data):
    X, y, _ = data
    a = tune("random_forest", X, y, Forward(), n_trials=3, fixed_params=FAST, seed=7)
    b = tune("random_forest", X, y, Forward(), n_trials=3, fixed_params=FAST, seed=7)
    assert a.best_params == b.best_params and a.best_score == b.best_score


def test_sharpe_scoring_is_maximised(data):
    X, y, ret = data
    res = tune("random_forest", X, y, Forward(), n_trials=2, scoring="sharpe", returns=ret,
               fixed_params=FAST)
    assert res.direction == "maximize" and np.isfinite(res.best_score)


def test_sqlite_storage_is_shared_and_continued(data, tmp_path):
    X, y, _ = data
    url = f"sqlite:///{tmp_path / 'study.db'}"
    tune("random_forest", X, y, Forward(), n_trials=2, storage=url, study_name="s", fixed_params=FAST)
    res = tune("random_forest", X, y, Forward(), n_trials=2, storage=url, study_name="s", fixed_params=FAST)
    assert res.n_trials == 4 and res.n_trials_run == 2  # a second worker (or run) adds to the same study
    assert len(optuna.load_study(study_name="s", storage=url).trials) == 4


def test_pruning_reports_per_fold(data):
    X, y, _ = data
    res = tune("random_forest", X, y, Forward(4), n_trials=8, fixed_params=FAST, pruner="median")
    steps = [len(t.intermediate_values) for t in res.study.trials]
    assert max(steps) == 4  # completed trials reported every fold
    states = {t.state for t in res.study.trials}
    assert optuna.trial.TrialState.COMPLETE in states


def test_fold_score_by_hand():
    classes = np.array([-1, 1])
    proba = np.array([[0.2, 0.8], [0.9, 0.1], [0.5, 0.5]])
    # positions +1, -1, 0; pnl = [0.01, -(-0.02)=0.02, 0]
    s = fold_score("sharpe", [1, -1, 1], proba, classes, returns=[0.01, -0.02, 0.03], threshold=0.1)
    pnl = np.array([0.01, 0.02, 0.0])
    assert s == pytest.approx(pnl.mean() / pnl.std(ddof=1))
    assert fold_score("accuracy", [1, -1, 1], proba, classes) == pytest.approx(2 / 3)  # a tie picks -1


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"model_name": "catbost"}, ParameterError, "Did you mean 'catboost'"),
    ({"model_name": "garch"}, ParameterError, "volatility model"),
    ({"scoring": "sharp"}, ParameterError, "Did you mean 'sharpe'"),
    ({"scoring": "sharpe"}, ParameterError, "needs `returns`"),
    ({"n_trials": 0}, ParameterError, "`n_trials`"),
    ({"cv": 5}, TypeError, "`cv` must be a splitter"),
    ({"storage": "sqlite:///x.db"}, ParameterError, "`study_name` is required"),
    ({"pruner": "hyperband"}, ParameterError, "`pruner`"),
])
def test_bad_arguments(data, kwargs, exc, match):
    X, y, _ = data
    args = {"model_name": "random_forest", "X": X, "y": y, "cv": Forward(), "n_trials": 1,
            "fixed_params": FAST, **kwargs}
    if args["model_name"] != "random_forest":
        args.pop("fixed_params")
    with pytest.raises(exc, match=match):
        tune(**args)


def test_nan_labels_rejected(data):
    X, y, _ = data
    y = y.astype(float)
    y[3] = np.nan
    with pytest.raises(ParameterError, match="NaN labels"):
        tune("random_forest", X, y, Forward(), n_trials=1, fixed_params=FAST)


def _worker(args):
    X, y, url = args
    return tune("random_forest", X, y, Forward(), n_trials=2, storage=url, study_name="shared",
                fixed_params=FAST).n_trials


def test_two_processes_share_one_fresh_sqlite_study(data, tmp_path):
    """Both workers start on an empty database at once (Optuna's schema set-up races)."""
    import multiprocessing as mp

    X, y, _ = data
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    with mp.get_context("fork").Pool(2) as pool:
        pool.map(_worker, [(X.iloc[:1200], y[:1200], url)] * 2)
    trials = optuna.load_study(study_name="shared", storage=url).trials
    assert len(trials) == 4
    # the same seed in both workers, yet no two trials alike (a plain TPESampler(seed=0) in each
    # worker draws the same start-up points: trials 0/1 and 2/3 were twins)
    params = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(params)) == 4, params


def test_a_trial_draws_the_same_way_whichever_worker_runs_it(data, tmp_path):
    """Trial k's parameters depend on (seed, k) only: a study run in one process draws what two
    workers would, trial by trial, for the random start-up trials."""
    X, y, _ = data
    runs = []
    for name in ("a", "b"):
        url = f"sqlite:///{tmp_path / (name + '.db')}"
        for _ in range(2):   # two calls on one storage, as two workers one after the other
            tune("random_forest", X.iloc[:1200], y[:1200], Forward(), n_trials=2, storage=url, study_name="s",
                 fixed_params=FAST, seed=5)
        runs.append([t.params for t in optuna.load_study(study_name="s", storage=url).trials])
    assert runs[0] == runs[1] and len({tuple(sorted(p.items())) for p in runs[0]}) == 4


def test_a_study_of_other_data_is_refused_not_mixed(data, tmp_path):
    X, y, _ = data
    url = f"sqlite:///{tmp_path / 'mix.db'}"
    tune("random_forest", X, y, Forward(), n_trials=1, storage=url, study_name="s", fixed_params=FAST)
    shuffled = np.random.default_rng(0).permutation(y)
    with pytest.raises(ParameterError, match="built for other data"):
        tune("random_forest", X, shuffled, Forward(), n_trials=1, storage=url, study_name="s", fixed_params=FAST)
    with pytest.raises(ParameterError, match="built for other data"):
        tune("svm", X, y, Forward(), n_trials=1, storage=url, study_name="s")


def test_binary_meta_labels_trade_long_or_flat():
    classes = np.array([0, 1])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])
    # P(1) - 0.5 = -0.4, 0.3, 0.1 -> positions 0, 1, 0 with threshold 0.15 (never short on "no trade")
    s = fold_score("sharpe", [0, 1, 1], proba, classes, returns=[-0.05, 0.02, 0.01], threshold=0.15)
    pnl = np.array([0.0, 0.02, 0.0])
    assert s == pytest.approx(pnl.mean() / pnl.std(ddof=1))


def test_groups_reach_the_splitter(data):
    X, y, _ = data

    class NeedsGroups(Forward):
        def split(self, X, y=None, groups=None):
            assert groups is not None and len(groups) == len(X)
            yield from super().split(X, y)

    res = tune("random_forest", X, y, NeedsGroups(), n_trials=1, fixed_params=FAST, groups=np.zeros(len(X)))
    assert res.n_trials_run == 1
