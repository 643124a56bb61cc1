"""ModelRegistry: round trips, versions, metadata, integrity, crashes, concurrency, errors."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from ml.exceptions import ParameterError
from ml.registry import CorruptModelError, ModelRegistry
from ml.registry import _registry as registry_module
from tests.ml.registry._models import CrashingAdapter, TinyAdapter


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = (X[:, 0] + 0.5 * rng.normal(size=200) > 0).astype(int)
    return X, y


@pytest.fixture(scope="module")
def forest(data):
    X, y = data
    return RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(X, y)


@pytest.fixture
def reg(tmp_path):
    return ModelRegistry(tmp_path / "registry")


def _visible(root):
    """Every path under root, relative, sorted."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


# ----------------------------------------------------------------- round trips
def test_round_trip_sklearn_identical_predictions(reg, forest, data):
    X, _ = data
    v = reg.register(forest, {"data_hash": "abc"}, name="rf")
    assert v == 1
    loaded = reg.load("rf", 1)
    assert type(loaded) is RandomForestClassifier
    np.testing.assert_array_equal(loaded.predict_proba(X), forest.predict_proba(X))
    meta = reg.metadata("rf")
    assert meta["storage"] == "joblib" and meta["model_file"] == "model.joblib"


def test_round_trip_adapter_uses_its_own_save(reg, data):
    X, y = data
    model = TinyAdapter(alpha=0.5).fit(X, y)
    v = reg.register(model)  # name from the adapter's `name`
    assert (v, reg.names()) == (1, ["tiny"])
    meta = reg.metadata("tiny", v)
    assert meta["storage"] == "save"
    assert meta["model_class"] == "tests.ml.registry._models:TinyAdapter"
    loaded = reg.load("tiny")
    assert isinstance(loaded, TinyAdapter)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_round_trip_ml_models_random_forest(reg, data):
    try:
        from ml.models import get_model

        model = get_model("random_forest", n_estimators=10, random_state=0)
    except (ImportError, ParameterError) as exc:
        pytest.skip(f"ml.models random_forest not available yet: {exc}")
    X, y = data
    model.fit(X, y)
    v = reg.register(model, {"cv_metrics": {"auc": 0.6}})
    name = reg.names()[0]
    loaded = reg.load(name, v)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


# -------------------------------------------------------------------- versions
def test_versions_increment_and_latest(reg, forest):
    assert [reg.register(forest, name="rf") for _ in range(3)] == [1, 2, 3]
    assert reg.register(forest, name="other") == 1
    assert reg.latest_version("rf") == 3
    assert reg.versions("rf") == [1, 2, 3]
    assert reg.metadata("rf")["version"] == 3
    assert reg.metadata("rf", "latest")["version"] == 3
    assert reg.metadata("rf", "v2")["version"] == 2
    assert reg.metadata("rf", np.int64(1))["version"] == 1
    assert sorted(os.listdir(reg.root / "rf")) == ["v1", "v2", "v3"]


def test_default_name_is_class_name(reg, forest):
    reg.register(forest)
    assert reg.names() == ["RandomForestClassifier"]


def test_delete_never_reuses_a_number(reg, forest):
    for _ in range(3):
        reg.register(forest, name="rf")
    reg.delete("rf", 3)
    assert reg.versions("rf") == [1, 2]
    assert reg.latest_version("rf") == 2
    assert reg.register(forest, name="rf") == 4
    reg.delete("rf", 1)
    assert reg.list("rf")["version"].tolist() == [2, 4]
    with pytest.raises(ParameterError, match="no version 1"):
        reg.load("rf", 1)


