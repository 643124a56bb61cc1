"""``StreamingFeatures``: every feature, on every bar of the bundled samples, equals ``build_features``.

The reference is the batch builder on the whole history (what a walk-forward trains and
tests on). The stream is warmed up on a history, then fed one bar at a time, then in chunks of
random sizes; the features must be equal bit for bit (the same kernels run, resumed from their
state), NaN where the batch has NaN. The causality property covers the stream too: bars changed
after T change nothing the stream gave up to T.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ml.data import bar_minutes_of, bars_calendar, continuous_contract, load_bars, sample_path
from ml.exceptions import BarDataError
from ml.features import FEATURE_GROUPS, StreamingFeatures, build_features


def _sample(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bars = load_bars(sample_path(name))
        return continuous_contract(bars) if name == "wdo" else bars


def _stream(bars, *, warm, one_by_one, seed=0, groups=None):
    sf = StreamingFeatures(groups, calendar=bars_calendar(bars, None), bar_minutes=bar_minutes_of(bars))
    parts = [sf.update(bars.iloc[:warm])]
    i = warm
    for _ in range(one_by_one):
        parts.append(sf.update(bars.iloc[i:i + 1]))
        i += 1
    rng = np.random.default_rng(seed)
    while i < len(bars):
        m = int(rng.integers(1, 400))
        parts.append(sf.update(bars.iloc[i:i + m]))
        i += m
    assert sf.n_bars == len(bars)
    return pd.concat(parts)


@pytest.mark.parametrize("name, warm", [("wdo", 2500), ("filusdt", 1500)])
def test_every_feature_on_every_bar_equals_the_batch_builder(name, warm):
    bars = _sample(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = build_features(bars)
        streamed = _stream(bars, warm=warm, one_by_one=250)
    assert streamed.index.equals(batch.index)
    assert list(streamed.columns) == list(batch.columns)
    assert len(batch.columns) >= 85
    for col in batch.columns:   # bit for bit, NaN where the batch has NaN
        np.testing.assert_array_equal(streamed[col].to_numpy(), batch[col].to_numpy(), err_msg=col)


def test_a_stream_from_the_first_bar_one_group_at_a_time():
    bars = _sample("filusdt").iloc[:3000]
    for group in FEATURE_GROUPS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            batch = build_features(bars, groups=[group])
            streamed = _stream(bars, warm=1, one_by_one=40, seed=1, groups=[group])
        pd.testing.assert_frame_equal(streamed, batch, check_exact=True, obj=group)


def test_changing_bars_after_t_changes_nothing_the_stream_gave_up_to_t():
    bars = _sample("filusdt").iloc[:4000]
    t = 2500
    changed = bars.copy()
    rng = np.random.default_rng(7)
    for col in ("open", "high", "low", "close"):
        changed.iloc[t + 1:, changed.columns.get_loc(col)] *= 1.0 + rng.normal(0, 0.01, len(bars) - t - 1)
    changed.iloc[t + 1:, changed.columns.get_loc("volume")] *= 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = _stream(bars, warm=2000, one_by_one=100, seed=3)
        b = _stream(changed, warm=2000, one_by_one=100, seed=3)
    pd.testing.assert_frame_equal(a.iloc[:t + 1], b.iloc[:t + 1], check_exact=True)
    assert not np.allclose(a.iloc[t + 2:].to_numpy(), b.iloc[t + 2:].to_numpy(), equal_nan=True)


def test_a_stream_refuses_bars_out_of_order_and_a_column_that_goes_missing():
    bars = _sample("wdo").iloc[:600]
    sf = StreamingFeatures(["momentum", "vwap"], calendar="B3", bar_minutes=1)
    sf.update(bars.iloc[:500])
    with pytest.raises(BarDataError, match="does not follow the last bar streamed"):
        sf.update(bars.iloc[499:501])
    with pytest.raises(BarDataError, match=r"lack \['vwap'\]"):
        sf.update(bars.iloc[500:501].drop(columns=["vwap"]))
    row = sf.update(bars.iloc[500:501])
    assert len(row) == 1 and row.index[0] == bars.index[500]
