"""The sweep's light run equals the full simulator, bar for bar and metric for metric.

:func:`engines.sweep.sweep` runs :func:`engines._sim_nb.simulate_into_nb` without
position array and trade records (closed trades are folded into running
sums) and reduces the equity curve in one pass
(:func:`engines._sweep_nb.run_stats_nb`).  These tests pin that this fast
path gives exactly what :func:`engines.simulate.simulate` (full records, then
:func:`engines.metrics.summarize`) gives, on real WDO bars, for combinations
with stops, trailing and time stops, costs and slippage, daily limits, both
sizing rules that read the equity, ``fill_on_close`` and a risk-free rate:
the equity curve bit for bit, the metrics to 1e-12 (the one-pass kernels sum
in the same order as the single-metric kernels; only the trade statistics of
``summarize`` use numpy's pairwise sums).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from engines import _metrics_nb as mnb
from engines import _sweep_nb as snb
from engines._sim_nb import N_COUNTERS, TRADE_DTYPE, simulate_into_nb, simulate_nb
from engines.contexts import contexts_from_fields, sim_bars
from engines.metrics import METRIC_KEYS
from engines.simulate import Costs, Sizing, Stops, average_true_range, simulate
from engines.sweep import sweep
from risk.limits import DailyLimits
from strategies import ProbabilityThresholdStrategy
from tests.engines.test_sweep import proba, wdo5k  # noqa: F401  (fixtures: 5,000 real WDO bars)

TOL = 1e-12


def _same(a, b, tol=TOL):
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


CASES = [
    # (grid, keyword arguments of sweep / simulate)
    ({"long_threshold": [0.6, 0.8], "short_threshold": [0.2], "min_holding": [1, 10],
      "sl_atr": [0.0, 1.0], "tp_atr": [0.0, 2.5], "trail_atr": [0.0, 1.5], "max_bars": [0, 25]},
     dict(costs=Costs(commission_per_contract=1.5, slippage_ticks=1))),
    ({"long_threshold": [0.65, 0.9], "short_threshold": [0.1, 0.35], "sl_atr": [0.0, 1.2]},
     dict(costs=Costs(commission_per_contract=0.5, commission_pct=0.0001, slippage_ticks=2),
          limits=DailyLimits(max_daily_loss=150.0, max_trades_per_day=6, max_position=3),
          sizing=Sizing(method="fixed", contracts=2))),
    ({"long_threshold": [0.6, 0.75], "sl_atr": [1.0, 2.0], "tp_atr": [0.0, 3.0]},
     dict(costs=Costs(commission_per_contract=1.0, slippage_ticks=1),
          limits=DailyLimits(max_daily_loss_fraction=0.002),
          sizing=Sizing(method="fixed_fraction", fraction=0.01), initial_equity=50_000.0)),
    ({"long_threshold": [0.7, 0.85], "short_threshold": [0.15, 0.3], "min_holding": [3],
      "trail_atr": [0.0, 1.0], "max_bars": [0, 12]},
     dict(costs=Costs(commission_pct=0.0002, slippage_ticks=1), fill_on_close=True, risk_free=0.1,
          strategy=ProbabilityThresholdStrategy(flat_bars_before_close=0))),
]


def _strategy_and_stops(params, base):
    strat = ProbabilityThresholdStrategy(**{**base.get_params(),
                                            **{k: params[k] for k in ("long_threshold", "short_threshold",
                                                                      "min_holding") if k in params}})
    stops = Stops(**{k: (params[k] or None) for k in ("sl_atr", "tp_atr", "trail_atr", "max_bars")
                     if k in params})
    return strat, stops


@pytest.mark.parametrize("case", range(len(CASES)))
def test_sweep_rows_equal_simulate_to_1e12(wdo5k, proba, case):
    grid, kw = CASES[case]
    df = sweep(wdo5k, proba, grid, **kw)
    base = kw.get("strategy", ProbabilityThresholdStrategy())
    sim_kw = {k: v for k, v in kw.items() if k != "strategy"}
    traded = 0
    for key in df.index:
        params = dict(zip(df.index.names, key if isinstance(key, tuple) else (key,)))
        strat, stops = _strategy_and_stops(params, base)
        res = simulate(wdo5k, strat.sides(proba, wdo5k), stops=stops, **sim_kw)
        row = df.loc[key]
        assert float(row["final_equity"]) == float(res.equity.iloc[-1])
        assert int(row["n_trades"]) == res.metrics["n_trades"]
        for k in METRIC_KEYS:
            assert _same(row[k], res.metrics[k]), (case, key, k, row[k], res.metrics[k])
        traded += int(row["n_trades"] > 0)
    assert traded >= len(df) // 2


def _kernel_args(bars, sides, *, sl=1.0, tp=2.0, trail=1.5, max_bars=20, limits=(200.0, 0.0, 5, 4.0),
                 fill_on_close=False):
    o, h, lo, c = (np.ascontiguousarray(bars[k].to_numpy(dtype=np.float64)) for k in ("open", "high", "low",
                                                                                         "close"))
    from strategies import session_facts
    sess = np.ascontiguousarray(session_facts(bars).session, dtype=np.int64)
    atr = np.ascontiguousarray(average_true_range(bars).to_numpy(dtype=np.float64))
    max_loss, max_loss_frac, max_trades, max_position = limits
    ex, ru = contexts_from_fields(dict(
        size_mode=0, size_value=2.0, payoff_ratio=math.nan, size_cap=1.0, lot_size=1.0, min_qty=1.0, allow_fractional=False, sl_mult=sl, tp_mult=tp,
        trail_mult=trail, max_bars=max_bars, rearm=True, max_loss=max_loss, max_loss_frac=max_loss_frac,
        max_trades=max_trades, max_position=max_position, multiplier=10.0, commission_per_contract=1.5,
        commission_pct=0.0001, slippage_ticks=1.0, tick_size=0.5, initial_equity=100_000.0,
        fill_on_close=fill_on_close, margin=0.0))
    return sim_bars(o, h, lo, c, sess, atr), sides, ex, ru


@pytest.mark.parametrize("fill_on_close", [False, True])
@pytest.mark.parametrize("stops", [(0.0, 0.0, 0.0, 0), (1.0, 2.0, 1.5, 20), (0.8, 0.0, 0.0, 0)])
def test_light_run_equals_full_run(wdo5k, proba, fill_on_close, stops):
    """The run without records leaves the same equity, and its running sums equal the records' totals."""
    sides = ProbabilityThresholdStrategy(long_threshold=0.65, short_threshold=0.3,
                                         min_holding=2).sides(proba, wdo5k).to_numpy().astype(np.int8)
    args = _kernel_args(wdo5k, sides, sl=stops[0], tp=stops[1], trail=stops[2], max_bars=stops[3],
                        fill_on_close=fill_on_close)
    pos, eq, trades, counters = simulate_nb(*args)
    n = len(wdo5k)
    equity = np.full(n + 7, np.nan)  # a longer buffer: only the first n values are written
    tacc = np.zeros(mnb.N_TRADE_ACC)
    light_counters = np.zeros(N_COUNTERS, dtype=np.int64)
    k, held = simulate_into_nb(*args, np.empty(0), equity, np.empty(0, dtype=TRADE_DTYPE),
                               light_counters, tacc)
    assert np.array_equal(equity[:n], eq)
    assert np.isnan(equity[n:]).all()
    assert k == len(trades) and held == int(np.count_nonzero(pos))
    assert np.array_equal(light_counters, counters)
    closed = trades[trades["exit_reason"] != 6]["net_pnl"]
    assert tacc[mnb.TA_N] == len(closed) > 0
    assert tacc[mnb.TA_WINS] == np.count_nonzero(closed > 0)
    total = gains = losses = 0.0
    for pnl in closed:  # the order of the exits
        total += pnl
        if pnl > 0:
            gains += pnl
        elif pnl < 0:
            losses -= pnl
    assert (tacc[mnb.TA_TOTAL], tacc[mnb.TA_GAINS], tacc[mnb.TA_LOSSES]) == (total, gains, losses)

    # the one-pass statistics equal the single-metric kernels on the full outputs, bit for bit
    out = np.empty(snb.N_STATS)
    snb.run_stats_nb(eq, 100_000.0, held, tacc, 1000.0, 1e-6, np.empty(n), out)
    r = eq / np.concatenate([[100_000.0], eq[:-1]]) - 1.0
    expect = {snb.ST_FINAL_EQUITY: eq[-1], snb.ST_N_TRADES: len(closed),
              snb.ST_EXPOSURE: np.count_nonzero(pos) / n,
              mnb.RM_TOTAL: mnb.total_return_nb(r), mnb.RM_ANN_RETURN: mnb.annualized_return_nb(r, 1000.0),
              mnb.RM_ANN_VOL: mnb.annualized_volatility_nb(r, 1000.0),
              mnb.RM_SHARPE: mnb.sharpe_ratio_nb(r, 1000.0, 1e-6),
              mnb.RM_SORTINO: mnb.sortino_ratio_nb(r, 1000.0, 1e-6),
              mnb.RM_MAX_DD: mnb.max_drawdown_nb(r), mnb.RM_CALMAR: mnb.calmar_ratio_nb(r, 1000.0)}
    for slot, value in expect.items():
        assert out[slot] == value, (slot, out[slot], value)
    assert out[snb.ST_RECOVERY] == (eq[-1] - 100_000.0) / -mnb.max_drawdown_amount_nb(eq, 100_000.0)


