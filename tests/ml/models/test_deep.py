"""LSTM / Transformer adapters and causal windows, on small real data (FILUSDT)."""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402

from ml.exceptions import ParameterError  # noqa: E402
from ml.features import build_features  # noqa: E402
from ml.labels import triple_barrier_labels  # noqa: E402
from ml.models import get_model  # noqa: E402
from ml.models._deep import LSTMModel, TransformerModel  # noqa: E402
from ml.models._sequences import make_windows  # noqa: E402

N_ROWS = 2000
TINY = dict(window=8, hidden_size=8, num_layers=1, epochs=2, batch_size=128)
MODELS = {"lstm": (LSTMModel, {}), "transformer": (TransformerModel, {"n_heads": 2})}


@pytest.fixture(scope="module")
def data(fil_bars):
    """(X, y): 6 momentum features (NaN warm-up kept) and triple-barrier labels
    as ints -1/0/1 over the first 2000 FILUSDT bars (unlabelled tail dropped)."""
    bars = fil_bars.iloc[:N_ROWS]
    X = build_features(bars, groups=["momentum"]).iloc[:, :6]
    y = triple_barrier_labels(bars, max_holding=10)["label"]
    keep = y.notna().to_numpy()
    return X[keep], y[keep].astype(int)


@pytest.fixture(scope="module", params=list(MODELS))
def model_cls(request):
    cls, extra = MODELS[request.param]

    def make(**params):
        return cls(**{**TINY, **extra, **params})

    make.cls = cls
    return make


@pytest.fixture(scope="module")
def fitted(model_cls, data):
    """One fit per model, shared by the read-only tests."""
    X, y = data
    return model_cls().fit(X, y)


# --------------------------------------------------------------------------- make_windows
def test_make_windows_exact_small_example():
    X = np.array([[0.0, 10.0], [1.0, 11.0], [2.0, 12.0], [3.0, 13.0]])
    W = make_windows(X, 3)
    assert W.shape == (4, 3, 2)
    expected0 = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 2], [1, 2, 3]], dtype=float)
    np.testing.assert_array_equal(W[:, :, 0], expected0)
    np.testing.assert_array_equal(W[:, :, 1], expected0 + 10)
    np.testing.assert_array_equal(make_windows(X, 1)[:, 0, :], X)
    # window longer than the data: everything is edge padding of row 0
    np.testing.assert_array_equal(make_windows(X, 6)[1, :, 0], [0, 0, 0, 0, 0, 1])


def test_make_windows_is_a_view_over_one_padded_copy():
    X = np.random.default_rng(0).normal(size=(1000, 5))
    W = make_windows(X, 64)
    assert W.shape == (1000, 64, 5)
    assert not W.flags.writeable
    base = W.base
    while base.base is not None:
        base = base.base
    assert base.nbytes == (1000 + 63) * 5 * 8  # not 64x the data


def test_make_windows_is_causal():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3))
    X2 = X.copy()
    X2[31:] = rng.normal(size=(19, 3))
    np.testing.assert_array_equal(make_windows(X, 7)[:31], make_windows(X2, 7)[:31])


@pytest.mark.parametrize("window", [0, -2, 2.5, True, "3"])
def test_make_windows_bad_window(window):
    with pytest.raises(ParameterError, match="`window`"):
        make_windows(np.zeros((5, 2)), window)


def test_make_windows_needs_2d():
    with pytest.raises(ParameterError, match="`X`"):
        make_windows(np.zeros(5), 2)


# --------------------------------------------------------------------------- adapters
def test_registry_names():
    assert type(get_model("lstm")) is LSTMModel and LSTMModel.name == "lstm"
    assert type(get_model("transformer")) is TransformerModel and TransformerModel.name == "transformer"
    assert LSTMModel.kind == TransformerModel.kind == "classifier"


def test_fit_predict_proba_shape_range_and_classes(fitted, data):
    X, y = data
    np.testing.assert_array_equal(fitted.classes_, [-1, 0, 1])
    P = fitted.predict_proba(X)
    assert P.shape == (len(X), 3) and P.dtype == np.float64
    assert np.all((P >= 0) & (P <= 1))
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-9)
    assert set(np.unique(fitted.predict(X))) <= {-1, 0, 1}
    assert fitted.n_features_in_ == X.shape[1]
    np.testing.assert_array_equal(fitted.feature_names_in_, X.columns)
    assert fitted.n_epochs_ == 2 and len(fitted.loss_curve_) == 2
    assert len(fitted.validation_loss_curve_) == 2


def test_columns_follow_classes_order(model_cls, data):
    """A label that dominates the training set gets the highest mean probability, in its column."""
    X, _ = data
    y = np.full(len(X), 7)
    y[::10], y[5::10] = -3, 0  # 80 % sevens
    m = model_cls(lr=1e-2, epochs=3).fit(X.to_numpy(), y)
    np.testing.assert_array_equal(m.classes_, [-3, 0, 7])
    mean = m.predict_proba(X.to_numpy()).mean(axis=0)
    assert np.argmax(mean) == 2


def test_nan_labels_are_history_not_targets(model_cls, fil_bars):
    bars = fil_bars.iloc[:600]
    X = build_features(bars, groups=["momentum"]).iloc[:, :4]
    y = triple_barrier_labels(bars, max_holding=10)["label"]  # float with NaN at the end
    assert y.isna().any()
    m = model_cls(epochs=1).fit(X, y)
    np.testing.assert_array_equal(m.classes_, [-1.0, 0.0, 1.0])
    assert m.predict_proba(X).shape == (len(X), 3)


