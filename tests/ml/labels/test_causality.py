"""Labels use no row after their own end time ``t1`` and never leave the session.

PITFALLS 2 and 13: perturb or cut every row after T and no label whose ``t1`` lies
before T may change; a planted look-ahead must make the same check fail.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.data import bars_calendar
from ml.labels import fixed_horizon_labels, meta_labels, triple_barrier_labels

PRICES = ["open", "high", "low", "close"]


@pytest.fixture(scope="module")
def bars(wdo):
    return wdo.iloc[:6000]


def _side(bars):
    return np.sign(bars["close"] - bars["close"].rolling(15).mean())


LABELLERS = {
    "fixed": lambda b: fixed_horizon_labels(b, horizon=12, threshold=1e-4),
    "fixed_cross": lambda b: fixed_horizon_labels(b, horizon=30, cross_session=True),
    "triple": lambda b: triple_barrier_labels(b, max_holding=30, vol_span=50),
    "triple_cross": lambda b: triple_barrier_labels(b, max_holding=45, pt=2, sl=1,
                                                    cross_session=True, vol_span=50),
    "triple_side": lambda b: triple_barrier_labels(b, max_holding=20, side=_side(b)),
    "meta": lambda b: meta_labels(b, _side(b), max_holding=20, min_ret=1e-4),
}


def perturb_after(bars, T, seed=0):
    """Scale every bar at position >= T by its own random factor (OHLC order preserved)."""
    out = bars.copy()
    factor = np.exp(np.random.default_rng(seed).normal(0, 0.01, len(bars) - T))
    out.iloc[T:, [out.columns.get_loc(c) for c in PRICES]] *= factor[:, None]
    return out


def assert_causal(labeller, bars, T):
    """Labels with t1 < bars.index[T] are identical after perturbing rows >= T or cutting them."""
    full = labeller(bars)
    before = (full["t1"] < bars.index[T]).to_numpy()  # NaT compares False
    assert before.sum() > 0.5 * T
    moved = labeller(perturb_after(bars, T))
    pd.testing.assert_frame_equal(full[before], moved[before], check_exact=True)
    cut = labeller(bars.iloc[:T])
    pd.testing.assert_frame_equal(full.iloc[:T][before[:T]], cut[before[:T]], check_exact=True)
    defined = cut["label"].notna().to_numpy()  # what the cut data can label, it labels right
    pd.testing.assert_frame_equal(full.iloc[:T][defined], cut[defined], check_exact=True)
    return full, moved


@pytest.mark.parametrize("name", sorted(LABELLERS))
@pytest.mark.parametrize("T", [2345, 4873])  # mid-session, and the first bar of a session
def test_labels_ignore_rows_after_their_end(bars, name, T):
    full, moved = assert_causal(LABELLERS[name], bars, T)
    later = (full["t1"] >= bars.index[T]).to_numpy()
    assert not full[later].equals(moved[later])  # the perturbation does reach later labels


def test_the_check_catches_a_planted_look_ahead(bars):
    def leaky(b):  # exits one bar after the t1 it reports
        out = fixed_horizon_labels(b, horizon=5)
        out["ret"] = np.log(b["close"].shift(-6) / b["open"].shift(-1)).where(out["t1"].notna())
        return out

    with pytest.raises(AssertionError):
        assert_causal(leaky, bars, 2345)


@pytest.mark.parametrize("name", sorted(LABELLERS))
def test_t1_is_after_the_decision_bar_and_inside_the_session(wdo, name):
    out = LABELLERS[name](wdo)
    defined = out["t1"].notna().to_numpy()
    pos = np.arange(len(wdo))[defined]
    end = wdo.index.get_indexer(out["t1"][defined])
    assert (end >= pos + 1).all()
    session = bars_calendar(wdo).sessions(wdo.index).session
    symbol = wdo["symbol"].to_numpy()
    assert (symbol[end] == symbol[pos]).all()  # never across a roll
    if "cross" not in name:
        assert (session[end] == session[pos]).all()
    else:
        assert (session[end] != session[pos]).any()
    assert np.isnan(out["label"].to_numpy()[~defined]).all()