# -------------------------------------------------------------------- metadata
def test_metadata_contents(reg, forest):
    caller = {
        "data_hash": "sha256:0123",
        "features": pd.Index(["ret_1", "vol_20"]),
        "label": {"kind": "triple_barrier", "horizon": np.int64(30), "pt_sl": np.array([1.0, 2.0])},
        "cv_metrics": {"auc": np.float64(0.61), "log_loss": 0.68, "folds": 5,
                       "sharpe": float("nan")},
        "train_start": pd.Timestamp("2024-01-02 09:00", tz="America/Sao_Paulo"),
        "train_end": np.datetime64("2024-02-01T00:00"),
        "embargo": pd.Timedelta("5min"),
        "fold_auc": pd.Series([0.6, 0.62], index=[0, 1]),
        "flag": np.bool_(True),
    }
    before = dt.datetime.now(dt.timezone.utc)
    v = reg.register(forest, caller, name="rf")
    after = dt.datetime.now(dt.timezone.utc)
    path = reg.root / "rf" / f"v{v}" / "metadata.json"
    meta = json.loads(path.read_text())  # plain JSON on disk (no NaN tokens)
    assert "NaN" not in path.read_text()
    assert meta == reg.metadata("rf", v)

    # caller's entries, made JSON-safe
    assert meta["data_hash"] == "sha256:0123"
    assert meta["features"] == ["ret_1", "vol_20"]
    assert meta["label"] == {"kind": "triple_barrier", "horizon": 30, "pt_sl": [1.0, 2.0]}
    assert meta["cv_metrics"] == {"auc": 0.61, "log_loss": 0.68, "folds": 5, "sharpe": None}
    assert meta["train_start"] == "2024-01-02T09:00:00-03:00"
    assert meta["train_end"] == "2024-02-01T00:00:00"
    assert meta["embargo"] == "P0DT0H5M0S"
    assert meta["fold_auc"] == {"0": 0.6, "1": 0.62}
    assert meta["flag"] is True

    # automatic entries
    assert (meta["name"], meta["version"]) == ("rf", 1)
    assert meta["model_class"] == "sklearn.ensemble._forest:RandomForestClassifier"
    params = forest.get_params(deep=False)
    assert meta["params"]["n_estimators"] == 10 and meta["params"]["max_depth"] == 4
    assert set(meta["params"]) == set(params)
    created = dt.datetime.fromisoformat(meta["created"])
    assert created.utcoffset() == dt.timedelta(0)
    assert before <= created <= after
    libs = meta["library_versions"]
    assert libs["python"] == ".".join(map(str, sys.version_info[:3]))
    assert libs["numpy"] == np.__version__ and libs["pandas"] == pd.__version__
    assert "scikit-learn" in libs
    assert meta["code_version"]["ml"]
    digest = hashlib.sha256((path.parent / "model.joblib").read_bytes()).hexdigest()
    assert meta["model_files"] == {"model.joblib": digest}
    assert len(meta["model_hash"]) == 64


def test_register_imports_no_heavy_library(reg, forest):
    heavy = [m for m in ("torch", "catboost", "optuna", "arch") if m not in sys.modules]
    reg.register(forest, name="rf")
    assert [m for m in heavy if m in sys.modules] == []


def test_metadata_reserved_keys_and_bad_values(reg, forest):
    with pytest.raises(ParameterError, match="reserved"):
        reg.register(forest, {"params": {"a": 1}}, name="rf")
    with pytest.raises(TypeError, match=r"metadata\['model_obj'\]"):
        reg.register(forest, {"model_obj": object()}, name="rf")
    with pytest.raises(TypeError, match="metadata"):
        reg.register(forest, ["not", "a", "dict"], name="rf")
    assert _visible(reg.root) == []


def test_list(reg, forest):
    assert list(reg.list().columns) == ["name", "version", "created", "model_class", "stage"]
    assert reg.list().empty
    reg.register(forest, {"cv_metrics": {"auc": 0.6, "note": "x"}}, name="rf")
    reg.register(forest, {"metrics": {"auc": 0.7, "sharpe": 1.2}}, name="rf")
    reg.register(DummyClassifier().fit([[0]], [0]), name="baseline")
    df = reg.list()
    assert df[["name", "version"]].values.tolist() == [["baseline", 1], ["rf", 1], ["rf", 2]]
    assert str(df["created"].dt.tz) == "UTC"
    assert df["model_class"].iloc[0] == "sklearn.dummy:DummyClassifier"
    assert df["auc"].tolist()[1:] == [0.6, 0.7]
    assert np.isnan(df["auc"].iloc[0]) and "note" not in df
    assert reg.list("rf")["version"].tolist() == [1, 2]
    assert set(df["stage"]) == {"candidate"}                  # every version starts a candidate


