"""Monte Carlo robustness checks of a backtest: trade bootstrap, block bootstrap, random-entry null.

:func:`monte_carlo` takes a :class:`~engines.simulate.SimResult` (or, for the
block bootstrap, plain per-bar returns) and draws ``n`` alternative histories
with one of three methods:

``"trades"``
    Bootstrap of the closed trades: the sequence of net trade PnL (currency)
    is resampled with replacement (same number of trades), and a trade-level
    equity curve ``E_k = E_0 + cumsum(pnl)`` is rebuilt from the initial
    equity.  Per-trade returns ``r_k = pnl_k / E_{k-1}`` compound exactly to
    that curve; ``final_return = sum(pnl) / E_0`` (so its expectation over the
    draws is the real one), ``max_drawdown`` is the drawdown of the
    trade-level curve (intra-trade drawdowns are invisible to it) and
    ``sharpe`` is the Sharpe ratio of ``r_k`` annualised with the observed
    trade frequency ``n_trades * periods_per_year / n_bars`` trades a year.
``"block"``
    Stationary block bootstrap (Politis and Romano 1994) of the per-bar
    returns with :class:`arch.bootstrap.StationaryBootstrap`; mean block
    length from :func:`arch.bootstrap.optimal_block_length` (Politis and
    White 2004, its ``"stationary"`` column, rounded up) unless
    ``block_length`` is given.  Blocks ignore session boundaries: a block may
    join the end of one session to the start of another (the returns, not the
    positions, are resampled, so no position crosses a close).
``"random_entry"``
    Null model of no skill: the same number of trades with the same holding
    times (and sizes) are placed at random, non-overlapping bars, each
    inside one session (entry and exit in the same session, never across a
    close); sides are random (``null_sides="random"``, +1 / -1 with equal
    odds) or the real ones (``"same"``).  Each null trade fills at the
    bars' actual prices, as the real one did: entry at the entry bar's open
    (its close for a trade the engine filled on a close), exit at the exit
    bar's open for exits the engine filled at an open (signal, time stop),
    else at the exit bar's close (session backstop, end of data; stops and
    takes filled inside the bar are approximated by the bar's close).  The
    per-bar equity is marked to market at each close exactly as the engine
    does, so ``sharpe``, ``max_drawdown`` and ``final_return`` of the null
    and of the real trades (rebuilt the same way from their actual fills)
    are comparable.

All three report the Sharpe ratio, the maximum drawdown and the final
(total) return of every draw, their quantiles and the real values, with the
one definition of :mod:`engines.metrics` (its numba kernels).

Cost approximation of the random-entry null
-------------------------------------------
Each null trade pays the commission its real counterpart paid (the trades
table's ``costs``, both legs; with a percentage commission the notional of
the null trade differs from the real one by the price change only, a
second-order difference) and the adverse slippage of the run's cost config,
``slippage_ticks * tick_size`` points on each leg, not clipped to the bar's
range (the engine clips it to [low, high], PITFALLS 7).  In the equity curve
the commission is charged half at the entry bar and half at the exit bar
(all at the entry bar for the open ``"end"`` trade, which has no exit leg).

p-values
--------
``"random_entry"``: the share of null draws at least as good as the real
value, with +1 smoothing, ``(1 + #{null >= real}) / (n + 1)`` for ``sharpe``,
``final_return`` and ``max_drawdown`` (a less negative drawdown is better):
small values say the real strategy beats random entries with its own
holding times and costs.  ``"trades"`` and ``"block"`` resample the
strategy's own results, so there is no null to beat; their ``p_values`` are
the bootstrap probability of a non-positive result, ``(1 + #{draw <= 0}) /
(n + 1)`` for ``sharpe`` and ``final_return``.  Every p-value lies in (0, 1].

Reproducibility and scale
-------------------------
Draws are made in batches of ``batch_size``; batch ``b`` uses the generator
seeded by the ``b``-th child of ``numpy.random.SeedSequence(seed)``, so the
draws depend on ``seed`` (and ``batch_size``) only, never on ``n_jobs``.
Batches run through :class:`joblib.Parallel` (``n_jobs``), so a cluster
backend (``joblib.parallel_config(backend="dask")``) needs no code change.

References
----------
.. [1] Politis, D. N. and Romano, J. P. (1994). "The Stationary Bootstrap".
   *Journal of the American Statistical Association* 89(428), 1303-1313.
.. [2] Politis, D. N. and White, H. (2004). "Automatic Block-Length Selection
   for the Dependent Bootstrap". *Econometric Reviews* 23(1), 53-70.
.. [3] Aronson, D. (2006). *Evidence-Based Technical Analysis*, ch. 5 (Monte
   Carlo permutation of entries as a null of no skill).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from engines import _metrics_nb as mnb
from ml._checks import check_choice
from ml.exceptions import ParameterError

__all__ = ["METHODS", "MC_METRICS", "QUANTILES", "MonteCarloResult", "monte_carlo"]

#: Methods of :func:`monte_carlo`.
METHODS = ("trades", "block", "random_entry")
#: Metrics drawn by every method, in order.
MC_METRICS = ("sharpe", "max_drawdown", "final_return")
#: Quantile levels reported in :attr:`MonteCarloResult.quantiles`.
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class MonteCarloResult:
    """What :func:`monte_carlo` returns.

    Attributes
    ----------
    method : str
        ``"trades"``, ``"block"`` or ``"random_entry"``.
    n : int
        Number of draws.
    seed : int
        Seed of the draws.
    draws : dict of str to ndarray of shape (n,)
        Raw draws of ``"sharpe"``, ``"max_drawdown"`` (negative fraction) and
        ``"final_return"``.
    real : dict of str to float
        The same metrics of the real result, computed the way the draws are.
    quantiles : DataFrame of shape (5, 3)
        Index :data:`QUANTILES` (0.05 ... 0.95), columns :data:`MC_METRICS`;
        NaN draws are ignored.
    p_values : dict of str to float
        See the module's notes: vs the null for ``"random_entry"``, the
        bootstrap probability of a non-positive result otherwise.
    meta : dict
        Facts of the run: ``periods_per_year`` used, ``block_length``,
        ``n_trades``, ``batch_size``, ``null_sides``, ...
    """

    method: str
    n: int
    seed: int
    draws: dict
    real: dict
    quantiles: pd.DataFrame
    p_values: dict
    meta: dict = field(default_factory=dict)

    @property
    def sharpe(self) -> np.ndarray:
        return self.draws["sharpe"]

    @property
    def max_drawdown(self) -> np.ndarray:
        return self.draws["max_drawdown"]

    @property
    def final_return(self) -> np.ndarray:
        return self.draws["final_return"]


# --------------------------------------------------------------------------- helpers


def _check_int(name, value, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int >= {minimum}, got {type(value).__name__} {value!r}.")
    if value < minimum:
        raise ParameterError(f"`{name}` must be an int >= {minimum}, got {value!r}.")
    return int(value)


def _metrics_of(returns: np.ndarray, ppy: float) -> tuple[float, float, float]:
    """(sharpe, max_drawdown, final_return) of one return path (engines.metrics kernels)."""
    r = np.ascontiguousarray(returns, dtype=np.float64)
    if len(r) == 0 or not np.isfinite(r).all():
        return math.nan, math.nan, math.nan
    return (float(mnb.sharpe_ratio_nb(r, ppy, 0.0)), float(mnb.max_drawdown_nb(r)),
            float(mnb.total_return_nb(r)))


def _smoothed_share(count: int, n: int) -> float:
    return (1.0 + count) / (n + 1.0)


def _is_sim_result(obj) -> bool:
    return all(hasattr(obj, a) for a in ("returns", "trades", "equity", "meta"))


def _batches(n: int, batch_size: int, seed: int):
    children = np.random.SeedSequence(seed).spawn(math.ceil(n / batch_size))
    sizes = [min(batch_size, n - b * batch_size) for b in range(len(children))]
    return list(zip(children, sizes))


def _run_batches(fn, args, n, batch_size, seed, n_jobs):
    jobs = _batches(n, batch_size, seed)
    parts = Parallel(n_jobs=n_jobs)(delayed(fn)(*args, child, size) for child, size in jobs)
    return np.concatenate(parts, axis=0) if parts else np.empty((0, 3))


# --------------------------------------------------------------------------- trade bootstrap


def _trade_returns(pnl: np.ndarray, e0: float) -> np.ndarray:
    """Per-trade returns of the trade-level curve ``E_k = E_0 + cumsum(pnl)``."""
    equity = e0 + np.cumsum(pnl)
    prev = np.concatenate(([e0], equity[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(prev > 0, pnl / prev, np.nan)


def _trades_batch(pnl, e0, ppy_trades, child, size):
    rng = np.random.default_rng(child)
    k = len(pnl)
    out = np.empty((size, 3))
    idx = rng.integers(0, k, size=(size, k))
    for d in range(size):
        out[d] = _metrics_of(_trade_returns(pnl[idx[d]], e0), ppy_trades)
    return out


# --------------------------------------------------------------------------- block bootstrap


def _block_batch(returns, block_length, ppy, child, size):
    from arch.bootstrap import StationaryBootstrap

    bs = StationaryBootstrap(block_length, returns, seed=np.random.default_rng(child))
    out = np.empty((size, 3))
    for d, (pos, _kw) in enumerate(bs.bootstrap(size)):
        out[d] = _metrics_of(pos[0], ppy)
    return out


# --------------------------------------------------------------------------- random entries


@dataclass(frozen=True)
class _TradeSet:
    """Arrays of one set of trades, enough to mark them to market bar by bar."""

    entry: np.ndarray        # entry bar
    exit: np.ndarray         # exit bar
    signed_qty: np.ndarray   # side * qty
    entry_px: np.ndarray
    exit_px: np.ndarray
    exit_at_close: np.ndarray  # bool: exit filled at (or approximated by) the bar's close / intrabar
    entry_cost: np.ndarray
    exit_cost: np.ndarray


def _bar_returns(ts: _TradeSet, close: np.ndarray, mult: float, e0: float) -> np.ndarray:
    """Per-bar returns of the equity marked to market at each close (as the engine marks it).

    A trade entered at bar ``e`` and left at bar ``x > e`` earns, in points times
    ``signed_qty * mult``: ``close[e] - entry_px`` on bar ``e``, the close-to-close
    move on each bar it holds through, and ``exit_px - close[x - 1]`` on bar ``x``
    (for close / intrabar exits written as the close-to-close move of bar ``x``
    plus ``exit_px - close[x]``); a trade left on its entry bar earns
    ``exit_px - entry_px`` there.  Entry and exit costs are charged on the bars
    of their legs.  Equity is ``E_0 + cumsum(pnl)``, returns ``E_t / E_{t-1} - 1``.
    """
    n = len(close)
    sq_m = ts.signed_qty * mult
    pnl = np.zeros(n)
    same = ts.exit == ts.entry
    # Bars held through their close: e+1 .. x-1 (open exit) or e+1 .. x (close exit).
    last_held = np.where(ts.exit_at_close, ts.exit, ts.exit - 1)
    diff = np.zeros(n + 1)
    hold = ~same & (last_held >= ts.entry + 1)
    np.add.at(diff, ts.entry[hold] + 1, sq_m[hold])
    np.add.at(diff, last_held[hold] + 1, -sq_m[hold])
    pos = np.cumsum(diff)[:n]
    pnl[1:] += pos[1:] * (close[1:] - close[:-1])
    # Entry bar and exit bar adjustments.
    ne = ~same
    np.add.at(pnl, ts.entry[ne], sq_m[ne] * (close[ts.entry[ne]] - ts.entry_px[ne]))
    ref = np.where(ts.exit_at_close, close[ts.exit], close[np.maximum(ts.exit - 1, 0)])
    np.add.at(pnl, ts.exit[ne], sq_m[ne] * (ts.exit_px[ne] - ref[ne]))
    np.add.at(pnl, ts.entry[same], sq_m[same] * (ts.exit_px[same] - ts.entry_px[same]))
    np.add.at(pnl, ts.entry, -ts.entry_cost)
    np.add.at(pnl, ts.exit, -ts.exit_cost)
    equity = e0 + np.cumsum(pnl)
    prev = np.concatenate(([e0], equity[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(prev > 0, equity / prev - 1.0, np.nan)


def _segments(session: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last bar position of each run of equal session numbers."""
    change = np.flatnonzero(np.diff(session) != 0) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change - 1, [len(session) - 1]))
    return starts.astype(np.int64), ends.astype(np.int64)


