"""LSTM and Transformer classifiers over causal windows of feature rows (PyTorch).

Both adapters share one pipeline (:class:`_SequenceClassifier`):

1. NaN / inf in ``X`` are imputed with the training medians, then ``X`` is
   standardised with the training mean and std (learned attributes
   ``median_``, ``mean_``, ``scale_``; training rows only);
2. :func:`ml.models._sequences.make_windows` turns row ``t`` into the window of
   rows ``t - window + 1 .. t`` of the ``X`` given (edge padding at the start);
3. a network maps each window to class logits; training minimises the
   (sample-weighted) cross-entropy with AdamW, early stopping on a
   chronological validation tail (the last ``validation_fraction`` of the
   training rows) and restores the best epoch's weights.

Prediction for row ``t`` uses rows ``<= t`` of the ``X`` passed to
``predict_proba`` only.  ``save``/``load`` store the weights as numpy arrays
with the parameters and scaler (no pickled torch objects), and pickling the
adapter (joblib workers, ``copy.deepcopy``) goes through the same state.

torch is an optional dependency: ``pip install '.[deep]'``.
"""

from __future__ import annotations

import contextlib
import functools
import numbers
from pathlib import Path

import joblib
import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

try:
    import torch
    from torch import nn
    from torch.nn import functional as F
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("the deep models (lstm, transformer) need PyTorch; "
                      "install it with: pip install '.[deep]'", name="torch") from exc

from ml._checks import check_bool, check_int, check_real
from ml.exceptions import ParameterError
from ml.models._base import BaseClassifierAdapter, atomic_dump
from ml.models._sequences import make_windows
from ml.models._sklearn import check_not_continuous

__all__ = ["LSTMModel", "TransformerModel"]

#: Format tag of the files written by ``save``.
_FORMAT = "ml.models._deep/1"
#: Rows per forward pass at prediction time (fixed, so a row's output never
#: depends on how many rows are predicted with it).
_PREDICT_CHUNK = 4096
#: Learned attributes (besides ``module_``) that ``save`` stores.
_FITTED_ATTRS = ("classes_", "n_features_in_", "feature_names_in_", "median_", "mean_", "scale_",
                 "n_epochs_", "best_epoch_", "loss_curve_", "validation_loss_curve_",
                 "best_validation_loss_")


# --------------------------------------------------------------------------- networks
class _LSTMNet(nn.Module):
    """LSTM over the window; logits from the last time step."""

    def __init__(self, n_features, n_classes, hidden_size, num_layers, dropout):
        super().__init__()
        self.lstm = nn.LSTM(n_features, hidden_size, num_layers=num_layers, batch_first=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, n_classes)

    def forward(self, x):  # x: (batch, window, n_features)
        out, _ = self.lstm(x)
        return self.head(self.dropout(out[:, -1]))


class _TransformerNet(nn.Module):
    """Causal Transformer encoder over the window; logits from the last position."""

    def __init__(self, n_features, n_classes, window, d_model, n_heads, num_layers, dropout):
        super().__init__()
        self.proj = nn.Linear(n_features, d_model)
        self.pos = nn.Parameter(torch.zeros(1, window, d_model))  # learned positional encoding
        nn.init.normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward=2 * d_model,
                                           dropout=dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_classes)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(window),
                             persistent=False)

    def forward(self, x):
        h = self.proj(x) + self.pos
        h = self.encoder(h, mask=self.mask, is_causal=True)
        return self.head(self.norm(h[:, -1]))


# --------------------------------------------------------------------------- helpers
# The deep adapters raise ParameterError for every bad argument, wrong types included.
_int = functools.partial(check_int, type_error=ParameterError)
_real = functools.partial(check_real, type_error=ParameterError)


def _seed_of(random_state) -> int:
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ParameterError(f"`random_state` must be None, an int >= 0 or a "
                                 f"numpy RandomState, got {random_state!r}.")
        return int(random_state)
    try:
        return int(check_random_state(random_state).randint(0, 2**31 - 1))
    except ValueError as exc:
        raise ParameterError(f"`random_state` must be None, an int >= 0 or a numpy RandomState, "
                             f"got {random_state!r}.") from exc


@contextlib.contextmanager
def _torch_session(seed=None):
    """One CPU thread and deterministic algorithms; with ``seed``, a forked,
    seeded global RNG.  Every global torch setting is restored on exit."""
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    det_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    rng = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
    try:
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True, warn_only=True)
        with rng:
            if seed is not None:
                torch.manual_seed(seed)
            yield
    finally:
        torch.use_deterministic_algorithms(det, warn_only=det_warn)
        torch.set_num_threads(threads)