# ------------------------------------------------------------------- integrity
def test_corrupt_model_file_detected(reg, forest):
    reg.register(forest, name="rf")
    path = reg.root / "rf" / "v1" / "model.joblib"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptModelError, match=r"model\.joblib.*corrupt.*SHA-256") as info:
        reg.load("rf")
    assert info.value.path == str(path)
    with pytest.raises(CorruptModelError):
        reg.verify("rf", 1)


def test_missing_model_file_detected(reg, forest):
    reg.register(forest, name="rf")
    (reg.root / "rf" / "v1" / "model.joblib").unlink()
    with pytest.raises(CorruptModelError, match="missing"):
        reg.load("rf")


def test_corrupt_metadata_detected(reg, forest):
    reg.register(forest, name="rf")
    reg.register(forest, name="rf")
    (reg.root / "rf" / "v1" / "metadata.json").write_text("{not json")
    with pytest.raises(CorruptModelError, match="not valid JSON"):
        reg.metadata("rf", 1)
    with pytest.warns(UserWarning, match="skipping rf v1"):
        assert reg.list()["version"].tolist() == [2]


# ---------------------------------------------------------------------- crashes
def test_crash_mid_save_leaves_nothing(reg, data):
    X, y = data
    with pytest.raises(OSError, match="disk full"):
        reg.register(CrashingAdapter().fit(X, y), {"data_hash": "x"})
    assert _visible(reg.root) == []
    assert reg.list().empty and reg.names() == []
    with pytest.raises(ParameterError, match="no model named 'crashing'"):
        reg.load("crashing")


def test_crash_after_a_good_version_keeps_it(reg, data, forest):
    X, y = data
    reg.register(forest, name="m")
    with pytest.raises(OSError):
        reg.register(CrashingAdapter().fit(X, y), name="m")
    assert os.listdir(reg.root / "m") == ["v1"]
    assert reg.register(forest, name="m") == 2


def test_crash_at_rename_leaves_nothing(reg, forest, monkeypatch):
    def boom(src, dst):
        raise PermissionError(13, "denied (simulated)")

    monkeypatch.setattr(registry_module.os, "rename", boom)
    with pytest.raises(PermissionError):
        reg.register(forest, name="rf")
    monkeypatch.undo()
    assert _visible(reg.root) == []


def test_leftover_tmp_ignored_and_cleaned(reg, forest):
    reg.register(forest, name="rf")
    stale = reg.root / "rf" / ".tmp-deadhost-1-abc"
    stale.mkdir()
    (stale / "model.joblib").write_bytes(b"partial")
    orphan = reg.root / "ghost" / ".tmp-deadhost-2-def"
    orphan.mkdir(parents=True)
    assert reg.versions("rf") == [1] and reg.names() == ["rf"]
    assert reg.cleanup() == 0  # younger than an hour: maybe still being written
    old = time.time() - 7200
    os.utime(stale, (old, old))
    assert reg.cleanup() == 1 and not stale.exists() and orphan.exists()
    assert reg.cleanup(older_than=0) == 1
    assert _visible(reg.root) == ["rf", "rf/v1", "rf/v1/metadata.json", "rf/v1/model.joblib"]
    with pytest.raises(ParameterError, match="older_than"):
        reg.cleanup(-1)


# ------------------------------------------------------------------ concurrency
def test_rename_collision_retries_with_next_number(reg, forest, monkeypatch):
    reg.register(forest, name="rf")
    reg.register(forest, name="rf")
    # a stale view of the folder (as if another process had just renamed v1, v2)
    monkeypatch.setattr(ModelRegistry, "_taken", lambda self, d: 0)
    assert reg.register(forest, name="rf") == 3
    monkeypatch.undo()
    assert reg.versions("rf") == [1, 2, 3]
    assert [reg.metadata("rf", v)["version"] for v in (1, 2, 3)] == [1, 2, 3]
    assert [p for p in os.listdir(reg.root / "rf") if p.startswith(".")] == []


