"""Every numba kernel of risk against its plain-Python twin on random inputs
(NaN, zero and negative values included), and the kernels callable from njit code."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from risk import _limits_nb, _py, _sizing_nb, _stops_nb

SETTINGS = settings(max_examples=50, deadline=None)

_any = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.sampled_from([0.0, -0.0, math.nan, math.inf, 1.0, 0.5, 5.0]),
)
_pos = st.one_of(st.floats(min_value=1e-4, max_value=1e5), st.sampled_from([math.nan, 0.0, 1.0]))
_frac = st.one_of(st.floats(min_value=0.0, max_value=1.0), st.just(math.nan))
_lot = st.sampled_from([1.0, 5.0, 0.001, 0.01, 0.5])
_side = st.sampled_from([1, -1])
_price = st.floats(min_value=1.0, max_value=1e4)
_cap = st.sampled_from([math.inf, math.nan, 3.0, 100.0, 2.5])


def _same(a, b):
    if isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
        return
    if isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), (a, b)
    else:
        assert a == b, (a, b)
        assert bool(a) == bool(b)


@SETTINGS
@given(_any, _lot, st.booleans())
def test_round_quantity(q, lot, frac):
    _same(_sizing_nb.round_quantity_nb(q, lot, frac), _py.round_quantity_py(q, lot, frac))


@SETTINGS
@given(_any, st.sampled_from([0.5, 5.0, 1e-8, 0.01, 0.0]), st.sampled_from([-1, 0, 1]))
def test_round_to_tick(price, tick, direction):
    _same(_sizing_nb.round_to_tick_nb(price, tick, direction), _py.round_to_tick_py(price, tick, direction))


@SETTINGS
@given(_any, _lot, st.sampled_from([0.0, 1.0, 0.001]), _cap, st.booleans())
def test_finalize_and_fixed_contracts(raw, lot, mn, cap, frac):
    _same(_sizing_nb.finalize_quantity_nb(raw, lot, mn, cap, frac), _py.finalize_quantity_py(raw, lot, mn, cap, frac))
    _same(_sizing_nb.fixed_contracts_nb(raw, lot, mn, cap, frac), _py.fixed_contracts_py(raw, lot, mn, cap, frac))


@SETTINGS
@given(_pos, _frac, _pos, _pos, st.one_of(_pos, st.just(math.nan), st.just(-1.0)), _lot, _cap, st.booleans())
def test_fixed_fraction(equity, fraction, price, mult, stop, lot, cap, frac):
    args = (equity, fraction, price, mult, stop, lot, 1.0 if not frac else lot, cap, frac)
    _same(_sizing_nb.fixed_fraction_nb(*args), _py.fixed_fraction_py(*args))


@SETTINGS
@given(_pos, _frac, st.one_of(_pos, st.just(-0.01)), _pos, _pos, _lot, _cap, st.booleans())
def test_volatility_target(equity, target, sigma, price, mult, lot, cap, frac):
    args = (equity, target, sigma, price, mult, lot, 1.0, cap, frac)
    _same(_sizing_nb.volatility_target_nb(*args), _py.volatility_target_py(*args))


@SETTINGS
@given(st.lists(st.tuples(_pos, _pos, _pos), min_size=1, max_size=20), _frac, _pos)
def test_volatility_target_array(rows, target, mult):
    eq, sigma, price = (np.array(c, dtype=np.float64) for c in zip(*rows))
    a = _sizing_nb.volatility_target_array_nb(eq, target, sigma, price, mult, 1.0, 1.0, math.inf, False)
    b = _py.volatility_target_array_py(eq, target, sigma, price, mult, 1.0, 1.0, math.inf, False)
    np.testing.assert_array_equal(a, b)


@SETTINGS
@given(st.one_of(st.floats(0.0, 1.0), st.just(math.nan)), _any, st.floats(0.01, 1.0), st.floats(0.01, 1.0),
       _pos, _price, st.one_of(_pos, st.just(math.nan)))
def test_kelly(p, b, fraction, cap, equity, price, stop):
    _same(_sizing_nb.kelly_fraction_nb(p, b, fraction, cap), _py.kelly_fraction_py(p, b, fraction, cap))
    args = (equity, p, b, price, 10.0, stop, fraction, cap, 1.0, 1.0, math.inf, False)
    _same(_sizing_nb.kelly_size_nb(*args), _py.kelly_size_py(*args))


@SETTINGS
@given(_price, _side, _any, _any, _any)
def test_levels(entry, side, vol, sl, tp):
    _same(_stops_nb.atr_stop_levels_nb(entry, side, vol, sl, tp), _py.atr_stop_levels_py(entry, side, vol, sl, tp))
    v = min(abs(vol), 1.0) if math.isfinite(vol) else vol
    _same(_stops_nb.vol_stop_levels_nb(entry, side, v, sl, tp), _py.vol_stop_levels_py(entry, side, v, sl, tp))


@SETTINGS
@given(_side, st.one_of(_price, st.just(math.nan)), _price, _price, _any)
def test_trailing(side, current, a, b, trail):
    h, l = max(a, b), min(a, b)
    _same(_stops_nb.trailing_stop_update_nb(side, current, h, l, trail),
          _py.trailing_stop_update_py(side, current, h, l, trail))


@SETTINGS
@given(st.sampled_from([1, -1, 0]), _price, _price, _price, _price,
       st.one_of(_price, st.just(math.nan)), st.one_of(_price, st.just(math.nan)))
def test_check_exit(side, a, b, c, d, stop, take):
    low, high = min(a, b, c, d), max(a, b, c, d)
    open_ = b  # inside the range
    _same(_stops_nb.check_exit_nb(side, open_, high, low, stop, take),
          _py.check_exit_py(side, open_, high, low, stop, take))
    # an inconsistent bar (open outside its range) too: the clip must agree
    _same(_stops_nb.check_exit_nb(side, high + 1.0, high, low, stop, take),
          _py.check_exit_py(side, high + 1.0, high, low, stop, take))


@SETTINGS
@given(st.integers(-5, 500), st.integers(-5, 500))
def test_time_stop(held, max_bars):
    _same(_stops_nb.time_stop_nb(held, max_bars), _py.time_stop_py(held, max_bars))


_event = st.tuples(
    st.sampled_from(["reset", "hit", "open", "fill"]),
    st.integers(0, 3),                                   # session
    st.floats(90_000.0, 110_000.0),                      # equity
    st.sampled_from([-3.0, -1.0, 0.0, 1.0, 2.0, 4.0]),   # position
    st.sampled_from([-4.0, -1.0, 0.0, 1.0, 3.0]),        # order / position after
)


@settings(max_examples=50, deadline=None)
@given(st.lists(_event, min_size=1, max_size=40),
       st.sampled_from([0.0, 500.0, 2000.0]), st.sampled_from([0.0, 0.01, 0.02]),
       st.sampled_from([0, 1, 3]), st.sampled_from([math.inf, math.nan, 2.0, 3.0]))
def test_limits_state_machine(events, max_loss, max_frac, max_trades, max_pos):
    s_nb, s_py = _limits_nb.new_limits_state_nb(), _py.new_limits_state_py()
    np.testing.assert_array_equal(s_nb, s_py)
    for kind, session, equity, pos, qty in events:
        session = float(session)
        if kind == "reset":
            _limits_nb.new_session_reset_nb(s_nb, session, equity)
            _py.new_session_reset_py(s_py, session, equity)
        elif kind == "hit":
            _same(_limits_nb.loss_limit_hit_nb(s_nb, session, equity, max_loss, max_frac),
                  _py.loss_limit_hit_py(s_py, session, equity, max_loss, max_frac))
        elif kind == "open":
            _same(_limits_nb.can_open_nb(s_nb, session, equity, pos, qty, max_loss, max_frac, max_trades, max_pos),
                  _py.can_open_py(s_py, session, equity, pos, qty, max_loss, max_frac, max_trades, max_pos))
        else:
            _same(_limits_nb.after_fill_update_nb(s_nb, session, equity, pos, qty),
                  _py.after_fill_update_py(s_py, session, equity, pos, qty))
        np.testing.assert_array_equal(s_nb, s_py)


@njit(cache=True)
def _one_trade_nb(open_, high, low, atr, equity):
    """What the sweep kernel will do: size, set levels, check exits, all in compiled code."""
    i = 0  # signal bar
    entry = open_[i + 1]
    stop, take = _stops_nb.atr_stop_levels_nb(entry, 1, atr, 1.0, 2.0)
    qty = _sizing_nb.fixed_fraction_nb(equity, 0.01, entry, 10.0, entry - stop, 1.0, 1.0, np.inf, False)
    for j in range(i + 1, open_.shape[0]):
        code, px = _stops_nb.check_exit_nb(1, open_[j], high[j], low[j], stop, take)
        if code != 0:
            return qty, j, code, px
    return qty, -1, 0, np.nan


def test_kernels_compose_inside_njit():
    open_ = np.array([5000.0, 5000.0, 5003.0, 5008.0])
    high = np.array([5001.0, 5004.0, 5011.0, 5009.0])
    low = np.array([4990.0, 4998.0, 5002.0, 5007.0])
    # ATR 5: stop 4995 (R$50 per contract at risk), take 5010; R$1,000 risk -> 20 contracts;
    # the signal bar's low 4990 is below the stop but is never checked
    assert _one_trade_nb(open_, high, low, 5.0, 100_000.0) == (20.0, 2, 2, 5010.0)