def _place(rng, foot: np.ndarray, seg_start: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Random non-overlapping starts for footprints ``foot`` inside the segments.

    Trades are assigned to sessions largest first, each to a session with room
    for it drawn with probability proportional to the room left; inside a
    session the assigned footprints are put in a random order with uniformly
    random gaps (stars and bars).
    """
    k = len(foot)
    perm = rng.permutation(k)
    order = perm[np.argsort(-foot[perm], kind="stable")]
    room = capacity.astype(np.float64).copy()
    seg_of = np.empty(k, dtype=np.int64)
    for j in order:
        w = np.where(room >= foot[j], room, 0.0)
        total = w.sum()
        if total <= 0:
            raise ParameterError(
                f"the random-entry null cannot place {k} non-overlapping trades with these holding "
                f"times inside the sessions (a trade of {int(foot[j])} bars found no room); the "
                "strategy is in the market almost all the time, so entries cannot be randomised."
            )
        s = int(np.searchsorted(np.cumsum(w), rng.random() * total, side="right"))
        s = min(s, len(w) - 1)
        seg_of[j] = s
        room[s] -= foot[j]
    starts = np.empty(k, dtype=np.int64)
    for s in np.unique(seg_of):
        members = rng.permutation(np.flatnonzero(seg_of == s))
        f = foot[members]
        free = int(capacity[s] - f.sum())
        m = len(members)
        p = np.sort(rng.choice(free + m, size=m, replace=False))
        offsets = np.concatenate(([0], np.cumsum(f)[:-1]))
        starts[members] = seg_start[s] + (p - np.arange(m)) + offsets
    return starts


def _random_entry_batch(spec, child, size):
    rng = np.random.default_rng(child)
    o, c = spec["open"], spec["close"]
    hold, at_close, qty, sides = spec["hold"], spec["at_close"], spec["qty"], spec["sides"]
    foot = np.where(at_close, hold + 1, hold)
    slip = spec["slip"]
    out = np.empty((size, 3))
    for d in range(size):
        e = _place(rng, foot, spec["seg_start"], spec["capacity"])
        x = e + hold
        side = rng.choice(np.array([-1.0, 1.0]), size=len(e)) if spec["random_sides"] else sides
        entry_ref = np.where(spec["entry_at_close"], c[e], o[e])
        exit_ref = np.where(at_close, c[x], o[x])
        ts = _TradeSet(entry=e, exit=x, signed_qty=side * qty,
                       entry_px=entry_ref + side * slip, exit_px=exit_ref - side * slip,
                       exit_at_close=at_close, entry_cost=spec["entry_cost"],
                       exit_cost=spec["exit_cost"])
        out[d] = _metrics_of(_bar_returns(ts, c, spec["mult"], spec["e0"]), spec["ppy"])
    return out


def _random_entry_spec(result, bars, null_sides, ppy):
    from strategies import session_facts

    if bars is None:
        raise ParameterError("method='random_entry' needs `bars`, the bars the result was simulated on "
                             "(null trades fill at their prices).")
    if not isinstance(bars, pd.DataFrame) or not {"open", "close"} <= set(bars.columns):
        raise TypeError("`bars` must be a DataFrame with 'open' and 'close' columns.")
    if len(bars) != len(result.returns) or not bars.index.equals(result.returns.index):
        raise ParameterError(f"`bars` ({len(bars)} rows) must be the bars the result was simulated on "
                             f"({len(result.returns)} bars, same index).")
    trades = result.trades
    if len(trades) == 0:
        raise ParameterError("the result has no trades; the random-entry null needs at least one.")
    meta = result.meta
    facts = session_facts(bars, calendar=meta.get("calendar"), bar_minutes=meta.get("bar_minutes"))
    seg_start, seg_end = _segments(facts.session)
    o = bars["open"].to_numpy(dtype=np.float64)
    c = bars["close"].to_numpy(dtype=np.float64)
    entry = trades["entry_idx"].to_numpy(dtype=np.int64)
    exit_ = trades["exit_idx"].to_numpy(dtype=np.int64)
    at_close = (trades["exit_slot"].astype(str) != "open").to_numpy()
    closed = trades["closed"].to_numpy(dtype=bool)
    costs = trades["costs"].to_numpy(dtype=np.float64)
    entry_cost = np.where(closed, costs / 2.0, costs)
    exit_cost = costs - entry_cost
    sides = trades["side"].to_numpy(dtype=np.float64)
    qty = trades["qty"].to_numpy(dtype=np.float64)
    mult = float(meta["multiplier"])
    e0 = float(meta["initial_equity"])
    real_ts = _TradeSet(entry=entry, exit=exit_, signed_qty=sides * qty,
                        entry_px=trades["entry_price"].to_numpy(dtype=np.float64),
                        exit_px=trades["exit_price"].to_numpy(dtype=np.float64),
                        exit_at_close=at_close, entry_cost=entry_cost, exit_cost=exit_cost)
    slip_ticks = float((meta.get("costs") or {}).get("slippage_ticks", 0.0))
    spec = dict(
        open=o, close=c, hold=exit_ - entry, at_close=at_close, qty=qty, sides=sides,
        entry_at_close=(trades["entry_slot"].astype(str) != "open").to_numpy(),
        entry_cost=entry_cost, exit_cost=exit_cost, mult=mult, e0=e0, ppy=ppy,
        slip=slip_ticks * float(meta.get("tick_size", 0.0)),
        seg_start=seg_start,
        # Footprints live in [first bar, last bar) of each session: the last bar is kept for exits
        # at its open, so no null position is held over a close.
        capacity=np.maximum(seg_end - seg_start, 0),
        random_sides=null_sides == "random",
    )
    real_returns = _bar_returns(real_ts, c, mult, e0)
    return spec, real_returns


# --------------------------------------------------------------------------- public function


def monte_carlo(result_or_returns, *, method="trades", n=1000, seed=0, periods_per_year=None,
                bars=None, block_length=None, null_sides="random", batch_size=100,
                n_jobs=1) -> MonteCarloResult:
    """Monte Carlo distribution of Sharpe, maximum drawdown and final return of a backtest.

    Parameters
    ----------
    result_or_returns : SimResult, or Series / 1-D array of float
        A :func:`engines.simulate.simulate` result (all methods), or per-bar
        simple returns (``method="block"`` only; then ``periods_per_year`` is
        required).
    method : {"trades", "block", "random_entry"}, default "trades"
        See the module's notes.
    n : int, default 1000
        Number of draws.
    seed : int, default 0
        Seed of ``numpy.random.SeedSequence``; same seed, same draws.
    periods_per_year : float, optional
        Bars a year; default ``result.meta["periods_per_year"]`` (from the
        session calendar).
    bars : DataFrame, optional
        The bars the result was simulated on; required for ``"random_entry"``.
    block_length : float, optional
        Mean block length of the stationary bootstrap; default
        ``ceil(optimal_block_length(returns)["stationary"])``, at least 1.
    null_sides : {"random", "same"}, default "random"
        Sides of the random-entry null trades.
    batch_size : int, default 100
        Draws per joblib task (part of the seed's meaning).
    n_jobs : int, default 1
        joblib workers (-1: all cores).

    Returns
    -------
    MonteCarloResult

    Raises
    ------
    ParameterError
        Bad parameters; no trades; returns instead of a result for a method
        that needs trades; a strategy too often in the market to place random
        entries.
    """
    method = check_choice("method", method, METHODS)
    null_sides = check_choice("null_sides", null_sides, ("random", "same"))
    n = _check_int("n", n, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ParameterError(f"`seed` must be an int >= 0, got {seed!r}.")
    seed = int(seed)
    is_result = _is_sim_result(result_or_returns)
    if not is_result and method != "block":
        raise ParameterError(f"method={method!r} needs a SimResult (trades, fills, equity); plain returns "
                             "support method='block' only.")
    if is_result:
        res = result_or_returns
        returns = res.returns.to_numpy(dtype=np.float64)
        ppy = periods_per_year if periods_per_year is not None else res.meta.get("periods_per_year")
    else:
        if isinstance(result_or_returns, pd.DataFrame):
            raise TypeError("`result_or_returns` must be a SimResult or one series of returns, "
                            "got a DataFrame.")
        returns = np.asarray(result_or_returns.to_numpy() if isinstance(result_or_returns, pd.Series)
                             else result_or_returns, dtype=np.float64)
        if returns.ndim != 1:
            raise ParameterError(f"`result_or_returns` must be 1-D, got shape {returns.shape}.")
        ppy = periods_per_year
    if ppy is None:
        raise ParameterError("`periods_per_year` is required with plain returns; take it from the "
                             "session calendar, e.g. engines.metrics.periods_per_year(bars).")
    if isinstance(ppy, (bool, np.bool_)) or not isinstance(ppy, numbers.Real) or not (
            math.isfinite(ppy) and ppy > 0):
        raise ParameterError(f"`periods_per_year` must be a finite number > 0, got {ppy!r}.")
    ppy = float(ppy)
    if len(returns) < 2 or not np.isfinite(returns).all():
        raise ParameterError("the returns must hold at least 2 finite values (NaN is never read as 0).")
    meta = {"periods_per_year": ppy, "batch_size": batch_size, "n_jobs": n_jobs}

    if method == "trades":
        closed = res.trades.loc[res.trades["closed"].astype(bool)] if len(res.trades) else res.trades
        pnl = closed["net_pnl"].to_numpy(dtype=np.float64) if len(closed) else np.empty(0)
        if len(pnl) < 2:
            raise ParameterError(f"the trade bootstrap needs at least 2 closed trades, got {len(pnl)}.")
        e0 = float(res.meta["initial_equity"])
        ppy_trades = len(pnl) * ppy / len(returns)
        real = _metrics_of(_trade_returns(pnl, e0), ppy_trades)
        draws = _run_batches(_trades_batch, (pnl, e0, ppy_trades), n, batch_size, seed, n_jobs)
        meta.update(n_trades=len(pnl), trades_per_year=ppy_trades, initial_equity=e0)
    elif method == "block":
        from arch.bootstrap import optimal_block_length

        if block_length is None:
            opt = float(optimal_block_length(returns)["stationary"].iloc[0])
            block_length = max(1, math.ceil(opt)) if math.isfinite(opt) else 1
        elif isinstance(block_length, (bool, np.bool_)) or not isinstance(block_length, numbers.Real) \
                or not (math.isfinite(block_length) and block_length >= 1):
            raise ParameterError(f"`block_length` must be a number >= 1 (bars), got {block_length!r}.")
        real = _metrics_of(returns, ppy)
        draws = _run_batches(_block_batch, (returns, block_length, ppy), n, batch_size, seed, n_jobs)
        meta.update(block_length=block_length, n_bars=len(returns))
    else:
        spec, real_returns = _random_entry_spec(res, bars, null_sides, ppy)
        real = _metrics_of(real_returns, ppy)
        draws = _run_batches(_random_entry_batch, (spec,), n, batch_size, seed, n_jobs)
        meta.update(n_trades=len(spec["hold"]), null_sides=null_sides,
                    n_sessions=len(spec["seg_start"]), slippage_points=spec["slip"])

    draws_d = {k: np.ascontiguousarray(draws[:, j]) for j, k in enumerate(MC_METRICS)}
    real_d = dict(zip(MC_METRICS, (float(v) for v in real)))
    q = pd.DataFrame({k: [float(np.nanquantile(v, lv)) if np.isfinite(v).any() else math.nan
                          for lv in QUANTILES] for k, v in draws_d.items()},
                     index=pd.Index(QUANTILES, name="quantile"))
    if method == "random_entry":
        p_values = {k: _smoothed_share(int(np.count_nonzero(draws_d[k] >= real_d[k])), n)
                    for k in MC_METRICS}
    else:
        p_values = {k: _smoothed_share(int(np.count_nonzero(draws_d[k] <= 0.0)), n)
                    for k in ("sharpe", "final_return")}
    return MonteCarloResult(method=method, n=n, seed=seed, draws=draws_d, real=real_d, quantiles=q,
                            p_values=p_values, meta=meta)
