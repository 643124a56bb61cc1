"""Tests of :mod:`strategies`: probability thresholds, minimum holding, flat
session end, meta-label filter, the numba kernel against its Python twin, and
causality.  Every expected side below is worked out by hand in a comment."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import strategies._base as base_module
from ml.exceptions import ParameterError
from strategies import BaseStrategy, ProbabilityThresholdStrategy, session_facts, threshold_sides_nb
from strategies._signals_py import threshold_sides_py

SP = "America/Sao_Paulo"
NAN = float("nan")


def day_index(n, start="2025-02-03 10:00", freq="1min"):
    return pd.date_range(start, periods=n, freq=freq, tz=SP)


def sides(strategy, p, index=None, **kw):
    index = day_index(len(p)) if index is None else index
    return strategy.sides(p, index, calendar="B3", **kw).tolist()


# --------------------------------------------------------------------------- validation


def _use(strategy):
    idx = pd.date_range("2025-02-03 10:00", periods=3, freq="1min", tz="America/Sao_Paulo")
    return strategy.sides(pd.Series([0.5, 0.7, 0.3], index=idx), idx, calendar="B3")


def test_constructor_only_stores_parameters():
    s = ProbabilityThresholdStrategy(long_threshold=0.3)  # no logic in __init__ (scikit-learn rule)
    assert s.long_threshold == 0.3


@pytest.mark.parametrize("kwargs, message", [
    (dict(long_threshold=0.3),
     "`long_threshold` must be in [0.5, 1], got 0.3; use short_threshold for the short side."),
    (dict(long_threshold=0.49), "`long_threshold` must be in [0.5, 1], got 0.49"),
    (dict(long_threshold=1.2), "`long_threshold` must be in [0.5, 1], got 1.2"),
    (dict(short_threshold=0.6),
     "`short_threshold` must be in [0, 0.5), got 0.6; use long_threshold for the long side."),
    (dict(short_threshold=-0.1), "`short_threshold` must be in [0, 0.5), got -0.1"),
    (dict(min_holding=0), "`min_holding` must be an int >= 1"),
    (dict(flat_bars_before_close=-1), "`flat_bars_before_close` must be an int >= 0 or None, got -1"),
    (dict(meta_threshold=1.5), "`meta_threshold` must be in [0, 1], got 1.5"),
])
def test_bad_parameters_raise_with_house_wording(kwargs, message):
    with pytest.raises(ParameterError) as err:
        _use(ProbabilityThresholdStrategy(**kwargs))
    assert message in str(err.value)


@pytest.mark.parametrize("kwargs", [dict(long_threshold="0.6"), dict(min_holding=2.0),
                                    dict(allow_short=1), dict(long_threshold=True),
                                    dict(flat_bars_before_close=1.5)])
def test_bad_types_raise_type_error(kwargs):
    with pytest.raises(TypeError):
        _use(ProbabilityThresholdStrategy(**kwargs))


def test_set_params_revalidates_on_use():
    s = ProbabilityThresholdStrategy()
    s.set_params(long_threshold=0.2)
    with pytest.raises(ParameterError, match="long_threshold"):
        s.sides([0.6], day_index(1), calendar="B3")
    with pytest.raises(ParameterError, match="Did you mean 'min_holding'"):
        s.set_params(min_holdin=3)


def test_params_round_trip_and_repr():
    s = ProbabilityThresholdStrategy(0.6, 0.4, min_holding=3, flat_bars_before_close=2,
                                     allow_short=False, meta_threshold=0.55)
    params = s.get_params()
    assert params == dict(long_threshold=0.6, short_threshold=0.4, min_holding=3,
                          flat_bars_before_close=2, allow_short=False, meta_threshold=0.55)
    assert ProbabilityThresholdStrategy(**params).get_params() == params
    assert repr(s).startswith("ProbabilityThresholdStrategy(long_threshold=0.6")


def test_probabilities_are_checked():
    s = ProbabilityThresholdStrategy()
    with pytest.raises(ParameterError, match=r"probabilities in \[0, 1\].*1.5 at position 1"):
        sides(s, [0.5, 1.5])
    with pytest.raises(ParameterError, match="2 values for 3 bars"):
        s.sides([0.5, 0.5], day_index(3), calendar="B3")
    with pytest.raises(TypeError, match="DataFrame"):
        s.sides(pd.DataFrame({"p": [0.5]}, index=day_index(1)), day_index(1), calendar="B3")
    with pytest.raises(ParameterError, match="calendar"):
        s.sides([0.5], day_index(1))
    with pytest.raises(ParameterError, match="timezone-aware"):
        s.sides([0.5], pd.date_range("2025-02-03 10:00", periods=1, freq="1min"), calendar="B3")


# --------------------------------------------------------------------------- the rule, by hand


def test_thresholds_are_inclusive():
    # p >= 0.55 long, p <= 0.45 short, flat in between
    assert sides(ProbabilityThresholdStrategy(), [0.6, 0.55, 0.5, 0.45, 0.4]) == [1, 1, 0, -1, -1]


def test_allow_short_false_keeps_flat_below_short_threshold():
    assert sides(ProbabilityThresholdStrategy(allow_short=False), [0.6, 0.4, 0.1]) == [1, 0, 0]


def test_min_holding_delays_voluntary_changes():
    # i0 long (held 1); i1, i2 kept (held 2, 3); i3 may change: short (held 1); i4 p=0.5 -> kept
    s = ProbabilityThresholdStrategy(min_holding=3)
    assert sides(s, [0.9, 0.1, 0.1, 0.1, 0.5]) == [1, 1, 1, -1, -1]
    # after a change the count restarts
    assert sides(s, [0.9, 0.9, 0.9, 0.5, 0.1, 0.5, 0.5, 0.5]) == [1, 1, 1, 0, -1, -1, -1, 0]


def test_nan_probability_never_opens_a_trade():
    s = ProbabilityThresholdStrategy(min_holding=2)
    assert sides(s, [NAN, NAN, NAN]) == [0, 0, 0]
    # long at i1; NaN at i2 held by min_holding (held 2); NaN at i3 -> flat
    assert sides(s, [NAN, 0.9, NAN, NAN, NAN]) == [0, 1, 1, 0, 0]


def test_meta_filter_flattens_where_meta_is_low_or_nan():
    s = ProbabilityThresholdStrategy(meta_threshold=0.5)
    assert sides(s, [0.9] * 5, meta_proba=[0.6, 0.4, NAN, 0.5, 0.7]) == [1, 0, 0, 1, 1]
    # the meta filter also applies to shorts
    assert sides(s, [0.1] * 3, meta_proba=[0.2, 0.8, 0.8]) == [0, -1, -1]


def test_flat_before_session_close_overrides_min_holding():
    # 18:25 .. 18:29 on one B3 session, then 09:00 .. 09:02 the next day
    idx = day_index(5, "2025-02-03 18:25").append(day_index(3, "2025-02-04 09:00"))
    s = ProbabilityThresholdStrategy(min_holding=10)
    # bars left in session: 4, 3, 2, 1, 0 -> flat from the 18:28 decision (<= 1), filled at 18:29's open
    assert sides(s, [0.9] * 8, idx) == [1, 1, 1, 0, 0, 1, 1, 1]
    # no new entry on the last bars either
    assert sides(s, [0.5, 0.5, 0.5, 0.9, 0.9, 0.5, 0.5, 0.5], idx)[:5] == [0, 0, 0, 0, 0]
    s2 = ProbabilityThresholdStrategy(flat_bars_before_close=2)
    assert sides(s2, [0.9] * 8, idx) == [1, 1, 0, 0, 0, 1, 1, 1]
    s0 = ProbabilityThresholdStrategy(flat_bars_before_close=0)  # for fill_on_close engines
    assert sides(s0, [0.9] * 8, idx) == [1, 1, 1, 1, 0, 1, 1, 1]
    snone = ProbabilityThresholdStrategy(flat_bars_before_close=None)
    assert sides(snone, [0.9] * 8, idx) == [1] * 8


def test_session_facts_from_the_calendar():
    idx = day_index(4, "2025-02-03 18:26")
    f = session_facts(idx, calendar="B3")
    assert f.bars_to_close.tolist() == [3.0, 2.0, 1.0, 0.0]
    assert f.session.tolist() == [0, 0, 0, 0]
    # 5-minute bars: the 18:25 bar is the last one
    f5 = session_facts(day_index(3, "2025-02-03 18:15", "5min"), calendar="B3")
    assert f5.bars_to_close.tolist() == [2.0, 1.0, 0.0]
    assert f5.bar_minutes == 5.0
    # a bar after the session end counts as past the close (forced flat)
    late = session_facts(pd.DatetimeIndex(["2025-02-03 18:28", "2025-02-03 18:35"], tz=SP), calendar="B3")
    assert late.bars_to_close[1] < 0
    # 24/7 sessions are UTC days
    utc = session_facts(pd.date_range("2024-02-01 23:58", periods=4, freq="1min", tz="UTC"),
                        calendar="24/7")
    assert utc.bars_to_close.tolist()[:2] == [1.0, 0.0]
    assert utc.session.tolist() == [0, 0, 1, 1]


def test_session_facts_read_the_loader_attrs(wdo_one_contract):
    bars = wdo_one_contract.iloc[:600]
    f = session_facts(bars)
    assert f.calendar == "B3" and f.bar_minutes == 1.0
    last = bars.index[bars.index.strftime("%H:%M") == "18:29"]
    assert (f.bars_to_close[bars.index.get_indexer(last)] == 0).all()


def test_series_inputs_are_aligned_on_the_index():
    idx = day_index(3)
    p = pd.Series([0.1, 0.9, 0.5], index=idx)[::-1]  # reversed order, same labels
    out = ProbabilityThresholdStrategy().sides(p, idx, calendar="B3")
    assert out.tolist() == [-1, 1, 0]
    assert out.index.equals(idx) and out.dtype == np.int8 and out.name == "side"
    with pytest.raises(ParameterError, match="no value for 1 bar"):
        ProbabilityThresholdStrategy().sides(p.iloc[:2], idx, calendar="B3")


class _Model:
    def __init__(self, classes, proba):
        self.classes_ = np.array(classes)
        self._proba = np.asarray(proba)

    def predict_proba(self, X):
        return self._proba[: len(X)]


def test_sides_from_model_uses_the_up_class_column():
    idx = day_index(3)
    X = np.zeros((3, 2))
    m = _Model([0, 1], [[0.1, 0.9], [0.9, 0.1], [0.5, 0.5]])
    s = ProbabilityThresholdStrategy()
    assert s.sides_from_model(m, X, idx, calendar="B3").tolist() == [1, -1, 0]
    m2 = _Model([1, -1], [[0.9, 0.1], [0.1, 0.9], [0.5, 0.5]])  # label 1 in column 0
    assert s.sides_from_model(m2, X, idx, calendar="B3").tolist() == [1, -1, 0]
    meta = _Model([0, 1], [[0.2, 0.8], [0.8, 0.2], [0.2, 0.8]])
    assert s.sides_from_model(m, X, idx, meta_model=meta, calendar="B3").tolist() == [1, 0, 0]


def test_base_strategy_contract():
    with pytest.raises(TypeError):
        BaseStrategy()

    class AlwaysLong(BaseStrategy):
        def __init__(self, size=1):
            self.size = size

        def _sides_array(self, proba, facts, meta_proba):
            return np.where(np.isnan(proba), 0, 1).astype(np.int8)

    out = AlwaysLong().sides([0.1, NAN], day_index(2), calendar="B3")
    assert out.tolist() == [1, 0]
    assert AlwaysLong().get_params() == {"size": 1}


def test_pure_python_switch_gives_the_same_sides(monkeypatch):
    rng = np.random.default_rng(0)
    p = rng.random(200)
    p[rng.random(200) < 0.1] = np.nan
    idx = day_index(200, "2025-02-03 15:30")
    s = ProbabilityThresholdStrategy(0.6, 0.4, min_holding=4)
    a = s.sides(p, idx, calendar="B3")
    monkeypatch.setattr(base_module, "PURE_PYTHON", True)
    b = s.sides(p, idx, calendar="B3")
    assert a.equals(b)


# --------------------------------------------------------------------------- kernel vs twin, causality

_prob = st.one_of(st.just(math.nan), st.floats(0.0, 1.0))


@st.composite
def _kernel_inputs(draw):
    n = draw(st.integers(1, 60))
    p = np.array(draw(st.lists(_prob, min_size=n, max_size=n)), dtype=np.float64)
    btc = np.array(draw(st.lists(st.integers(-3, 8), min_size=n, max_size=n)), dtype=np.float64)
    use_meta = draw(st.booleans())
    meta = (np.array(draw(st.lists(_prob, min_size=n, max_size=n)), dtype=np.float64)
            if use_meta else np.empty(0))
    args = (p, draw(st.floats(0.5, 1.0, exclude_min=True)), draw(st.floats(0.0, 0.5, exclude_max=True)),
            draw(st.integers(1, 6)), btc, float(draw(st.integers(-1, 3))), draw(st.booleans()), meta,
            draw(st.floats(0.0, 1.0)))
    return args


@settings(max_examples=150, deadline=None)
@given(_kernel_inputs())
def test_kernel_equals_twin(args):
    a = threshold_sides_nb(*args)
    b = threshold_sides_py(*args)
    assert a.dtype == np.int8 and b.dtype == np.int8
    np.testing.assert_array_equal(a, b)
    p, meta = args[0], args[7]
    prev = np.concatenate([[0], a[:-1]])
    # NaN never opens a position, and never flips one
    nan = np.isnan(p)
    assert not np.any(nan & (a != 0) & (a != prev))
    if len(meta):
        low = ~(meta >= args[8])
        assert not np.any(low & (a != 0) & (a != prev))
    # forced flat near the close
    assert np.all(a[args[4] <= args[5]] == 0)


@settings(max_examples=80, deadline=None)
@given(_kernel_inputs(), st.integers(0, 59), st.integers(0, 2**32 - 1))
def test_sides_are_causal(args, t, seed):
    """Changing every input after bar t changes no side at bars <= t."""
    p, btc, meta = args[0], args[4], args[7]
    n = len(p)
    t = min(t, n - 1)
    rng = np.random.default_rng(seed)
    p2, btc2 = p.copy(), btc.copy()
    p2[t + 1:] = rng.random(n - t - 1)
    btc2[t + 1:] = rng.integers(-3, 8, n - t - 1)
    meta2 = meta.copy()
    if len(meta2):
        meta2[t + 1:] = rng.random(n - t - 1)
    args2 = (p2,) + args[1:4] + (btc2,) + args[5:7] + (meta2, args[8])
    np.testing.assert_array_equal(threshold_sides_nb(*args)[: t + 1], threshold_sides_nb(*args2)[: t + 1])


def test_doctests():
    import doctest

    import strategies._base
    import strategies._threshold

    for mod in (strategies._base, strategies._threshold):
        assert doctest.testmod(mod).failed == 0
