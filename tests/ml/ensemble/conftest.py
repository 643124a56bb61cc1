"""Shared fixtures of the ensemble tests: real FILUSDT features and labels."""

from __future__ import annotations

import numpy as np
import pytest

from ml.features import build_features
from ml.labels import fixed_horizon_labels
from tests.conftest import quiet

FEATURES = ["ret_1", "ret_5", "ret_15", "ret_30", "mom_z_15", "ema_dist_30", "rsi_14", "vol_cc_15",
            "vol_park_15"]


@pytest.fixture(scope="session")
def fil_frame(fil_bars):
    """First 2,500 FILUSDT bars: causal features and 5-bar fixed-horizon labels, NaN rows dropped."""
    bars = fil_bars.iloc[:2500]
    feats = quiet(build_features, bars, groups=["momentum", "volatility"])[FEATURES]
    labels = fixed_horizon_labels(bars, 5)["label"]
    frame = feats.join(labels).dropna()
    return frame.reset_index(drop=True)


@pytest.fixture(scope="session")
def fil_xy(fil_frame):
    """Binary problem (label 0 rows dropped): X with a leading row-`id` column, y in {-1, +1}."""
    frame = fil_frame[fil_frame["label"] != 0].reset_index(drop=True)
    X = frame[FEATURES].copy()
    X.insert(0, "id", np.arange(len(X), dtype="float64"))
    return X, frame["label"].astype(int).to_numpy()


@pytest.fixture(scope="session")
def fil_xy3(fil_frame):
    """Three classes {-1, 0, +1} (0 = inside the dead zone, rare)."""
    X = fil_frame[FEATURES].copy()
    X.insert(0, "id", np.arange(len(X), dtype="float64"))
    return X, fil_frame["label"].astype(int).to_numpy()