# --------------------------------------------------------------------------- base
class _SequenceClassifier(BaseClassifierAdapter):
    """Shared pipeline of the sequence classifiers; subclasses build the network.

    Subclasses define ``__init__`` (storing their parameters), ``name``,
    ``_build_module(n_features, n_classes)`` and ``_check_arch_params()``.
    """

    # ------------------------------------------------------------ validation
    def _check_params(self) -> dict:
        p = {
            "window": _int("window", self.window, 1),
            "hidden_size": _int("hidden_size", self.hidden_size, 1),
            "num_layers": _int("num_layers", self.num_layers, 1),
            "dropout": _real("dropout", self.dropout, lo=0.0, hi=1.0, hi_open=True),
            "lr": _real("lr", self.lr, lo=0.0, lo_open=True),
            "epochs": _int("epochs", self.epochs, 1),
            "batch_size": _int("batch_size", self.batch_size, 1),
            "weight_decay": _real("weight_decay", self.weight_decay, lo=0.0),
            "validation_fraction": _real("validation_fraction", self.validation_fraction,
                                         lo=0.0, hi=1.0, lo_open=True, hi_open=True),
            "patience": _int("patience", self.patience, 1),
            "seed": _seed_of(self.random_state),
        }
        check_bool("early_stopping", self.early_stopping, type_error=ParameterError)
        p["device"] = self._device()
        p.update(self._check_arch_params())
        return p

    def _check_arch_params(self) -> dict:
        return {}

    def _device(self):
        try:
            device = torch.device(self.device)
        except (RuntimeError, TypeError) as exc:
            raise ParameterError(f"`device` must be a torch device such as 'cpu' or 'cuda', "
                                 f"got {self.device!r}.") from exc
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ParameterError(f"`device` is {self.device!r} but CUDA is not available here; "
                                 "use device='cpu'.")
        return device

    def _check_X(self, X, *, reset):
        names = None
        if hasattr(X, "columns"):
            cols = list(X.columns)
            if all(isinstance(c, str) for c in cols):
                names = np.asarray(cols, dtype=object)
        try:
            arr = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"`X` must be numeric, got {type(X).__name__} that cannot be "
                            f"converted to float ({exc}).") from exc
        if arr.ndim != 2:
            raise ParameterError(f"`X` must be 2-D of shape (n_samples, n_features), got shape {arr.shape}.")
        if reset:
            if arr.shape[0] == 0 or arr.shape[1] == 0:
                raise ParameterError(f"`X` must have at least one row and one column, got shape {arr.shape}.")
            self.n_features_in_ = arr.shape[1]
            if names is not None:
                self.feature_names_in_ = names
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        else:
            if arr.shape[1] != self.n_features_in_:
                raise ParameterError(f"`X` has {arr.shape[1]} features but {type(self).__name__} was "
                                     f"fitted with {self.n_features_in_}.")
            fitted = getattr(self, "feature_names_in_", None)
            if fitted is not None and names is not None and list(names) != list(fitted):
                diff = [c for c in names if c not in set(fitted)][:5]
                raise ParameterError(f"`X` columns differ from those seen in fit "
                                     f"(unexpected or reordered, e.g. {diff or list(names[:5])}); "
                                     "pass the same columns in the same order.")
        return arr

    # ------------------------------------------------------------ preprocessing
    def _transform(self, arr):
        arr = np.where(np.isfinite(arr), arr, self.median_)
        return ((arr - self.mean_) / self.scale_).astype(np.float32)

    # ------------------------------------------------------------ fit
    def fit(self, X, y, sample_weight=None):
        """Train the network on causal windows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows in time order; NaN/inf are imputed with training medians.
        y : array-like of shape (n_samples,)
            Class labels (any sortable values, e.g. -1/0/1).  NaN labels are
            allowed in a float ``y``: such rows still serve as window history
            but are left out of the loss (e.g. the last bars of
            triple-barrier labels).
        sample_weight : array-like of shape (n_samples,), optional
            Per-row loss weights (>= 0), rescaled to mean 1 over labelled rows.

        Returns
        -------
        self
        """
        p = self._check_params()
        arr = self._check_X(X, reset=True)
        n = arr.shape[0]
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != n:
            raise ParameterError(f"`y` must be 1-D with {n} labels (one per row of `X`), got shape {y.shape}.")
        labelled = ~np.isnan(y) if y.dtype.kind == "f" else np.ones(n, dtype=bool)
        if not labelled.any():
            raise ParameterError("`y` has no labels (all NaN).")
        check_not_continuous(y[labelled])
        self.classes_ = np.unique(y[labelled])
        if self.classes_.size < 2:
            raise ParameterError(f"`y` must hold at least 2 classes, got {self.classes_.tolist()}.")
        target = np.zeros(n, dtype=np.int64)
        target[labelled] = np.searchsorted(self.classes_, y[labelled])

        if sample_weight is None:
            w = np.ones(n)
        else:
            w = np.asarray(sample_weight, dtype=np.float64)
            if w.shape != (n,):
                raise ParameterError(f"`sample_weight` must have shape ({n},), got {w.shape}.")
            if not np.all(np.isfinite(w)) or (w < 0).any():
                raise ParameterError("`sample_weight` must be finite and >= 0.")
        w = np.where(labelled, w, 0.0)
        if w.sum() <= 0:
            raise ParameterError("`sample_weight` is 0 on every labelled row.")
        w = w / w[labelled].mean()

        # Chronological validation tail.
        if self.early_stopping:
            n_val = int(round(p["validation_fraction"] * n))
            if n_val < 1 or n - n_val < 1 or w[:n - n_val].sum() <= 0 or w[n - n_val:].sum() <= 0:
                raise ParameterError(
                    f"`validation_fraction`={p['validation_fraction']} leaves no labelled rows for "
                    f"training or validation out of {n}; use more rows, another fraction or "
                    "early_stopping=False.")
        else:
            n_val = 0
        n_train = n - n_val

        # Imputation and scaling statistics from the training rows only.
        train = arr[:n_train]
        finite = np.isfinite(train)
        with np.errstate(all="ignore"):
            med = np.nanmedian(np.where(finite, train, np.nan), axis=0) if not finite.all() \
                else np.median(train, axis=0)
        self.median_ = np.where(np.isfinite(med), med, 0.0)
        filled = np.where(finite, train, self.median_)
        self.mean_ = filled.mean(axis=0)
        std = filled.std(axis=0)
        self.scale_ = np.where(std > 1e-12, std, 1.0)

        windows = make_windows(self._transform(arr), p["window"])
        with _torch_session(p["seed"]):
            self._train(windows, target, w.astype(np.float32), n_train, p)
        return self

    def _train(self, windows, target, w, n_train, p):
        device = p["device"]
        module = self._build_module(self.n_features_in_, len(self.classes_)).to(device)
        opt = torch.optim.AdamW(module.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
        rows = np.flatnonzero(w[:n_train] > 0)
        val_rows = np.arange(n_train, len(target))
        val_rows = val_rows[w[val_rows] > 0]
        gen = torch.Generator().manual_seed(p["seed"])
        target_t = torch.from_numpy(target)
        w_t = torch.from_numpy(w)

        def batch(idx):
            xb = torch.from_numpy(np.ascontiguousarray(windows[idx])).to(device)
            return xb, target_t[idx].to(device), w_t[idx].to(device)

        best, best_loss, best_epoch, bad = None, np.inf, 0, 0
        losses, val_losses = [], []
        for epoch in range(1, p["epochs"] + 1):
            module.train()
            order = rows[torch.randperm(len(rows), generator=gen).numpy()]
            total, count = 0.0, 0
            for start in range(0, len(order), p["batch_size"]):
                xb, yb, wb = batch(order[start:start + p["batch_size"]])
                loss = (F.cross_entropy(module(xb), yb, reduction="none") * wb).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(yb)
                count += len(yb)
            epoch_loss = total / count
            if not np.isfinite(epoch_loss):
                raise ParameterError(f"training diverged (loss {epoch_loss} at epoch {epoch}); "
                                     f"lower `lr` (got {p['lr']}).")
            losses.append(epoch_loss)
            if len(val_rows):
                module.eval()
                num = 0.0
                with torch.no_grad():
                    for start in range(0, len(val_rows), _PREDICT_CHUNK):
                        xb, yb, wb = batch(val_rows[start:start + _PREDICT_CHUNK])
                        num += float((F.cross_entropy(module(xb), yb, reduction="none") * wb).sum())
                val_loss = num / float(w[val_rows].sum())
                val_losses.append(val_loss)
                if val_loss < best_loss:
                    best_loss, best_epoch, bad = val_loss, epoch, 0
                    best = {k: v.detach().clone() for k, v in module.state_dict().items()}
                else:
                    bad += 1
                    if bad >= p["patience"]:
                        break
        if best is not None:
            module.load_state_dict(best)
        else:
            best_epoch = len(losses)
        module.eval()
        self.module_ = module
        self.n_epochs_ = len(losses)
        self.best_epoch_ = best_epoch
        self.loss_curve_ = losses
        self.validation_loss_curve_ = val_losses if len(val_rows) else None
        self.best_validation_loss_ = float(best_loss) if len(val_rows) else None

    # ------------------------------------------------------------ predict
    def predict_proba(self, X):
        """Class probabilities per row, columns in ``classes_`` order.

        Row ``t`` is predicted from the window of rows ``t - window + 1 .. t``
        of the ``X`` given (edge-padded at its start): rows after ``t`` are
        never used.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Softmax probabilities (float64, rows sum to 1).
        """
        check_is_fitted(self, "module_")
        arr = self._check_X(X, reset=False)
        n = arr.shape[0]
        out = np.empty((n, len(self.classes_)), dtype=np.float64)
        if n == 0:
            return out
        windows = make_windows(self._transform(arr), self.window)
        device = next(self.module_.parameters()).device
        self.module_.eval()
        with _torch_session(), torch.no_grad():
            for start in range(0, n, _PREDICT_CHUNK):
                xb = torch.from_numpy(np.ascontiguousarray(windows[start:start + _PREDICT_CHUNK]))
                logits = self.module_(xb.to(device)).double()
                out[start:start + len(xb)] = torch.softmax(logits, dim=1).cpu().numpy()
        return out

    # ------------------------------------------------------------ persistence
    def _export(self) -> dict:
        check_is_fitted(self, "module_")
        fitted = {k: getattr(self, k) for k in _FITTED_ATTRS if hasattr(self, k)}
        return {
            "format": _FORMAT,
            "class": type(self).__name__,
            "params": self.get_params(deep=False),
            "fitted": fitted,
            "state_dict": {k: v.detach().cpu().numpy().copy()
                           for k, v in self.module_.state_dict().items()},
            "torch_version": torch.__version__,
        }

    def _import(self, fitted, state_dict):
        for k, v in fitted.items():
            setattr(self, k, v)
        module = self._build_module(self.n_features_in_, len(self.classes_))
        module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state_dict.items()})
        module.eval()
        try:
            module = module.to(self._device())
        except ParameterError:  # saved on a GPU, loaded where there is none
            pass
        self.module_ = module

    def save(self, path) -> Path:
        """Write the fitted model to ``path`` atomically.

        The file (joblib) holds a plain dict: format tag, class name,
        parameters, scaler and other learned attributes, and the network's
        ``state_dict`` as numpy arrays; no torch object is pickled.
        """
        return atomic_dump(self._export(), path)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save` and rebuild its network."""
        payload = joblib.load(path)
        if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
            raise TypeError(f"{str(path)!r} is not a deep model file written by {cls.__name__}.save.")
        if payload["class"] != cls.__name__:
            raise TypeError(f"{str(path)!r} holds a {payload['class']}, not a {cls.__name__}.")
        obj = cls(**payload["params"])
        obj._import(payload["fitted"], payload["state_dict"])
        return obj

    def __getstate__(self):
        state = dict(super().__getstate__())
        module = state.pop("module_", None)
        if module is not None:
            state["_module_state"] = {k: v.detach().cpu().numpy().copy()
                                      for k, v in module.state_dict().items()}
        return state

    def __setstate__(self, state):
        state = dict(state)
        module_state = state.pop("_module_state", None)
        super().__setstate__(state)
        if module_state is not None:
            self._import({}, module_state)


# --------------------------------------------------------------------------- adapters
class LSTMModel(_SequenceClassifier):
    """LSTM classifier over causal windows of feature rows.

    Parameters
    ----------
    window : int, default 32
        Rows per input window (row ``t`` sees rows ``t - window + 1 .. t``).
    hidden_size : int, default 32
        LSTM hidden units.
    num_layers : int, default 1
        Stacked LSTM layers.
    dropout : float, default 0.1
        Dropout in [0, 1) between layers and before the output layer.
    lr : float, default 1e-3
        AdamW learning rate.
    epochs : int, default 10
        Maximum training epochs.
    batch_size : int, default 256
    weight_decay : float, default 0.0
        AdamW decoupled weight decay.
    early_stopping : bool, default True
        Hold out the last ``validation_fraction`` of the training rows
        (chronologically) and keep the epoch with the lowest validation loss;
        stop after ``patience`` epochs without improvement.
    validation_fraction : float, default 0.1
    patience : int, default 3
    random_state : int, RandomState or None, default 0
        Seeds weight initialisation, dropout and shuffling.
    device : str, default "cpu"
        Torch device ("cpu", "cuda", "cuda:1", ...).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` was a DataFrame with string column names.
    median_, mean_, scale_ : ndarray of shape (n_features,)
        Training-row imputation medians, means and stds.
    module_ : torch.nn.Module
    n_epochs_, best_epoch_ : int
    loss_curve_ : list of float
        Mean weighted training loss per epoch.
    validation_loss_curve_ : list of float or None
    best_validation_loss_ : float or None

    Notes
    -----
    ``fit`` seeds torch (in a forked RNG, so the caller's global RNG is left
    alone), runs with one CPU thread and deterministic algorithms, and
    restores those settings on exit: two fits with the same ``random_state``
    on CPU give bit-identical probabilities.  ``predict_proba`` also runs
    single-threaded in fixed chunks so a row's output does not depend on the
    other rows predicted with it.

    With purged CV, ``fit(X[train])`` on non-contiguous train indices builds
    the first ``window - 1`` windows after a gap across the gap (past rows
    only, but not adjacent ones).

    References
    ----------
    Hochreiter, S., Schmidhuber, J. (1997). Long short-term memory.
    *Neural Computation* 9(8).
    """

    name = "lstm"

    def __init__(self, window=32, hidden_size=32, num_layers=1, dropout=0.1, lr=1e-3,
                 epochs=10, batch_size=256, weight_decay=0.0, early_stopping=True,
                 validation_fraction=0.1, patience=3, random_state=0, device="cpu"):
        self.window = window
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.device = device

    def _build_module(self, n_features, n_classes):
        return _LSTMNet(n_features, n_classes, int(self.hidden_size), int(self.num_layers),
                        float(self.dropout))

    @classmethod
    def search_space(cls, trial) -> dict:
        """Optuna search space of the LSTM hyper-parameters."""
        return {
            "window": trial.suggest_categorical("window", [16, 32, 64]),
            "hidden_size": trial.suggest_categorical("hidden_size", [16, 32, 64, 128]),
            "num_layers": trial.suggest_int("num_layers", 1, 2),
            "dropout": trial.suggest_float("dropout", 0.0, 0.4),
            "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [128, 256, 512]),
            "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
        }


class TransformerModel(_SequenceClassifier):
    """Causal Transformer-encoder classifier over windows of feature rows.

    Rows are projected to ``hidden_size`` (= d_model), a learned positional
    encoding is added, a pre-norm encoder with a causal attention mask runs
    over the window, and the last position (row ``t``) gives the logits.

    Parameters
    ----------
    window : int, default 32
    hidden_size : int, default 32
        Model width d_model; must be a multiple of ``n_heads``.
    num_layers : int, default 1
        Encoder layers.
    n_heads : int, default 4
        Attention heads.
    dropout : float, default 0.1
    lr, epochs, batch_size, weight_decay, early_stopping, validation_fraction, \
