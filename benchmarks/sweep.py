"""Sweep speed: the three ratios of issue 13, item 6, each measured in the same run.

A 500-combination grid (``long_threshold`` x ``short_threshold`` x
``min_holding``) over >= 100,000 real one-minute bars, no stops, fixed size,
fees: the grid :func:`engines.sweep.sweep` runs through its fused one-pass
kernel (:func:`engines._sweep_nb.sweep_fast_nb`).  The script prints:

1. **sweep / plain numba loop** (target <= 3x).  The reference
   :func:`reference_nb` is written here and does only what the issue names:
   the same signal rule (:func:`strategies._signals_nb.threshold_sides_nb`),
   fills at the next open, fees per leg, final equity and trade count -- no
   statistics, no session returns, no validation.  The sweep's time is the
   whole :func:`engines.sweep.sweep` call (checks, calendar, metrics,
   per-session returns, the DataFrame).  A second reference,
   :func:`reference_metrics_nb`, adds the sweep's statistics computed online;
   it is printed as a cross-check of the sweep's numbers (they must agree),
   not as a target.
2. **vectorbt ``Portfolio.from_signals`` / sweep** on the same grid (target
   >= 35x).  vectorbt gets every combination as a column: long and short
   entry / exit arrays built from the same sides (shifted one bar, filled at
   the open, ``upon_opposite_entry="reverse"``), the same size and fees.
   Building those arrays is *not* timed (it favours vectorbt).  Printed: the
   ratio for ``from_signals`` alone, and for ``from_signals`` plus four of the
   statistics the sweep returns (final value, Sharpe, max drawdown, trade
   count); and the largest final-equity difference, as proof it ran the same
   trades.
3. **two threads / one thread** for the sweep (target >= 1.7x on an idle
   machine), beside the plain reference's own scaling on this machine: a
   2-vCPU virtual machine shared with others rarely gives 2x to anything.
4. For scale: backtrader's time for ONE combination (a minimal strategy
   trading the precomputed sides at the next open) against the sweep's time
   per combination.

Every timing is the best of ``--repeat`` runs, interleaved so that a burst of
load on a shared machine hits them alike.

Data: real Binance FILUSDT 1-minute bars, the 3-month file (131,040 bars) of
``../shared/data`` when present, else the bundled 7-day sample repeated back to
back (timestamps shifted) up to ``--bars``.  The probability is a causal
rolling z-score of the close squashed to (0, 1) (deterministic, no model).

    python -m benchmarks.sweep [--bars 131040] [--repeat 3] [--no-vectorbt] [--no-backtrader]
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
    from engines.contexts import ThresholdInputs, exec_context, rules_context, sim_bars
    from engines.simulate import Costs, Sizing, Stops
    from engines.metrics import periods_per_year
    from engines.simulate import _prices
    from risk.limits import DailyLimits
    from risk.sizing import get_contract

    key = dict(zip(df.index.names, df.index[len(df) // 2]))
    facts = session_facts(bars)
    o, h, lo, c = _prices(bars)
    sess = np.ascontiguousarray(facts.session, dtype=np.int64)
    spec = get_contract(kw["contract"])
    sim_b = sim_bars(o, h, lo, c, sess)
    ex = exec_context(spec, Costs(commission_pct=FEE), INITIAL)
    ru = rules_context(Sizing(contracts=QTY), Stops(), DailyLimits())
    ppy = periods_per_year(bars)

    def sides():
        return threshold_sides_nb(p, float(key["long_threshold"]), float(key["short_threshold"]),
                                  int(key["min_holding"]), btc, 1.0, True, np.empty(0), 0.5)

    s = sides()
    eq, ret = np.empty(len(bars)), np.empty(len(bars))
    tacc = np.zeros(N_TRADE_ACC)

    def sim():  # the sweep's light run: no position array, no trade records (empty arrays)
        tacc[:] = 0.0
        return simulate_into_nb(sim_b, s, ex, ru, np.empty(0), eq, np.empty(0, dtype=TRADE_DTYPE),
                                np.zeros(N_COUNTERS, dtype=np.int64), tacc)

    _, held = sim()
    out = np.empty(snb.N_STATS)
    parts = [("sides (threshold_sides_nb)", sides), ("simulator (simulate_into_nb, no records)", sim),
             ("metrics (run_stats_nb: one pass over the equity + trade sums)",
              lambda: snb.run_stats_nb(eq, INITIAL, held, tacc, ppy, 0.0, ret, out))]
    msg = []
    for name, fn in parts:
        t, _ = best_of(fn, 10)
        msg.append(f"{name} {t * 1e3:.2f} ms")
    import numba

    one = np.zeros((1, snb.N_PARAMS))
    one[0, :3] = key["long_threshold"], key["short_threshold"], key["min_holding"]
    sl = np.append(np.flatnonzero(sess[1:] != sess[:-1]), len(sess) - 1).astype(np.int64)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    sig = ThresholdInputs(p, btc, 1.0, True, np.empty(0), 0.5)
    t_fused, _ = best_of(lambda: snb.sweep_fast_nb(sig, sim_b, ex, QTY, True, one, ppy, 0.0, sl), 10)
    numba.set_num_threads(before)
    print(f"per combination, one thread: fused kernel (sides, fills and statistics in one pass, what this "
          f"grid runs) {t_fused * 1e3:.2f} ms; the general kernel's stages (grids with stops, sizing or "
          f"limits): " + "; ".join(msg))


def vectorbt_signals(bars, proba, params):
    """Long / short entry and exit arrays (bars x combinations) of the sweep's sides, executed a bar later."""
    facts = session_facts(bars)
    p = np.ascontiguousarray(proba.to_numpy(dtype=np.float64, na_value=np.nan))
    btc = np.ascontiguousarray(facts.bars_to_close)
    n, m = len(bars), len(params)
    tgt = np.zeros((n, m), dtype=np.int8)
    for j in range(m):
        tgt[1:, j] = threshold_sides_nb(p, params[j, 0], params[j, 1], int(params[j, 2]), btc, 1.0, True,
                                        np.empty(0), 0.5)[:-1]
    prev = np.zeros_like(tgt)
    prev[1:] = tgt[:-1]
    return dict(entries=(tgt == 1) & (prev != 1), exits=(tgt != 1) & (prev == 1),
                short_entries=(tgt == -1) & (prev != -1), short_exits=(tgt != -1) & (prev == -1))


