"""Stops: hand-computed levels and fills, gap rules, stop-before-take, trailing ratchet,
the caller contract in a tiny simulated loop, and agreement with ml.labels' barriers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.exceptions import ParameterError
from ml.labels._labels_nb import BARRIER_LOWER, BARRIER_UPPER, BARRIER_VERTICAL, triple_barrier_nb
from risk._stops_nb import (
    EXIT_NONE,
    EXIT_STOP,
    EXIT_TAKE,
    check_exit_nb,
    time_stop_nb,
    trailing_stop_update_nb,
    vol_stop_levels_nb,
)
from risk.stops import (
    atr_stop_levels,
    check_exit,
    time_stop,
    trailing_stop_update,
    vol_stop_levels,
)


# --------------------------------------------------------------------------- levels
def test_atr_levels_hand_example(engine):
    # long at 5,000, ATR 4: stop 1.5 ATR = 6 points below, take 3 ATR = 12 above
    assert atr_stop_levels(5000.0, 1, 4.0, 1.5, 3.0) == (4994.0, 5012.0)
    assert atr_stop_levels(5000.0, -1, 4.0, 1.5, 3.0) == (5006.0, 4988.0)
    stop, take = atr_stop_levels(5000.0, 1, 4.0, 1.5, None)
    assert stop == 4994.0 and math.isnan(take)
    stop, take = atr_stop_levels(5000.0, 1, 4.0, 0, 2.0)
    assert math.isnan(stop) and take == 5008.0


def test_vol_levels_hand_example(engine):
    stop, take = vol_stop_levels(100.0, 1, 0.01, 1.0, 2.0)
    assert stop == pytest.approx(100.0 * math.exp(-0.01), rel=1e-15)
    assert take == pytest.approx(100.0 * math.exp(0.02), rel=1e-15)
    stop, take = vol_stop_levels(100.0, -1, 0.01, 1.0, 2.0)
    assert stop == pytest.approx(100.0 * math.exp(0.01), rel=1e-15) and stop > 100.0
    assert take == pytest.approx(100.0 * math.exp(-0.02), rel=1e-15) and take < 100.0


def test_level_validation():
    with pytest.raises(ParameterError, match="`side` must be"):
        atr_stop_levels(5000.0, 0, 4.0, 1.5)
    with pytest.raises(ParameterError, match="`atr` must be > 0"):
        atr_stop_levels(5000.0, 1, 0.0, 1.5)
    with pytest.raises(ParameterError, match="means 200%"):
        vol_stop_levels(100.0, 1, 2.0, 1.0)  # sigma 2 = 200%, not 2%
    with pytest.raises(ParameterError, match="`sl_mult` must be >= 0"):
        atr_stop_levels(5000.0, 1, 4.0, -1.0)


# --------------------------------------------------------------------------- exit checks
def test_gap_through_stop_fills_at_open(engine):
    # long stop 90, next bar opens at 50: exit at 50, not 90 (PITFALLS rule 4)
    assert check_exit(1, 50.0, 55.0, 45.0, stop=90.0, take=120.0) == (EXIT_STOP, 50.0)
    # short stop 110, bar opens at 150: exit at 150
    assert check_exit(-1, 150.0, 155.0, 140.0, stop=110.0, take=80.0) == (EXIT_STOP, 150.0)
    # opening exactly at the stop counts as a gap (fill = open = stop)
    assert check_exit(1, 90.0, 95.0, 89.0, stop=90.0) == (EXIT_STOP, 90.0)


def test_take_gapped_through_in_our_favour_fills_at_open(engine):
    # short's take is a buy limit at 100; the bar opens at 95 -> 95 (PITFALLS rule 5)
    assert check_exit(-1, 95.0, 99.0, 94.0, stop=110.0, take=100.0) == (EXIT_TAKE, 95.0)
    # long's take is a sell limit at 105; opens at 110 -> 110
    assert check_exit(1, 110.0, 112.0, 108.0, stop=95.0, take=105.0) == (EXIT_TAKE, 110.0)


def test_stop_and_take_in_one_bar_stop_first(engine):
    # both levels inside the bar: pessimistic, the stop (PITFALLS rule 6)
    assert check_exit(1, 100.0, 106.0, 94.0, stop=95.0, take=105.0) == (EXIT_STOP, 95.0)
    assert check_exit(-1, 100.0, 106.0, 94.0, stop=105.0, take=95.0) == (EXIT_STOP, 105.0)


def test_levels_touched_inside_the_bar(engine):
    assert check_exit(1, 100.0, 103.0, 94.0, stop=95.0, take=105.0) == (EXIT_STOP, 95.0)
    assert check_exit(1, 100.0, 106.0, 96.0, stop=95.0, take=105.0) == (EXIT_TAKE, 105.0)
    assert check_exit(-1, 100.0, 106.0, 96.0, stop=105.0, take=95.0) == (EXIT_STOP, 105.0)
    assert check_exit(-1, 100.0, 104.0, 94.0, stop=105.0, take=95.0) == (EXIT_TAKE, 95.0)
    code, px = check_exit(1, 100.0, 104.0, 96.0, stop=95.0, take=105.0)
    assert code == EXIT_NONE and math.isnan(px)
    assert check_exit(1, 100.0, 104.0, 90.0)[0] == EXIT_NONE  # no levels at all
    assert check_exit(1, 100.0, 104.0, 90.0, take=103.0) == (EXIT_TAKE, 103.0)


def test_check_exit_validates_the_bar():
    with pytest.raises(ParameterError, match="low <= open <= high"):
        check_exit(1, 100.0, 99.0, 98.0, stop=95.0)


def test_fill_clipped_into_range_even_for_inconsistent_bars():
    # open above the high (bad data): the gap fill is clipped to the high
    assert check_exit_nb(-1, 101.0, 100.0, 98.0, 99.0, math.nan) == (EXIT_STOP, 100.0)


_price = st.floats(min_value=1.0, max_value=1000.0, allow_nan=False)


@st.composite
def _bars_and_levels(draw):
    a, b, c, d = (draw(_price) for _ in range(4))
    low, high = min(a, b, c, d), max(a, b, c, d)
    open_ = draw(st.sampled_from([a, b, c, d]))
    side = draw(st.sampled_from([1, -1]))
    stop = draw(st.one_of(st.just(math.nan), _price))
    take = draw(st.one_of(st.just(math.nan), _price))
    return side, open_, high, low, stop, take


@settings(max_examples=100, deadline=None)
@given(_bars_and_levels())
def test_fill_always_inside_the_bar(args):
    side, o, h, l, stop, take = args
    code, px = check_exit_nb(side, o, h, l, stop, take)
    if code == EXIT_NONE:
        assert math.isnan(px)
    else:
        assert l <= px <= h  # PITFALLS rule 7
        # a stop fill is never better than the stop; a take fill never worse than the take
        if code == EXIT_STOP:
            assert side * (px - stop) <= 0
        else:
            assert side * (px - take) >= 0
    # stop first whenever the stop is reached in the bar
    reached_stop = not math.isnan(stop) and (l <= stop if side > 0 else h >= stop)
    gapped_take = not math.isnan(take) and side * (o - take) >= 0
    if reached_stop and not gapped_take:
        assert code == EXIT_STOP


# --------------------------------------------------------------------------- trailing and time stops
def test_trailing_stop_hand_example(engine):
    assert trailing_stop_update(1, None, high=100.0, low=98.0, trail_distance=5.0) == 95.0
    assert trailing_stop_update(1, 95.0, high=103.0, low=99.0, trail_distance=5.0) == 98.0
    assert trailing_stop_update(1, 98.0, high=101.0, low=97.0, trail_distance=5.0) == 98.0  # never loosens
    assert trailing_stop_update(-1, 105.0, high=101.0, low=97.0, trail_distance=5.0) == 102.0
    assert trailing_stop_update(-1, 102.0, high=104.0, low=99.0, trail_distance=5.0) == 102.0


@settings(max_examples=80, deadline=None)
@given(st.sampled_from([1, -1]),
       st.lists(st.tuples(_price, _price), min_size=1, max_size=30),
       st.floats(min_value=0.1, max_value=50.0))
def test_trailing_stop_never_loosens(side, bars, trail):
    stop = math.nan
    for a, b in bars:
        new = trailing_stop_update_nb(side, stop, max(a, b), min(a, b), trail)
        if not math.isnan(stop):
            assert side * (new - stop) >= 0
        stop = new


def test_time_stop(engine):
    assert time_stop(9, 10) is False
    assert time_stop(10, 10) is True
    assert time_stop(11, 10) is True
    assert time_stop(10_000, None) is False
    assert time_stop_nb(5, 0) is False
    with pytest.raises(ParameterError):
        time_stop(3, 0)


# --------------------------------------------------------------------------- the caller contract
def _simulate(open_, high, low, close, signal_bar, side, stop, take, trail=0.0, max_bars=0):
    """Tiny engine loop following the documented contract: entry at the open of
    the bar after the signal, exits checked from that entry bar on."""
    entry_bar = signal_bar + 1
    for j in range(entry_bar, len(open_)):
        code, px = check_exit_nb(side, open_[j], high[j], low[j], stop, take)
        if code != EXIT_NONE:
            return j, code, px
        stop = trailing_stop_update_nb(side, stop, high[j], low[j], trail)
        if time_stop_nb(j - signal_bar, max_bars):
            return j, 3, close[j]
    return -1, EXIT_NONE, math.nan


def test_simulated_loop_never_exits_on_the_signal_bar():
    #                 0 signal  1 entry  2       3
    open_ = np.array([100.0, 100.0, 101.0, 102.0])
    high = np.array([101.0, 102.0, 103.0, 104.0])
    low = np.array([90.0, 99.0, 100.0, 101.0])  # the signal bar's low (90) is below the stop
    close = np.array([100.0, 101.0, 102.0, 103.0])
    entry = open_[1]
    stop, take = entry - 5.0, entry + 2.5
    j, code, px = _simulate(open_, high, low, close, 0, 1, stop, take)
    assert (j, code, px) == (2, EXIT_TAKE, 102.5)  # not stopped on bar 0; target on bar 2
    assert j >= 1  # exit bar >= entry bar: no negative durations


def test_simulated_loop_checks_the_entry_bar_itself():
    open_ = np.array([100.0, 100.0, 101.0])
    high = np.array([101.0, 100.5, 103.0])
    low = np.array([99.0, 94.0, 100.0])  # entry bar trades through the stop after the open
    close = np.array([100.0, 95.0, 102.0])
    j, code, px = _simulate(open_, high, low, close, 0, 1, 95.0, 110.0)
    assert (j, code, px) == (1, EXIT_STOP, 95.0)


def test_simulated_loop_trailing_stop_is_raised_after_the_check():
    # long entry 100 at bar 1, trail 3 from an initial stop of 97.
    # bar 2 runs to 106 (trail -> 103) but its low 102.5 is not checked against 103:
    # the order of high and low inside bar 2 is unknown.  Bar 3 opens at 102: gap -> 102.
    open_ = np.array([100.0, 100.0, 104.0, 102.0])
    high = np.array([100.0, 101.0, 106.0, 102.5])
    low = np.array([99.0, 99.5, 102.5, 101.0])
    close = np.array([100.0, 100.5, 103.0, 101.5])
    j, code, px = _simulate(open_, high, low, close, 0, 1, 97.0, math.nan, trail=3.0)
    assert (j, code, px) == (3, EXIT_STOP, 102.0)


def test_simulated_loop_time_stop():
    open_ = np.full(6, 100.0)
    high = np.full(6, 101.0)
    low = np.full(6, 99.0)
    close = np.arange(6, dtype=float) + 100.0
    j, code, px = _simulate(open_, high, low, close, 1, 1, 90.0, 110.0, max_bars=3)
    assert (j, code, px) == (4, 3, 104.0)  # held bars 2, 3, 4: exit at bar 4's close


def test_contract_matches_ml_labels_triple_barrier():
    """Our levels and exit rules, run by the documented loop, reproduce the
    triple-barrier labels' exit bar and price (side given, so stop first)."""
    rng = np.random.default_rng(7)
    n = 400
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    open_ = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0, 0.0015, n))  # gaps
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.0015, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.0015, n)))
    width = np.full(n, 0.004)
    side = rng.choice([-1.0, 1.0], n)
    seg_end = np.full(n, n - 1, dtype=np.int64)
    max_holding, pt, sl = 12, 1.5, 1.0
    _, _, entry_px, exit_px, exit_idx, barrier = triple_barrier_nb(
        open_, high, low, close, width, side, seg_end, max_holding, pt, sl, 0.0, True, False)
    to_code = {BARRIER_LOWER: EXIT_STOP, BARRIER_UPPER: EXIT_TAKE, BARRIER_VERTICAL: 3}
    checked = 0
    for t in range(n - max_holding - 1):
        entry = open_[t + 1]
        stop, take = vol_stop_levels_nb(entry, side[t], width[t], sl, pt)
        j, code, px = _simulate(open_, high, low, close, t, side[t], stop, take, max_bars=max_holding)
        assert entry_px[t] == entry
        assert (j, code) == (exit_idx[t], to_code[barrier[t]])
        assert px == exit_px[t]
        checked += 1
    assert checked > 300 and len(set(barrier.tolist())) >= 3
