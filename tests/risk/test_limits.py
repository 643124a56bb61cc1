"""Daily limits: loss limit halts the session and resets the next, trade counts, position cap."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit

from ml.exceptions import ParameterError
from risk import _limits_nb as nb
from risk import _py
from risk._limits_nb import S_HALTED, S_SESSION, S_START_EQ, S_TRADES
from risk.limits import DailyLimits, DailyLimitTracker


def test_validation():
    with pytest.raises(ParameterError, match="means 200%"):
        DailyLimits(max_daily_loss_fraction=2)
    with pytest.raises(ParameterError, match="max_daily_loss_fraction=0.02"):
        DailyLimits(max_daily_loss=0.02)  # a fraction given as currency: refused, never R$0.02
    with pytest.raises(ParameterError, match="`max_daily_loss` must be > 0"):
        DailyLimits(max_daily_loss=-100.0)
    with pytest.raises(ParameterError, match="`max_trades_per_day` must be >= 1"):
        DailyLimits(max_trades_per_day=0)
    with pytest.raises(TypeError, match="`max_trades_per_day`"):
        DailyLimits(max_trades_per_day=2.5)
    with pytest.raises(ParameterError, match="`max_position`"):
        DailyLimits(max_position=0)
    with pytest.raises(TypeError, match="`session`"):
        DailyLimitTracker(DailyLimits()).can_open(1.5, 1e5, 0, 1)


def test_kernel_args():
    assert DailyLimits().kernel_args() == (0.0, 0.0, 0, math.inf)
    assert DailyLimits(2000, 0.02, 5, 10).kernel_args() == (2000.0, 0.02, 5, 10.0)


def test_state_layout(engine):
    t = DailyLimitTracker(DailyLimits())
    assert math.isnan(t.state[S_SESSION]) and math.isnan(t.state[S_START_EQ])
    t.new_session_reset(20240102, 100_000.0)
    assert t.state[S_SESSION] == 20240102 and t.state[S_START_EQ] == 100_000.0
    assert t.state[S_TRADES] == 0 and t.state[S_HALTED] == 0


def test_daily_loss_limit_currency_blocks_rest_of_session_and_resets(engine):
    t = DailyLimitTracker(DailyLimits(max_daily_loss=1000.0))
    t.new_session_reset(1, 100_000.0)
    assert t.can_open(1, 100_000.0, 0, 1)
    t.after_fill(1, 100_000.0, 0, 1)
    assert t.loss_limit_hit(1, 99_100.0) is False  # R$900 down (unrealised)
    assert t.loss_limit_hit(1, 99_000.0) is True   # R$1,000 down: reached -> flatten
    assert t.halted
    # closing is always allowed; new exposure is not, even after a recovery
    assert t.can_open(1, 99_000.0, 1, -1)
    t.after_fill(1, 99_000.0, 1, 0)
    assert not t.can_open(1, 99_000.0, 0, 1)
    assert not t.can_open(1, 101_000.0, 0, -1)
    assert t.loss_limit_hit(1, 101_000.0) is True  # stays halted for the session
    # next session: fresh start-of-day equity, trading allowed again
    t.new_session_reset(2, 99_000.0)
    assert not t.halted and t.trades_today == 0
    assert t.can_open(2, 99_000.0, 0, 1)
    assert t.loss_limit_hit(2, 98_500.0) is False  # measured from 99,000 now


def test_daily_loss_limit_fraction_and_whichever_first(engine):
    t = DailyLimitTracker(DailyLimits(max_daily_loss_fraction=0.02))  # 2% of R$100,000 = R$2,000
    t.new_session_reset(1, 100_000.0)
    assert not t.loss_limit_hit(1, 98_001.0)
    assert t.loss_limit_hit(1, 98_000.0)
    both = DailyLimitTracker(DailyLimits(max_daily_loss=1500.0, max_daily_loss_fraction=0.02))
    both.new_session_reset(1, 100_000.0)
    assert both.loss_limit_hit(1, 98_500.0)  # currency limit first
    both.new_session_reset(2, 50_000.0)
    assert both.loss_limit_hit(2, 49_000.0)  # 2% of 50,000 = 1,000 first


def test_max_trades_per_day_counts_entries(engine):
    t = DailyLimitTracker(DailyLimits(max_trades_per_day=2))
    t.new_session_reset(1, 100_000.0)
    assert t.after_fill(1, 1e5, 0, 1) == 1        # entry 1 (from flat)
    assert t.can_open(1, 1e5, 1, 1)               # adding is not an entry
    assert t.after_fill(1, 1e5, 1, 2) == 1
    assert t.after_fill(1, 1e5, 2, 0) == 1        # exit
    assert t.can_open(1, 1e5, 0, -1)
    assert t.after_fill(1, 1e5, 0, -1) == 2       # entry 2
    assert not t.can_open(1, 1e5, -1, 2)          # a reversal is a third entry: refused
    assert t.can_open(1, 1e5, -1, 1)              # closing: allowed
    assert t.after_fill(1, 1e5, -1, 0) == 2
    assert not t.can_open(1, 1e5, 0, 1)           # no third entry this session
    # a new session id resets by itself (start equity = the equity given)
    assert t.can_open(2, 1e5, 0, 1)
    assert t.trades_today == 0


def test_reversal_counts_as_entry(engine):
    t = DailyLimitTracker(DailyLimits(max_trades_per_day=5))
    t.new_session_reset(1, 1e5)
    t.after_fill(1, 1e5, 0, 2)
    assert t.after_fill(1, 1e5, 2, -2) == 2


def test_position_cap(engine):
    t = DailyLimitTracker(DailyLimits(max_position=2))
    t.new_session_reset(1, 1e5)
    assert t.can_open(1, 1e5, 0, 2)
    assert not t.can_open(1, 1e5, 0, 3)
    assert not t.can_open(1, 1e5, 2, 1)
    assert t.can_open(1, 1e5, 2, -4)   # reversal to -2: within the cap
    assert not t.can_open(1, 1e5, 2, -5)
    assert t.can_open(1, 1e5, 3, -1)   # reducing is always allowed, even above the cap
    assert t.can_open(1, 1e5, 0, 0)


def _engine_loop(k, session, equity_move, want, max_loss, max_loss_frac, max_trades, max_position):
    """A bar loop following the engine contract of risk.limits, on kernel set ``k``."""
    n = session.shape[0]
    state = k.new_limits_state()
    equity = 100_000.0
    pos = 0.0
    allowed = np.zeros(n, dtype=np.bool_)
    halted = np.zeros(n, dtype=np.bool_)
    for t in range(n):
        if t == 0 or session[t] != session[t - 1]:
            k.new_session_reset(state, session[t], equity)
        equity += pos * equity_move[t]
        halted[t] = k.loss_limit_hit(state, session[t], equity, max_loss, max_loss_frac)
        if halted[t] and pos != 0.0:  # flatten (next open in a real engine)
            k.after_fill_update(state, session[t], equity, pos, 0.0)
            pos = 0.0
        order = want[t] - pos
        if order != 0.0 and k.can_open(state, session[t], equity, pos, order,
                                       max_loss, max_loss_frac, max_trades, max_position):
            k.after_fill_update(state, session[t], equity, pos, want[t])
            pos = want[t]
            allowed[t] = True
    return allowed, halted


class _Twins:
    """The plain-Python twins under the kernels' short names."""

    new_limits_state = staticmethod(_py.new_limits_state_py)
    new_session_reset = staticmethod(_py.new_session_reset_py)
    loss_limit_hit = staticmethod(_py.loss_limit_hit_py)
    can_open = staticmethod(_py.can_open_py)
    after_fill_update = staticmethod(_py.after_fill_update_py)


