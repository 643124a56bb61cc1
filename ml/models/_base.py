"""What every model adapter must implement.

An adapter is a scikit-learn estimator (``__init__`` only stores its
arguments; ``fit`` validates, learns attributes ending in ``_`` and returns
``self``; ``random_state`` everywhere; :func:`sklearn.base.clone` works) plus:

- ``save(path)`` / ``load(path)``: a round trip that gives identical
  predictions; writes are atomic (temporary file, then rename);
- ``search_space(trial)``: the Optuna search space of its hyper-parameters,
  declared next to the model (used by :mod:`ml.tuning`);
- a class attribute ``name`` (its registry name) and ``kind``
  (``"classifier"``, ``"volatility"`` or ``"regime"``).

Classifiers follow :class:`BaseClassifierAdapter`: ``fit(X, y,
sample_weight=None)``, ``predict_proba(X)`` of shape ``(n_samples,
n_classes)`` with columns in ``classes_`` order, ``predict(X)``.  They accept
NaN in ``X`` (warm-up rows of rolling features): models that cannot handle NaN
impute inside their own pipeline with statistics of the training rows only.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import ClassVar

import joblib
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

__all__ = ["BaseAdapter", "BaseClassifierAdapter", "atomic_dump"]


def atomic_dump(obj, path) -> Path:
    """``joblib.dump`` to a temporary file in the target folder, then rename it
    over ``path``: a crash never leaves a half-written model."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        joblib.dump(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


class BaseAdapter(BaseEstimator):
    """Common base: registry name, kind, save/load and the search space."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""

    def save(self, path) -> Path:
        """Write the fitted adapter to ``path`` (atomic)."""
        return atomic_dump(self, path)

    @classmethod
    def load(cls, path):
        """Read an adapter written by :meth:`save`; checks its class."""
        obj = joblib.load(path)
        if not isinstance(obj, cls):
            raise TypeError(f"{str(path)!r} holds a {type(obj).__name__}, not a {cls.__name__}.")
        return obj

    @classmethod
    def search_space(cls, trial) -> dict:
        """Hyper-parameters suggested by an Optuna ``trial``; default: none."""
        return {}


class BaseClassifierAdapter(ClassifierMixin, BaseAdapter):
    """Base of classifier adapters; subclasses implement ``fit`` and ``predict_proba``."""

    kind: ClassVar[str] = "classifier"

    def predict(self, X):
        """Most probable class per row."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
