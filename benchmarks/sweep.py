"""Sweep-engine speed: backtests per second over a >= 500-combination grid.

Prints, for :func:`engines.sweep.sweep` over a probability-threshold grid
(``long_threshold`` x ``short_threshold`` x ``min_holding``, 500 combinations)
on >= 100,000 one-minute bars:

- backtests per second and bar-evaluations (bars x combinations) per second;
- the ratio to two plain numba references written here, run in the same
  process, interleaved with the sweep (best of ``--repeat`` each): (a)
  :func:`reference_nb`, the same grid and signal rule
  (:func:`strategies._signals_nb.threshold_sides_nb`), fills at the next
  open, the same fees, no stops, final equity and trade count only -- the
  fills alone; (b) :func:`reference_metrics_nb`, the same loop plus the
  sweep's statistics and per-session returns computed online, i.e. the same
  work as the sweep (the script prints how closely its numbers agree with the
  sweep's) -- target: the sweep within 3x of (b); (a) is printed beside it
  as the floor of the fills alone;
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
import math
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


@njit(cache=True, parallel=True)
def reference_metrics_nb(p, btc, fb, open_, close, session_last, params, qty, fee, initial, ppy):
    """:func:`reference_nb` plus the sweep's statistics, computed online in the same loop.

    Per combination: per-bar returns ``E_t / E_{t-1} - 1`` folded into plain
    running sums (sum, sum of squares, downside sum of squares, compounded
    wealth, peak and trough for the maximum drawdown in ratio and in
    currency), bars held, closed trades' net PnL (count, wins, gains, losses),
    and the compounded return of every session (kept, sessions x
    combinations, as the sweep keeps it).  Columns: final equity, trade
    count, Sharpe, Sortino, max drawdown, Calmar, recovery factor, win rate,
    profit factor, expectancy, exposure.  The variance is the one-pass
    ``(sumsq - n * mean^2) / (n - 1)`` (the sweep's two-pass form agrees to
    about 1e-12 here); rf = 0.
    """
    out = np.empty((params.shape[0], 11))
    sess_ret = np.empty((session_last.shape[0], params.shape[0]))
    for c in prange(params.shape[0]):
        _reference_one_nb(threshold_sides_nb(p, params[c, 0], params[c, 1], int(params[c, 2]), btc, fb,
                                             True, np.empty(0), 0.5),
                          open_, close, session_last, qty, fee, initial, ppy, out[c], sess_ret[:, c])
    return out, sess_ret


@njit(cache=True)
def _reference_one_nb(sides, open_, close, session_last, qty, fee, initial, ppy, out, sess_ret):
    """One combination of :func:`reference_metrics_nb`: the fills of :func:`reference_nb`, statistics online."""
    n = open_.shape[0]
    eq, pos, mark, entry_cost, entry_px, trades = initial, 0, 0.0, 0.0, 0.0, 0
    wins = 0
    gains = 0.0
    losses = 0.0
    total = 0.0
    held = 0
    prev = initial
    s1 = 0.0
    s2 = 0.0
    down = 0.0
    wealth = 1.0
    peak = 1.0
    trough = 1.0
    mdd = 0.0
    peak_c = initial
    mdd_c = 0.0
    k = 0
    sess_prev = initial
    for i in range(n):
        if i > 0:
            want = sides[i - 1]
            if want != pos:
                px = open_[i]
                if pos != 0:
                    fee_out = fee * px * qty
                    eq += pos * qty * (px - mark) - fee_out
                    pnl = pos * qty * (px - entry_px) - entry_cost - fee_out
                    trades += 1
                    total += pnl
                    if pnl > 0.0:
                        wins += 1
                        gains += pnl
                    elif pnl < 0.0:
                        losses -= pnl
                if want != 0:
                    entry_cost = fee * px * qty
                    eq -= entry_cost
                    mark = px
                    entry_px = px
                pos = want
            if pos != 0:
                eq += pos * qty * (close[i] - mark)
                mark = close[i]
                held += 1
        r = eq / prev - 1.0
        prev = eq
        s1 += r
        s2 += r * r
        d = min(r, 0.0)
        down += d * d
        wealth *= 1.0 + r
        if wealth > peak:
            dd = trough / peak - 1.0
            mdd = min(mdd, dd)
            peak = wealth
            trough = wealth
        elif wealth < trough:
            trough = wealth
        if eq > peak_c:
            peak_c = eq
        mdd_c = min(mdd_c, eq - peak_c)
        if i == session_last[k]:
            sess_ret[k] = eq / sess_prev - 1.0
            sess_prev = eq
            k += 1
    mdd = min(mdd, trough / peak - 1.0)
    mean = s1 / n
    sd = np.sqrt(max((s2 - n * mean * mean) / (n - 1), 0.0))
    ann = wealth ** (ppy / n) - 1.0
    out[0] = eq
    out[1] = trades
    out[2] = mean / sd * np.sqrt(ppy) if sd > 0.0 else np.nan
    out[3] = mean / np.sqrt(down / n) * np.sqrt(ppy) if down > 0.0 else np.nan
    out[4] = mdd
    out[5] = ann / -mdd if mdd < 0.0 else np.nan
    out[6] = (eq - initial) / -mdd_c if mdd_c < 0.0 else np.nan
    out[7] = wins / trades if trades > 0 else np.nan
    out[8] = gains / losses if losses > 0.0 else np.nan
    out[9] = total / trades if trades > 0 else np.nan
    out[10] = held / n


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
    from engines._metrics_nb import N_TRADE_ACC
    from engines._sim_nb import N_COUNTERS, TRADE_DTYPE, simulate_into_nb
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
    eq, ret = np.empty(len(bars)), np.empty(len(bars))
    tacc = np.zeros(N_TRADE_ACC)

    def sim():  # the sweep's light run: no position array, no trade records (empty arrays)
        tacc[:] = 0.0
        return simulate_into_nb(o, h, lo, c, s, sess, 0, QTY, nan, float(lot), float(min_qty), bool(frac), nan,
                                0.0, 0.0, 0.0, 0, True, ml, mlf, int(mt), mp, float(spec.multiplier), 0.0, FEE,
                                0.0, float(spec.tick_size), INITIAL, False, 0.0, np.empty(0), eq,
                                np.empty(0, dtype=TRADE_DTYPE), np.zeros(N_COUNTERS, dtype=np.int64), tacc)

    _, held = sim()
    out = np.empty(snb.N_STATS)
    parts = [("sides (threshold_sides_nb)", sides), ("simulator (simulate_into_nb, no records)", sim),
             ("metrics (run_stats_nb: one pass over the equity + trade sums)",
              lambda: snb.run_stats_nb(eq, INITIAL, held, tacc, ppy, 0.0, ret, out))]
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

    facts = session_facts(bars)
    p = np.ascontiguousarray(proba.to_numpy(dtype=np.float64, na_value=np.nan))
    btc = np.ascontiguousarray(facts.bars_to_close)
    o = np.ascontiguousarray(bars["open"].to_numpy(dtype=np.float64))
    c = np.ascontiguousarray(bars["close"].to_numpy(dtype=np.float64))
    sess = np.asarray(facts.session)
    session_last = np.append(np.flatnonzero(sess[1:] != sess[:-1]), n - 1).astype(np.int64)
    df = sweep(bars, proba, GRID, **kw)
    ppy = float(df.attrs["periods_per_year"])
    params = np.array([tuple(map(float, k)) for k in df.index], dtype=np.float64)
    reference_nb(p[:100], btc[:100], 1.0, o[:100], c[:100], params[:2], QTY, FEE, INITIAL)
    reference_metrics_nb(p[:100], btc[:100], 1.0, o[:100], c[:100], np.array([99]), params[:2], QTY, FEE,
                         INITIAL, ppy)
    # interleaved, so that a burst of load on a shared machine hits all three alike
    t_sw = t_ref = t_refm = math.inf
    for _ in range(args.repeat):
        t, df = best_of(lambda: sweep(bars, proba, GRID, **kw), 1)
        t_sw = min(t_sw, t)
        t, ref = best_of(lambda: reference_nb(p, btc, 1.0, o, c, params, QTY, FEE, INITIAL), 1)
        t_ref = min(t_ref, t)
        t, (refm, ref_sess) = best_of(lambda: reference_metrics_nb(p, btc, 1.0, o, c, session_last, params, QTY,
                                                                    FEE, INITIAL, ppy), 1)
        t_refm = min(t_refm, t)
    print(f"sweep(): {t_sw:.3f} s for {n_combos} backtests x {n:,} bars -> "
          f"{n_combos / t_sw:,.0f} backtests/s, {n_combos * n / t_sw:.2e} bar-evaluations/s "
          f"(metrics: sharpe, sortino, calmar, drawdown, trades, win rate, profit factor, exposure; "
          f"per-session returns)")
    print(f"(a) plain numba reference, fills only (next-open fills, fees, no stops, final equity + trade "
          f"count): {t_ref:.3f} s ({n_combos * n / t_ref:.2e} bar-evaluations/s); "
          f"sweep / (a): {t_sw / t_ref:.2f}x")
    print(f"(b) plain numba reference, the same work (the fills of (a) + the same statistics and "
          f"per-session returns, online): {t_refm:.3f} s ({n_combos * n / t_refm:.2e} bar-evaluations/s); "
          f"sweep / (b): {t_sw / t_refm:.2f}x   target <= 3x: {'met' if t_sw / t_refm <= 3 else 'NOT met'}")
    diff = np.abs(ref[:, 0] - df["final_equity"].to_numpy()) / INITIAL
    same_trades = int(np.sum(ref[:, 1] == df["n_trades"].to_numpy()))
    print(f"agreement with (a): max |final equity diff| / initial = {diff.max():.1e}; "
          f"trade counts equal in {same_trades}/{n_combos} combinations")
    cols = ["final_equity", "n_trades", "sharpe", "sortino", "max_drawdown", "calmar", "recovery_factor",
            "win_rate", "profit_factor", "expectancy", "exposure"]
    got = df[cols].to_numpy(dtype=np.float64)
    scale = np.maximum(1.0, np.abs(got))
    rel = np.nanmax(np.abs(refm - got) / scale, axis=0)
    sess_diff = np.abs(ref_sess - np.asarray(df.attrs["session_returns"]["values"])).max()
    print("agreement with (b), max |diff| / max(1, |value|): "
          + ", ".join(f"{k} {v:.0e}" for k, v in zip(cols, rel)) + f"; session returns {sess_diff:.0e}")

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
