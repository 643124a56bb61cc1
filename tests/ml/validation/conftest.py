"""Fixtures of the validation tests: real WDO bars and their triple-barrier labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.data import bars_calendar
from ml.labels import triple_barrier_labels


@pytest.fixture(scope="module")
def wdo_labelled(wdo_bars):
    """WDO bars with defined triple-barrier labels (max_holding=30), two causal features, session ids."""
    labels = triple_barrier_labels(wdo_bars, max_holding=30)
    keep = labels["label"].notna().to_numpy()
    bars = wdo_bars[keep]
    labels = labels[keep]
    close = bars["close"]
    X = pd.DataFrame({
        "ret1": np.log(close).diff().fillna(0.0),
        "range": (bars["high"] - bars["low"]) / close,
    }, index=bars.index)
    sessions = bars_calendar(wdo_bars).sessions(wdo_bars.index).session[keep]
    return X, labels["label"].astype(int), labels["t1"], np.asarray(sessions)
