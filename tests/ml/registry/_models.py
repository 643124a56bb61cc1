"""Small importable models for the registry tests (loaded back by class path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ml.models._base import BaseClassifierAdapter


class TinyAdapter(BaseClassifierAdapter):
    """Predicts the training class frequencies; saved by the adapter's own ``save``."""

    name = "tiny"

    def __init__(self, alpha=1.0, random_state=None):
        self.alpha = alpha
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None):
        y = np.asarray(y)
        self.classes_, counts = np.unique(y, return_counts=True)
        self.prior_ = (counts + self.alpha) / (counts.sum() + self.alpha * len(counts))
        return self

    def predict_proba(self, X):
        return np.tile(self.prior_, (len(X), 1))


class CrashingAdapter(TinyAdapter):
    """``save`` writes half a file, then fails (a crash mid-save)."""

    name = "crashing"

    def save(self, path):
        Path(path).write_bytes(b"half a model")
        (Path(path).parent / "extra.bin").write_bytes(b"more")
        raise OSError("disk full (simulated)")