def test_one_pass_metrics_equal_single_metric_kernels_bit_for_bit():
    rng = np.random.default_rng(3)
    for t in range(300):
        n = int(rng.integers(0, 50))
        r = rng.normal(0.0, 0.02 if t % 3 else 0.6, n)
        if t % 4 == 1:
            r = np.round(r, 3)
        if t % 4 == 2:
            r[:] = 0.0015
        if t % 4 == 3:
            r = np.where(rng.random(n) < 0.6, 0.0, r)
        for rf in (0.0, 2e-6):
            m = mnb.return_metrics_nb(r, 252.0, rf)
            single = [mnb.total_return_nb(r), mnb.annualized_return_nb(r, 252.0),
                      mnb.annualized_volatility_nb(r, 252.0), mnb.sharpe_ratio_nb(r, 252.0, rf),
                      mnb.sortino_ratio_nb(r, 252.0, rf), mnb.max_drawdown_nb(r), mnb.calmar_ratio_nb(r, 252.0)]
            assert np.array_equal(m, np.array(single), equal_nan=True), (t, rf)
            dd = mnb.drawdown_nb(r)
            assert m[mnb.RM_MAX_DD] == (min(0.0, dd.min()) if n else 0.0)
            eq = 1000.0 * np.cumprod(1.0 + r)
            out = np.empty(mnb.N_RETURN_METRICS)
            mdd = mnb.equity_metrics_nb(eq, 1000.0, 252.0, rf, np.empty(n + 3), out)
            prev = np.concatenate([[1000.0], eq[:-1]])
            assert np.array_equal(out, mnb.return_metrics_nb(eq / prev - 1.0, 252.0, rf), equal_nan=True)
            assert mdd == mnb.max_drawdown_amount_nb(eq, 1000.0)


def test_trade_metrics_edge_cases():
    acc = np.zeros(mnb.N_TRADE_ACC)
    assert all(math.isnan(x) for x in mnb.trade_metrics_nb(acc))
    for pnl in (5.0, 0.0, 3.0):
        mnb.trade_acc_add_nb(acc, pnl)
    wr, pf, ex = mnb.trade_metrics_nb(acc)
    assert (wr, pf, ex) == (2 / 3, math.inf, 8.0 / 3)
    mnb.trade_acc_add_nb(acc, -4.0)
    assert mnb.trade_metrics_nb(acc) == (0.5, 2.0, 1.0)
    flat = np.zeros(mnb.N_TRADE_ACC)
    mnb.trade_acc_add_nb(flat, 0.0)
    wr, pf, ex = mnb.trade_metrics_nb(flat)
    assert wr == 0.0 and math.isnan(pf) and ex == 0.0
