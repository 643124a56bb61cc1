"""Sweep-engine speed: backtests per second over a >= 500-combination grid.

Prints, for :func:`engines.sweep.sweep` over a probability-threshold grid
(``long_threshold`` x ``short_threshold`` x ``min_holding``, 500 combinations)
on >= 100,000 one-minute bars:

- backtests per second and bar-evaluations (bars x combinations) per second;
- the ratio to a plain numba reference written here (same grid, same signal
  rule :func:`strategies._signals_nb.threshold_sides_nb`, fills at the next
  open, same fees, no stops, final equity and trade count only), run in the
  same process -- target: the sweep within 3x of it;
- backtrader's time for ONE combination on the same bars (a minimal
  ``bt.Strategy`` that reads precomputed sides and trades at the next open
  with the same fees) and the ratio to the sweep's time per combination --
  target: > 1,000x.

Data: real Binance FILUSDT 1-minute bars, the 3-month file (131,040 bars) of
``../shared/data`` when present, else the bundled 7-day sample repeated back to
back (timestamps shifted) up to ``--bars``.  The probability is a causal
rolling z-score of the close squashed to (0, 1) (deterministic, no model).

    python -m benchmarks.sweep [--bars 131040] [--repeat 3] [--no-backtrader]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np
import pandas as pd
from numba import njit, prange

from benchmarks._common import best_of, make_bars
from engines.simulate import Costs, Sizing
from engines.sweep import sweep
from strategies import ProbabilityThresholdStrategy, session_facts
from strategies._signals_nb import threshold_sides_nb

CONTRACT = "crypto"
QTY = 1000.0          # FIL per entry (whole lots of the crypto preset)
FEE = 0.0004          # 0.04% of notional per leg (taker fee)
INITIAL = 100_000.0
GRID = {
    "long_threshold": [0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99],
    "short_threshold": [0.05, 0.1, 0.2, 0.3, 0.45],
    "min_holding": [1, 2, 3, 5, 8, 10, 15, 20, 30, 60],
}


def pseudo_proba(bars: pd.DataFrame, window: int = 60) -> pd.Series:
    c = bars["close"]
    z = (c - c.rolling(window, min_periods=window).mean()) / c.rolling(window, min_periods=window).std()
    return 1.0 / (1.0 + np.exp(-z))


@njit(cache=True, parallel=True)
def reference_nb(p, btc, fb, open_, close, params, qty, fee, initial):
    """Plain numba loop: threshold sides, fills at the next open, fees per leg, no stops."""
    n_combos = params.shape[0]
    n = open_.shape[0]
    out = np.empty((n_combos, 2))
    for c in prange(n_combos):
        sides = threshold_sides_nb(p, params[c, 0], params[c, 1], int(params[c, 2]), btc, fb,
                                   True, np.empty(0), 0.5)
        eq = initial
        pos = 0
        mark = 0.0
        trades = 0
        for i in range(1, n):
            want = sides[i - 1]
            if want != pos:
                px = open_[i]
                if pos != 0:
                    eq += pos * qty * (px - mark) - fee * px * qty
                    trades += 1
                if want != 0:
                    eq -= fee * px * qty
                    mark = px
                pos = want
            if pos != 0:
                eq += pos * qty * (close[i] - mark)
                mark = close[i]
        out[c, 0] = eq
        out[c, 1] = trades
    return out


def backtrader_one(bars: pd.DataFrame, sides: np.ndarray) -> tuple[float, float]:
    """Seconds and final value of one backtrader run trading ``sides`` at the next open."""
    import backtrader as bt

    class Sides(bt.Strategy):
        def next(self):
            want = float(sides[len(self) - 1]) * QTY
            if self.position.size != want:
                self.order_target_size(target=want)

    df = bars[["open", "high", "low", "close", "volume"]].copy()
    df.index = df.index.tz_convert("UTC").tz_localize(None)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=df))
    cerebro.addstrategy(Sides)
    cerebro.broker.setcash(INITIAL)
    cerebro.broker.setcommission(commission=FEE, commtype=bt.CommInfoBase.COMM_PERC, percabs=True,
                                 stocklike=True)
    cerebro.broker.set_checksubmit(False)
    t0 = time.perf_counter()
    cerebro.run()
    return time.perf_counter() - t0, float(cerebro.broker.getvalue())


def breakdown(bars, p, btc, df, kw):
    """Single-thread milliseconds per combination of each stage of the sweep kernel (middle combo)."""
    from engines import _sweep_nb as snb
    from engines._sim_nb import simulate_nb
    from engines.metrics import periods_per_year
    from engines.simulate import _prices
    from risk.limits import DailyLimits
    from risk.sizing import get_contract

    key = dict(zip(df.index.names, df.index[len(df) // 2]))
    facts = session_facts(bars)
    o, h, lo, c = _prices(bars)
    sess = np.ascontiguousarray(facts.session, dtype=np.int64)
    nan = np.full(len(bars), np.nan)
    lot, min_qty, frac = get_contract(kw["contract"]).kernel_args()
    spec = get_contract(kw["contract"])
    ml, mlf, mt, mp = DailyLimits().kernel_args()
    ppy = periods_per_year(bars)

    def sides():
        return threshold_sides_nb(p, float(key["long_threshold"]), float(key["short_threshold"]),
                                  int(key["min_holding"]), btc, 1.0, True, np.empty(0), 0.5)

    s = sides()

    def sim():
        return simulate_nb(o, h, lo, c, s, sess, 0, QTY, nan, float(lot), float(min_qty), bool(frac), nan,
                           0.0, 0.0, 0.0, 0, True, ml, mlf, int(mt), mp, float(spec.multiplier), 0.0, FEE,
                           0.0, float(spec.tick_size), INITIAL, False)

    pos, eq, tr, _ = sim()
    out = np.empty(snb.N_STATS)
    parts = [("sides (threshold_sides_nb)", sides), ("simulator (simulate_nb)", sim),
             ("metrics (run_stats_nb: return_metrics_nb + trade stats)",
              lambda: snb.run_stats_nb(pos, eq, tr, INITIAL, ppy, 0.0, out))]
    msg = []
    for name, fn in parts:
        t, _ = best_of(fn, 10)
        msg.append(f"{name} {t * 1e3:.2f} ms")
    print("per combination, one thread: " + "; ".join(msg))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=131_040)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-backtrader", action="store_true")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")

    bars, source = make_bars(args.bars)
    n = len(bars)
    proba = pseudo_proba(bars)
    n_combos = int(np.prod([len(v) for v in GRID.values()]))
    print(f"data: {source} -> {n:,} bars; grid: {n_combos} combinations; {os.cpu_count()} cores; "
          f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}")
    kw = dict(contract=CONTRACT, sizing=Sizing(contracts=QTY), costs=Costs(commission_pct=FEE),
              initial_equity=INITIAL)

    t0 = time.perf_counter()
    sweep(bars.iloc[:2000], proba.iloc[:2000], {k: v[:2] for k, v in GRID.items()}, **kw)
    print(f"numba compile / cache load (one-off): {time.perf_counter() - t0:.2f} s")

    t_sw, df = best_of(lambda: sweep(bars, proba, GRID, **kw), args.repeat)
    print(f"sweep(): {t_sw:.3f} s for {n_combos} backtests x {n:,} bars -> "
          f"{n_combos / t_sw:,.0f} backtests/s, {n_combos * n / t_sw:.2e} bar-evaluations/s "
          f"(metrics: sharpe, sortino, calmar, drawdown, trades, win rate, profit factor, exposure)")

    facts = session_facts(bars)
    p = np.ascontiguousarray(proba.to_numpy(dtype=np.float64, na_value=np.nan))
    btc = np.ascontiguousarray(facts.bars_to_close)
    o = np.ascontiguousarray(bars["open"].to_numpy(dtype=np.float64))
    c = np.ascontiguousarray(bars["close"].to_numpy(dtype=np.float64))
    params = np.array([tuple(map(float, k)) for k in df.index], dtype=np.float64)
    reference_nb(p[:100], btc[:100], 1.0, o[:100], c[:100], params[:2], QTY, FEE, INITIAL)
    t_ref, ref = best_of(lambda: reference_nb(p, btc, 1.0, o, c, params, QTY, FEE, INITIAL), args.repeat)
    ratio = t_sw / t_ref
    print(f"plain numba reference (next-open fills, fees, no stops, final equity + trade count): "
          f"{t_ref:.3f} s ({n_combos * n / t_ref:.2e} bar-evaluations/s)")
    print(f"sweep / reference: {ratio:.2f}x   target <= 3x: {'met' if ratio <= 3 else 'NOT met'}")
    diff = np.abs(ref[:, 0] - df["final_equity"].to_numpy()) / INITIAL
    same_trades = int(np.sum(ref[:, 1] == df["n_trades"].to_numpy()))
    print(f"agreement with the reference: max |final equity diff| / initial = {diff.max():.1e}; "
          f"trade counts equal in {same_trades}/{n_combos} combinations")

    breakdown(bars, p, btc, df, kw)

    if not args.no_backtrader:
        key = df.index[len(df) // 2]
        prm = dict(zip(df.index.names, key))
        sides = ProbabilityThresholdStrategy(**prm).sides(proba, bars).to_numpy()
        t_bt, value = backtrader_one(bars, sides)
        per_run = t_sw / n_combos
        print(f"backtrader, one combination {prm}: {t_bt:.2f} s; final value {value:,.2f} vs sweep "
              f"{float(df.loc[key, 'final_equity']):,.2f}")
        print(f"backtrader per run / sweep per run: {t_bt / per_run:,.0f}x   target > 1,000x: "
              f"{'met' if t_bt / per_run > 1000 else 'NOT met'}")


if __name__ == "__main__":
    main()