def _register_many(root, barrier, results, n):
    """Worker process: wait for all workers, then register ``n`` models at once."""
    reg = ModelRegistry(root)
    model = DummyClassifier(strategy="prior").fit([[0], [1]], [0, 1])
    barrier.wait(timeout=30)
    results.put([reg.register(model, {"pid": os.getpid(), "i": i}, name="race")
                 for i in range(n)])


def test_parallel_processes_get_distinct_versions(tmp_path):
    # fork where there is one (starts in milliseconds); spawn elsewhere
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("fork" if "fork" in methods else "spawn")
    root = str(tmp_path / "registry")
    n_procs, n = 4, 5
    barrier, results = ctx.Barrier(n_procs), ctx.Queue()
    procs = [ctx.Process(target=_register_many, args=(root, barrier, results, n))
             for _ in range(n_procs)]
    for p in procs:
        p.start()
    out = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    got = sorted(v for chunk in out for v in chunk)
    assert got == list(range(1, n_procs * n + 1))
    reg = ModelRegistry(root)
    assert reg.versions("race") == got
    assert len({reg.metadata("race", v)["pid"] for v in got}) == n_procs
    for v in got:  # every version complete and readable
        assert reg.metadata("race", v)["version"] == v
        reg.verify("race", v)
    assert [p for p in os.listdir(reg.root / "race") if p.startswith(".")] == []


def test_threads_get_distinct_versions(reg, forest):
    with ThreadPoolExecutor(8) as pool:
        got = sorted(pool.map(lambda i: reg.register(forest, {"i": i}, name="t"), range(16)))
    assert got == list(range(1, 17))


# ----------------------------------------------------------------------- errors
@pytest.mark.parametrize("bad", ["", "../x", "a/b", "a\\b", "/abs", ".hidden", "a..b", "x.",
                                 "sp ace", "x" * 200, "v1/../../etc"])
def test_bad_names(reg, forest, bad):
    with pytest.raises(ParameterError, match="`name`"):
        reg.register(forest, name=bad)
    with pytest.raises(ParameterError, match="`name`"):
        reg.load(bad)
    assert _visible(reg.root) == []


def test_name_type(reg, forest):
    with pytest.raises(TypeError, match="`name` must be a str"):
        reg.register(forest, name=3)


def test_unknown_name_lists_and_suggests(reg, forest):
    with pytest.raises(ParameterError, match="none yet"):
        reg.load("rf")
    reg.register(forest, name="random_forest")
    reg.register(forest, name="svm")
    with pytest.raises(ParameterError, match=r"random_forest, svm\.  ?Did you mean 'random_forest'\?"):
        reg.load("random_forrest")
    with pytest.raises(ParameterError, match="no model named"):
        reg.metadata("catboost")
    with pytest.raises(ParameterError, match="no model named"):
        reg.latest_version("nope")
    with pytest.raises(ParameterError, match="no model named"):
        reg.list("nope")


def test_unknown_version_lists_available(reg, forest):
    reg.register(forest, name="rf")
    reg.register(forest, name="rf")
    with pytest.raises(ParameterError, match=r"no version 5; versions: \[1, 2\] \(latest 2\)"):
        reg.load("rf", 5)
    with pytest.raises(ParameterError, match="no version 0"):
        reg.metadata("rf", 0)
    with pytest.raises(ParameterError, match="'latest'"):
        reg.load("rf", "newest")
    with pytest.raises(TypeError, match="`version`"):
        reg.load("rf", 1.0)
    with pytest.raises(TypeError, match="`version`"):
        reg.load("rf", True)
    with pytest.raises(ParameterError, match="no version 9"):
        reg.delete("rf", 9)


def test_plain_object_and_logistic_round_trip(reg, data):
    # an object with no get_params: params recorded as None, joblib storage
    X, y = data
    model = {"coef": np.arange(3.0)}
    v = reg.register(model, name="plain")
    assert reg.metadata("plain", v)["params"] is None
    np.testing.assert_array_equal(reg.load("plain")["coef"], model["coef"])
    lr = LogisticRegression().fit(X, y)
    reg.register(lr, name="lr")
    np.testing.assert_array_equal(reg.load("lr").predict_proba(X), lr.predict_proba(X))