def vectorbt_run(bars, signals, with_stats):
    """``vbt.Portfolio.from_signals`` on every column; optionally four of its statistics."""
    import vectorbt as vbt

    idx = bars.index.tz_convert("UTC").tz_localize(None)
    close = pd.Series(bars["close"].to_numpy(np.float64), index=idx)
    pf = vbt.Portfolio.from_signals(close, price=bars["open"].to_numpy(np.float64)[:, None], size=QTY,
                                    size_type="amount", fees=FEE, init_cash=INITIAL, freq="1min",
                                    accumulate=False, upon_opposite_entry="reverse", **signals)
    if with_stats:
        return pf, (pf.final_value(), pf.sharpe_ratio(), pf.max_drawdown(), pf.trades.count())
    return pf, None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=131_040)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-vectorbt", action="store_true")
    ap.add_argument("--no-backtrader", action="store_true")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    import numba

    bars, source = make_bars(args.bars)
    n = len(bars)
    proba = pseudo_proba(bars)
    n_combos = int(np.prod([len(v) for v in GRID.values()]))
    threads = numba.config.NUMBA_NUM_THREADS
    print(f"data: {source} -> {n:,} bars; grid: {n_combos} combinations; {os.cpu_count()} cores, "
          f"{threads} numba threads; python {platform.python_version()}, numpy {np.__version__}, "
          f"pandas {pd.__version__}, numba {numba.__version__}")
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

    def run_sweep():
        return sweep(bars, proba, GRID, **kw)

    def run_ref():
        return reference_nb(p, btc, 1.0, o, c, params, QTY, FEE, INITIAL)

    # sweep, reference (a) and (b) at every thread count, interleaved
    t = {}
    for _ in range(args.repeat):
        for nt in sorted({1, threads}, reverse=True):
            numba.set_num_threads(nt)
            for name, fn in (("sweep", run_sweep), ("ref", run_ref),
                             ("refm", lambda: reference_metrics_nb(p, btc, 1.0, o, c, session_last, params, QTY,
                                                                   FEE, INITIAL, ppy))):
                if name == "refm" and nt != threads:
                    continue
                dt, out = best_of(fn, 1)
                if (name, nt) not in t or dt < t[(name, nt)][0]:
                    t[(name, nt)] = (dt, out)
    numba.set_num_threads(threads)
    t_sw, df = t[("sweep", threads)]
    t_ref, ref = t[("ref", threads)]
    t_refm, (refm, ref_sess) = t[("refm", threads)]
    print(f"sweep(): {t_sw:.3f} s for {n_combos} backtests x {n:,} bars -> {n_combos / t_sw:,.0f} backtests/s, "
          f"{n_combos * n / t_sw:.2e} bar-evaluations/s (kernel: {df.attrs['kernel']}; metrics: sharpe, "
          f"sortino, calmar, drawdown, trades, win rate, profit factor, exposure; per-session returns)")
    print(f"1. plain numba loop (next-open fills, fees, final equity + trade count, nothing else): "
          f"{t_ref:.3f} s; sweep / plain loop: {t_sw / t_ref:.2f}x   "
          f"target <= 3x: {'met' if t_sw / t_ref <= 3 else 'NOT met'}")
    diff = np.abs(ref[:, 0] - df["final_equity"].to_numpy()) / INITIAL
    same_trades = int(np.sum(ref[:, 1] == df["n_trades"].to_numpy()))
    print(f"   agreement: max |final equity diff| / initial = {diff.max():.1e}; trade counts equal in "
          f"{same_trades}/{n_combos} combinations")
    cols = ["final_equity", "n_trades", "sharpe", "sortino", "max_drawdown", "calmar", "recovery_factor",
            "win_rate", "profit_factor", "expectancy", "exposure"]
    got = df[cols].to_numpy(dtype=np.float64)
    rel = np.nanmax(np.abs(refm - got) / np.maximum(1.0, np.abs(got)), axis=0)
    sess_diff = np.abs(ref_sess - np.asarray(df.attrs["session_returns"]["values"])).max()
    print(f"   cross-check: the plain loop plus the same statistics online ({t_refm:.3f} s; sweep / it "
          f"{t_sw / t_refm:.2f}x) agrees, max |diff| / max(1, |value|): "
          + ", ".join(f"{k} {v:.0e}" for k, v in zip(cols, rel)) + f"; session returns {sess_diff:.0e}")

    if not args.no_vectorbt:
        t_b = time.perf_counter()
        sig = vectorbt_signals(bars, proba, params)
        t_b = time.perf_counter() - t_b
        small = {k: v[:2000, :2] for k, v in sig.items()}
        vectorbt_run(bars.iloc[:2000], small, True)  # compile vectorbt's numba functions first
        t_pf = t_st = math.inf
        for _ in range(max(1, args.repeat - 1)):
            dt, _ = best_of(lambda: vectorbt_run(bars, sig, False), 1)
            t_pf = min(t_pf, dt)
            dt, (pf, stats) = best_of(lambda: vectorbt_run(bars, sig, True), 1)
            t_st = min(t_st, dt)
        fe = stats[0].to_numpy(dtype=np.float64)
        vdiff = np.abs(fe - df["final_equity"].to_numpy()).max() / INITIAL
        vtr = int(np.sum(stats[3].to_numpy() == df["n_trades"].to_numpy()))
        print(f"2. vectorbt Portfolio.from_signals, {n_combos} columns (signal arrays built beforehand in "
              f"{t_b:.1f} s, not timed): {t_pf:.2f} s; vectorbt / sweep: {t_pf / t_sw:.1f}x   "
              f"target >= 35x: {'met' if t_pf / t_sw >= 35 else 'NOT met'}")
        print(f"   with final value, Sharpe, max drawdown and trade count: {t_st:.2f} s; "
              f"vectorbt / sweep: {t_st / t_sw:.1f}x; agreement: max |final equity diff| / initial "
              f"{vdiff:.1e}, trade counts equal in {vtr}/{n_combos}")
        del pf, stats, sig

    if threads > 1:
        s1, sn = t[("sweep", 1)][0], t[("sweep", threads)][0]
        r1, rn = t[("ref", 1)][0], t[("ref", threads)][0]
        print(f"3. threads: sweep {s1:.3f} s on 1, {sn:.3f} s on {threads}: {s1 / sn:.2f}x   target >= 1.7x "
              f"(idle machine): {'met' if s1 / sn >= 1.7 else 'NOT met'}; the plain loop on this machine: "
              f"{r1 / rn:.2f}x (its ceiling now)")
    else:
        print("3. threads: one numba thread on this machine; no scaling to measure")

    breakdown(bars, p, btc, df, kw)

    if not args.no_backtrader:
        key = df.index[len(df) // 2]
        prm = dict(zip(df.index.names, key))
        sides = ProbabilityThresholdStrategy(**prm).sides(proba, bars).to_numpy()
        t_bt, value = backtrader_one(bars, sides)
        per_run = t_sw / n_combos
        print(f"4. backtrader, one combination {prm}: {t_bt:.2f} s; final value {value:,.2f} vs sweep "
              f"{float(df.loc[key, 'final_equity']):,.2f}; backtrader per run / sweep per run: "
              f"{t_bt / per_run:,.0f}x")


if __name__ == "__main__":
    main()
