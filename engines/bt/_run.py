"""The runner of historical bars: :func:`run_backtrader`, and the run as a :class:`engines.simulate.SimResult`."""

from __future__ import annotations

from dataclasses import asdict

import backtrader as bt
import numpy as np
import pandas as pd

from engines.bt._broker import MARGIN_PER_CONTRACT, Participation, SquareRootImpact, _cerebro
from engines.bt._strategy import SideFeed, SideFollower
from engines.metrics import periods_per_year
from engines._trades import trades_from_fills
from engines.contexts import exec_context, rules_context
from engines.simulate import (
    FILL_ORDER,
    Costs,
    SimResult,
    Sizing,
    Stops,
    _aligned,
    _prices,
    _proba_input,
    _run_configs,
    _sides_array,
    _vol_inputs,
    engine_result_parts,
    sizing_facts,
)
from ml.exceptions import ParameterError
from risk.limits import DailyLimits
from strategies import BaseStrategy, ProbabilityThresholdStrategy, session_facts


#: Backtrader runs return the simulator's result type, so both engines share one format.
BtResult = SimResult


# --------------------------------------------------------------------------- records


# --------------------------------------------------------------------------- public functions


def _check_options(bars, costs, sizing, stops, limits, contract, initial_equity, fill_on_close, participation,
                   impact):
    """Defaulted, checked configs and the kernel arguments of a backtrader run."""
    stops = Stops() if stops is None else stops
    if not isinstance(stops, Stops):
        raise TypeError(f"`stops` must be a Stops (or None), got {type(stops).__name__}.")
    spec, sizing, costs, limits = _run_configs(bars, contract, sizing, costs, limits, initial_equity,
                                               fill_on_close)
    if participation is not None and not isinstance(participation, Participation):
        raise TypeError(f"`participation` must be a Participation, got {type(participation).__name__}.")
    if impact is not None and not isinstance(impact, SquareRootImpact):
        raise TypeError(f"`impact` must be a SquareRootImpact, got {type(impact).__name__}.")
    if fill_on_close and participation is not None:
        raise ParameterError("`participation` cannot be combined with `fill_on_close=True`: close fills are "
                             "not volume-capped; pass participation=None or fill_on_close=False.")
    kw = dict(ex=exec_context(spec, costs, initial_equity, fill_on_close), ru=rules_context(sizing, stops, limits),
              participation=participation, impact=impact)
    return spec, costs, sizing, stops, limits, kw


def _latency_ms(seconds) -> dict:
    a = np.asarray(seconds, dtype=float) * 1e3
    if not len(a):
        return {"n": 0}
    return {"n": int(len(a)), "mean": float(a.mean()), "p50": float(np.percentile(a, 50)),
            "p95": float(np.percentile(a, 95)), "p99": float(np.percentile(a, 99)), "max": float(a.max())}


def _result(strat, index, close, bars_for_ppy, *, calendar, bar_minutes, risk_free, initial_equity, spec,
            costs, sizing, stops, limits, participation, impact, fill_on_close, meta_extra) -> SimResult:
    """The run as a :class:`SimResult` (the simulator's format)."""
    n = len(index)
    eq = np.asarray(strat.equity[:n], dtype=float)
    pos = np.asarray(strat.position_arr[:n], dtype=float)
    mult = float(spec.multiplier)
    fills = strat.fills
    tr = trades_from_fills(fills, index, close, mult)
    orders = pd.DataFrame(fills, columns=["bar", "size", "price", "commission", "kind", "reason", "ambiguous"])
    orders.insert(1, "timestamp", index[orders["bar"].to_numpy(dtype=np.int64)])

    ppy = periods_per_year(bars_for_ppy, calendar=calendar, bar_minutes=bar_minutes)
    positions, equity, returns, metrics, account = engine_result_parts(
        index, pos, eq, tr, initial_equity=initial_equity, periods_per_year=ppy, risk_free=risk_free,
        blown_bar=strat.blown_bar if strat.blown_bar < n else -1, spec=spec)
    meta = {
        "engine": "backtrader",
        "backtrader_version": bt.__version__,
        "periods_per_year": ppy,
        "initial_equity": float(initial_equity),
        "multiplier": mult,
        "tick_size": float(spec.tick_size),
        "fill_on_close": bool(fill_on_close),
        "margin_per_contract": MARGIN_PER_CONTRACT,
        "costs": asdict(costs),
        "sizing": sizing_facts(sizing, rules_context(sizing, stops, limits)),
        "stops": asdict(stops),
        "limits": asdict(limits),
        "participation": None if participation is None else {
            **asdict(participation), "carried_contracts": float(strat.carried_qty),
            "cancelled_contracts": float(strat.cancelled_qty)},
        "impact": None if impact is None else asdict(impact),
        "skipped_no_atr": strat.skipped_no_atr,
        "skipped_zero_size": strat.skipped_zero_size,
        "refused_by_limits": strat.refused_by_limits,
        "refused_by_margin": strat.refused_by_margin,
        "account": account,
        "fill_order": FILL_ORDER,
        "contract": asdict(spec),
        "decision_latency_ms": _latency_ms(strat.latency[:n]),
        **meta_extra,
    }
    return SimResult(positions=positions, equity=equity, returns=returns, trades=tr, orders=orders,
                     metrics=metrics, meta=meta)