patience, random_state, device
        As in :class:`LSTMModel`.

    Attributes
    ----------
    As in :class:`LSTMModel`.

    Notes
    -----
    Reproducibility and causality as in :class:`LSTMModel`.

    References
    ----------
    Vaswani, A. et al. (2017). Attention is all you need. *NeurIPS*.
    """

    name = "transformer"

    def __init__(self, window=32, hidden_size=32, num_layers=1, n_heads=4, dropout=0.1, lr=1e-3,
                 epochs=10, batch_size=256, weight_decay=0.0, early_stopping=True,
                 validation_fraction=0.1, patience=3, random_state=0, device="cpu"):
        self.window = window
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.n_heads = n_heads
        self.dropout = dropout
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.device = device

    def _check_arch_params(self) -> dict:
        n_heads = _int("n_heads", self.n_heads, 1)
        if self.hidden_size % n_heads:
            raise ParameterError(f"`hidden_size` (d_model) must be a multiple of `n_heads`, got "
                                 f"hidden_size={self.hidden_size}, n_heads={n_heads}.")
        return {"n_heads": n_heads}

    def _build_module(self, n_features, n_classes):
        return _TransformerNet(n_features, n_classes, int(self.window), int(self.hidden_size),
                               int(self.n_heads), int(self.num_layers), float(self.dropout))

    @classmethod
    def search_space(cls, trial) -> dict:
        """Optuna search space of the Transformer hyper-parameters."""
        return {
            "window": trial.suggest_categorical("window", [16, 32, 64]),
            "hidden_size": trial.suggest_categorical("hidden_size", [16, 32, 64]),
            "num_layers": trial.suggest_int("num_layers", 1, 3),
            "n_heads": trial.suggest_categorical("n_heads", [2, 4]),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3),
            "lr": trial.suggest_float("lr", 1e-4, 3e-3, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [128, 256, 512]),
            "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
        }