@njit(cache=True)
def _engine_loop_nb(session, equity_move, want, max_loss, max_loss_frac, max_trades, max_position):
    """:func:`_engine_loop` compiled, calling the numba kernels (as the sweep kernel will)."""
    n = session.shape[0]
    state = nb.new_limits_state_nb()
    equity = 100_000.0
    pos = 0.0
    allowed = np.zeros(n, dtype=np.bool_)
    halted = np.zeros(n, dtype=np.bool_)
    for t in range(n):
        if t == 0 or session[t] != session[t - 1]:
            nb.new_session_reset_nb(state, session[t], equity)
        equity += pos * equity_move[t]
        halted[t] = nb.loss_limit_hit_nb(state, session[t], equity, max_loss, max_loss_frac)
        if halted[t] and pos != 0.0:
            nb.after_fill_update_nb(state, session[t], equity, pos, 0.0)
            pos = 0.0
        order = want[t] - pos
        if order != 0.0 and nb.can_open_nb(state, session[t], equity, pos, order,
                                           max_loss, max_loss_frac, max_trades, max_position):
            nb.after_fill_update_nb(state, session[t], equity, pos, want[t])
            pos = want[t]
            allowed[t] = True
    return allowed, halted


def test_engine_loop_with_numba_kernels_matches_twins():
    """The limit kernels inside an njit loop give the same decisions as the twins in Python."""
    rng = np.random.default_rng(3)
    n = 3000
    session = np.repeat(np.arange(10), n // 10).astype(np.float64)
    equity_move = rng.normal(0, 60.0, n)
    want = rng.choice([-2.0, -1.0, 0.0, 0.0, 1.0, 2.0, 3.0], n)
    for params in [(1500.0, 0.0, 6, 2.0), (0.0, 0.01, 0, math.inf), (0.0, 0.0, 3, 1.0)]:
        a = _engine_loop_nb(session, equity_move, want, *params)
        b = _engine_loop(_Twins, session, equity_move, want, *params)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        assert a[0].sum() > 10
    # with a loss limit some sessions halt, and the halt lasts exactly until the session ends
    allowed, halted = _engine_loop_nb(session, equity_move, want, 1500.0, 0.0, 0, math.inf)
    assert halted.any() and not halted.all()
    for s in range(10):
        h = halted[session == s]
        if h.any():
            first = np.argmax(h)
            assert h[first:].all()  # halted for the rest of the session
            assert not allowed[session == s][first:].any()  # no entries after the halt