def test_deterministic_with_seed(model_cls, data):
    X, y = data
    p1 = model_cls(random_state=3).fit(X, y).predict_proba(X)
    p2 = model_cls(random_state=3).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(p1, p2)
    p3 = model_cls(random_state=4).fit(X, y).predict_proba(X)
    assert not np.array_equal(p1, p3)


def test_fit_restores_torch_global_settings(model_cls, data):
    X, y = data
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    rng_state = torch.get_rng_state()
    model_cls().fit(X, y)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == det
    assert torch.equal(torch.get_rng_state(), rng_state)


def test_save_load_round_trip(fitted, data, tmp_path):
    X, _ = data
    path = fitted.save(tmp_path / "sub" / "model.joblib")
    assert path.exists() and [p.name for p in path.parent.iterdir()] == ["model.joblib"]
    loaded = type(fitted).load(path)
    assert type(loaded) is type(fitted)
    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(loaded.classes_, fitted.classes_)
    other = LSTMModel if type(fitted) is TransformerModel else TransformerModel
    with pytest.raises(TypeError, match=type(fitted).__name__):
        other.load(path)


def test_pickle_round_trip(fitted, data):
    X, _ = data
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict_proba(X), fitted.predict_proba(X))


def test_clone(model_cls, fitted):
    fresh = model_cls(window=5, dropout=0.0)
    c = clone(fresh)
    assert c.get_params() == fresh.get_params() and c is not fresh
    c2 = clone(fitted)
    assert c2.get_params() == fitted.get_params()
    assert not hasattr(c2, "module_")
    with pytest.raises(NotFittedError):
        c2.predict_proba(np.zeros((3, fitted.n_features_in_)))


def test_predictions_are_causal(fitted, data):
    """Perturbing rows > T of the predicted X leaves the predictions of rows <= T bit-identical."""
    X, _ = data
    Xa = X.to_numpy().copy()
    T = 1234
    Xb = Xa.copy()
    rng = np.random.default_rng(5)
    Xb[T + 1:] = Xb[T + 1:] * rng.normal(3, 2, size=Xb[T + 1:].shape)
    Xb[T + 5:T + 40, 0] = np.nan
    Pa, Pb = fitted.predict_proba(Xa), fitted.predict_proba(Xb)
    np.testing.assert_array_equal(Pa[:T + 1], Pb[:T + 1])
    assert not np.allclose(Pa[T + 1:], Pb[T + 1:])


def test_sample_weight_changes_the_fit(model_cls, data):
    X, y = data
    w = np.where(y.to_numpy() == 1, 5.0, 1.0)
    p0 = model_cls().fit(X, y).predict_proba(X)
    p1 = model_cls().fit(X, y, sample_weight=w).predict_proba(X)
    assert p1[:, 2].mean() > p0[:, 2].mean()
    with pytest.raises(ParameterError, match="`sample_weight`"):
        model_cls().fit(X, y, sample_weight=-w)


def test_without_early_stopping(model_cls, data):
    X, y = data
    m = model_cls(early_stopping=False).fit(X, y)
    assert m.validation_loss_curve_ is None and m.best_epoch_ == m.n_epochs_ == 2


def test_predict_checks_features(fitted, data):
    X, _ = data
    with pytest.raises(ParameterError, match="features"):
        fitted.predict_proba(X.to_numpy()[:, :3])
    with pytest.raises(ParameterError, match="columns"):
        fitted.predict_proba(X[X.columns[::-1]])


@pytest.mark.parametrize("param, value", [
    ("window", 0), ("hidden_size", 0), ("num_layers", 0), ("dropout", 1.0), ("dropout", -0.1),
    ("lr", 0.0), ("epochs", 0), ("batch_size", 0), ("weight_decay", -1.0),
    ("validation_fraction", 1.0), ("validation_fraction", 0.0), ("patience", 0),
    ("early_stopping", "yes"), ("random_state", -1), ("device", "nope"), ("window", 2.5),
])
def test_bad_params_raise(model_cls, data, param, value):
    X, y = data
    m = model_cls(**{param: value})  # __init__ stores, fit validates
    with pytest.raises(ParameterError, match=f"`{param}`"):
        m.fit(X.iloc[:200], y.iloc[:200])


def test_transformer_heads_must_divide_width(data):
    X, y = data
    with pytest.raises(ParameterError, match="`n_heads`"):
        TransformerModel(hidden_size=8, n_heads=3).fit(X.iloc[:200], y.iloc[:200])
    with pytest.raises(ParameterError, match="`n_heads`"):
        TransformerModel(hidden_size=8, n_heads=0).fit(X.iloc[:200], y.iloc[:200])


def test_bad_labels(model_cls, data):
    X, y = data
    with pytest.raises(ParameterError, match="`y`"):
        model_cls().fit(X, np.ones(len(X)))
    with pytest.raises(ParameterError, match="`y`"):
        model_cls().fit(X, y.iloc[:-1])


def test_search_space(model_cls):
    optuna = pytest.importorskip("optuna")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        params = model_cls.cls.search_space(study.ask())
        model = model_cls.cls(**params)
        model._check_params()  # every suggestion is valid
        assert set(params) <= set(model.get_params())
