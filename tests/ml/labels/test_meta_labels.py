"""Meta-labels: 1 where the primary model's side paid more than ``min_ret``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.labels import meta_labels, triple_barrier_labels

from ._frames import flat, make_bars

QUIET = (100.0, 100.5, 99.5, 100.0)


def _bars():
    # entry 100; bar 2 touches the long target 101.005 (and the short stop).
    return make_bars(flat(1) + [QUIET, (100.2, 101.2, 100.0, 101.0)] + flat(8, 101.0))


def test_meta_label_is_one_only_where_the_side_paid():
    bars = _bars()
    kw = dict(max_holding=4, vol=[0.005] * len(bars), calendar="24/7")
    for side, expected in [(1, 1.0), (-1, 0.0)]:
        out = meta_labels(bars, pd.Series(float(side), index=bars.index), **kw)
        assert out["label"].iloc[0] == expected
        tb = triple_barrier_labels(bars, side=[side] * len(bars), **kw)
        pd.testing.assert_frame_equal(out.drop(columns="label"), tb.drop(columns="label"))
        assert out.attrs["labels"]["method"] == "meta_labels"


def test_flat_side_gives_nan_and_labels_are_zero_or_one(wdo):
    bars = wdo.iloc[:3000]
    fast = bars["close"].rolling(10).mean()
    slow = bars["close"].rolling(40).mean()
    side = np.sign(fast - slow)  # NaN during the warm-up
    out = meta_labels(bars, side, max_holding=30, vol_span=50)
    assert out["label"][side.isna() | (side == 0)].isna().all()
    assert set(out["label"].dropna().unique()) <= {0.0, 1.0}
    defined = out["label"].notna()
    assert ((out["ret"] > 0)[defined] == (out["label"] == 1)[defined]).all()


def test_min_ret_raises_the_bar_for_a_positive_meta_label():
    rows = flat(1) + [QUIET, QUIET, QUIET, (100.0, 100.5, 99.9, 100.3)] + flat(6, 100.3)
    bars = make_bars(rows)
    kw = dict(max_holding=4, vol=[0.005] * len(bars), calendar="24/7")
    side = [1] * len(bars)
    assert meta_labels(bars, side, **kw)["label"].iloc[0] == 1.0  # vertical, ret log(1.003)
    assert meta_labels(bars, side, min_ret=0.003, **kw)["label"].iloc[0] == 0.0


def test_ambiguous_bar_is_a_stop_for_meta_labels():
    bars = make_bars(flat(1) + [QUIET, (100.0, 101.5, 98.5, 100.7)] + flat(8))
    out = meta_labels(bars, [1] * len(bars), max_holding=4, vol=[0.005] * len(bars),
                      calendar="24/7")
    assert out["label"].iloc[0] == 0.0 and out["barrier"].iloc[0] == "lower"


def test_side_is_required():
    with pytest.raises(TypeError, match="`side` is required"):
        meta_labels(_bars(), None, max_holding=4)