def run_backtrader(bars: pd.DataFrame, sides_or_proba, *, contract=None, costs: Costs | None = None,
                   sizing: Sizing | None = None, stops: Stops | None = None,
                   limits: DailyLimits | None = None, initial_equity: float = 100_000.0,
                   fill_on_close: bool = False, participation: Participation | None = None,
                   impact: SquareRootImpact | None = None, strategy: BaseStrategy | None = None,
                   atr=None, sigma=None, proba=None, calendar=None, bar_minutes=None,
                   risk_free: float = 0.0) -> BtResult:
    """Run desired sides (or probabilities through a strategy) in backtrader.

    Parameters
    ----------
    bars : DataFrame
        Bars as for :func:`engines.simulate.simulate` (tz-aware index, open,
        high, low, close; ``volume`` is needed by ``participation`` and
        ``impact``).
    sides_or_proba : Series or array-like of shape (n_bars,)
        Desired sides (+1 / 0 / -1), or probabilities of an up move: any
        value strictly between 0 and 1 (or NaN) makes the input probabilities,
        turned into sides by ``strategy`` (default
        ``ProbabilityThresholdStrategy()``), precomputed for the whole feed.
    contract, costs, sizing, stops, limits, initial_equity, fill_on_close, atr, sigma, proba, calendar, bar_minutes, risk_free :
        As :func:`engines.simulate.simulate` (``proba`` defaults to the
        probabilities when ``sides_or_proba`` holds them).  ``sigma`` (per-bar return
        volatility) also feeds ``impact``; default there: a causal 60-bar std
        of log returns.
    participation : Participation, optional
        Volume cap per bar and what happens to the remainder (backtrader only;
        not with ``fill_on_close``).
    impact : SquareRootImpact, optional
        Square-root market impact on market and stop fills (backtrader only).
    strategy : BaseStrategy, optional
        Strategy turning probabilities into sides.

    Returns
    -------
    BtResult
        ``trades`` (``entry_idx``, ``exit_idx``, ``entry_time``,
        ``exit_time``, ``side``, ``qty``, ``entry_price``, ``exit_price``
        (quantity-weighted), ``gross_pnl``, ``costs`` (= ``commission``),
        ``net_pnl`` (= ``pnl``), ``exit_reason``, ``closed``), ``orders``
        (one row per execution), ``equity`` / ``returns`` / ``positions`` per
        bar and ``metrics`` from :func:`engines.metrics.summarize`;
        ``meta["decision_latency_ms"]`` times the strategy's ``next()``.
    """
    o, h, lo, c = _prices(bars)
    index = bars.index
    n = len(bars)
    spec, costs, sizing, stops, limits, kw = _check_options(bars, costs, sizing, stops, limits, contract,
                                                            initial_equity, fill_on_close, participation,
                                                            impact)
    if (participation is not None or impact is not None) and "volume" not in bars.columns:
        raise ParameterError("`bars` needs a `volume` column for `participation` / `impact`.")
    facts = session_facts(bars, calendar=calendar, bar_minutes=bar_minutes)

    # sides: given, or precomputed from probabilities by the strategy
    raw = _aligned(sides_or_proba, index, "sides_or_proba")
    is_proba = bool(np.any(np.isnan(raw)) or np.any((raw > 0.0) & (raw < 1.0)))
    if is_proba:
        strat = ProbabilityThresholdStrategy() if strategy is None else strategy
        side_arr = np.asarray(strat.sides(raw, bars, calendar=calendar, bar_minutes=bar_minutes),
                              dtype=np.float64)
    else:
        side_arr = _sides_array(raw, index).astype(np.float64)
    atr_arr, sigma_arr = _vol_inputs(bars, atr, sigma, stops.needs_atr, stops.atr_window, kw["ru"].size_mode)
    # Kelly's win probability: `proba`, else the probabilities given as `sides_or_proba`
    proba = _proba_input(bars, proba if proba is not None else (raw if is_proba else None), kw["ru"].size_mode)
    if sigma is None:
        sigma_arr = np.log(bars["close"].astype(float)).diff().rolling(60, min_periods=60).std().to_numpy()
    last = np.zeros(n)
    last[:-1] = (facts.session[1:] != facts.session[:-1]).astype(float)
    vol = bars["volume"].to_numpy(dtype=np.float64) if "volume" in bars.columns else np.zeros(n)

    feed_df = pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": vol,
                            "side": side_arr, "proba": proba, "atr": atr_arr, "sigma": sigma_arr,
                            "last": last, "session": facts.session.astype(float)},
                           index=pd.DatetimeIndex(index.tz_localize(None) if index.tz is not None else index))
    n_bars = None
    if fill_on_close:
        # a sentinel bar lets the close fills of the last bar execute (backtrader runs a close
        # order in the next bar's cycle); nothing is decided or checked on it
        step = feed_df.index[-1] - feed_df.index[-2] if n > 1 else pd.Timedelta(minutes=1)
        extra = feed_df.iloc[[-1]].copy()
        extra.index = extra.index + step
        extra[["side", "last"]] = 0.0
        feed_df = pd.concat([feed_df, extra])
        n_bars = n
    cerebro = _cerebro(kw, initial_equity, participation, impact)
    cerebro.adddata(SideFeed(dataname=feed_df))
    cerebro.addstrategy(SideFollower, n_bars=n_bars, **kw)
    strat = cerebro.run()[0]
    return _result(strat, index, c, bars, calendar=calendar, bar_minutes=facts.bar_minutes,
                   risk_free=risk_free, initial_equity=initial_equity, spec=spec, costs=costs, sizing=sizing,
                   stops=stops, limits=limits, participation=participation, impact=impact,
                   fill_on_close=fill_on_close,
                   meta_extra={"sides_precomputed": True, "from_probabilities": is_proba})
