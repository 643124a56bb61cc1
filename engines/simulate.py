"""Single-run bar simulator: desired sides in, fills, positions, equity and trades out.

:func:`simulate` validates its inputs, runs the numba kernel
:func:`engines._sim_nb.simulate_nb` and wraps the result in a
:class:`SimResult` (positions, equity, returns, trades, orders and the metrics
of :func:`engines.metrics.summarize`, annualised from the session calendar).
Sizes, stops and daily limits are the kernels of :mod:`risk`; the sides come
from a strategy (:mod:`strategies`).  :func:`engines.vbt.to_vectorbt_portfolio`
rebuilds the same run as a ``vectorbt.Portfolio`` for inspection.

Semantics (each one tested by hand in ``tests/engines/test_simulate.py``)
-------------------------------------------------------------------------
- **Fills**: the side decided at bar ``i`` fills at bar ``i + 1``'s open
  (PITFALLS 1); ``fill_on_close=True`` fills it at bar ``i``'s close instead
  (documented option).  A reversal is two legs at one price.
- **Slippage**: market fills move ``slippage_ticks * tick_size`` points
  against the order; take-profit fills get none (PITFALLS 5); every fill is
  clipped to its bar's [low, high] (PITFALLS 7).
- **Commission**: on both legs, ``qty * commission_per_contract +
  commission_pct * fill price * multiplier * qty`` (PITFALLS 9): one WDO
  contract at R$1.50 per contract per side costs R$3.00 a round trip.
- **Sizes**: whole contracts by the :mod:`risk` sizing kernels (truncation),
  with the equity and close of the decision bar (PITFALLS 10).
- **Stops**: ATR stop / take / trailing levels from the fill bar's raw open
  (close) and the decision bar's ATR, checked with
  :func:`risk.check_exit` from the entry bar on, never on the signal bar
  (PITFALLS 3); a gap through the stop fills at the open (4); stop first when
  both levels lie in one bar (6); flat after a stop, re-entry only on a later
  decision (with ``Stops.rearm``, only once the desired side has changed).
- **Time stop**: ``max_bars`` bars held (entry bar = 1), exit at the next open.
- **Sessions**: a position still open on a session's last bar is closed at
  its close (backstop; a strategy flat before the close never needs it),
  PITFALLS 13.  A position open at the end of the data is reported as an
  ``"end"`` trade marked at the last close, without an exit order.
- **Daily limits**: the :mod:`risk.limits` kernels; a halted session is
  flattened at the next open and opens nothing more.
- **Equity** is marked to market at each bar's close in currency
  (``qty * multiplier * price change``), net of costs; returns are
  ``E_t / E_{t-1} - 1`` with ``E_{-1}`` the initial equity.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from engines import _sim_nb
from engines._sim_nb import (
    C_AMBIGUOUS,
    C_BLOWN,
    C_LIMITS,
    C_MARGIN,
    C_NAN_PRICE,
    C_NO_ATR,
    C_ZERO_SIZE,
    EXIT_BLOWN,
    EXIT_END,
    EXIT_LIMIT,
    EXIT_SESSION,
    EXIT_SIGNAL,
    EXIT_STOP,
    EXIT_TAKE,
    EXIT_TIME,
    N_COUNTERS,
    SIZE_KELLY,
    SIZE_VOL_TARGET,
    SLOT_CLOSE,
    SLOT_INTRABAR,
    SLOT_OPEN,
    TRADE_DTYPE,
)
from engines.contexts import exec_context, rules_context, sim_bars
from engines.metrics import periods_per_year, summarize, void_if_blown
from ml.data._frame import per_bar_values
from ml.exceptions import ParameterError
from risk import _py as risk_py
from risk.limits import DailyLimits
from risk.rules import Sizing, Stops, check_nonneg as _check_nonneg
from risk.sizing import ContractSpec, contract_for
from strategies import session_facts

__all__ = [
    "EXIT_REASONS",
    "FILL_ORDER",
    "PURE_PYTHON",
    "SLOTS",
    "Costs",
    "SimResult",
    "Sizing",
    "Stops",
    "average_true_range",
    "account_facts",
    "account_metrics",
    "simulate",
    "simulate_py",
]

#: Test-only switch: :func:`simulate` runs :func:`simulate_py` instead of the kernel.
PURE_PYTHON = False

#: Exit reason code -> name used in the trades table.
EXIT_REASONS = {
    EXIT_SIGNAL: "signal",
    EXIT_STOP: "stop",
    EXIT_TAKE: "take",
    EXIT_TIME: "time",
    EXIT_SESSION: "session",
    EXIT_LIMIT: "limit",
    EXIT_END: "end",
    EXIT_BLOWN: "blown",
}
#: Fill slot code -> name (time order inside a bar).
SLOTS = {SLOT_OPEN: "open", SLOT_INTRABAR: "intrabar", SLOT_CLOSE: "close"}

def _real(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Costs:
    """Trading costs per leg (both the entry and the exit pay them).

    Parameters
    ----------
    commission_per_contract : float, default 0
        Currency per contract per leg (e.g. R$1.50 on WDO: R$3.00 a round trip).
    commission_pct : float, default 0
        Fraction of the fill notional ``price * multiplier * qty`` per leg:
        0.0002 means 0.02%.  Must be < 0.1 (a larger value is almost surely a
        percentage typed as a number).
    slippage_ticks : float, default 0
        Adverse slippage of market fills, in ticks of the contract.
    """

    commission_per_contract: float = 0.0
    commission_pct: float = 0.0
    slippage_ticks: float = 0.0

    def kernel_args(self) -> tuple[float, float, float]:
        cpc = _check_nonneg("commission_per_contract", self.commission_per_contract)
        pct = _check_nonneg("commission_pct", self.commission_pct)
        if pct >= 0.1:
            raise ParameterError(f"`commission_pct` is a fraction of notional (0.0002 means 0.02%), got "
                                 f"{self.commission_pct!r}; for {pct:g}% pass {pct / 100:g}.")
        slip = _check_nonneg("slippage_ticks", self.slippage_ticks)
        return cpc, pct, slip


@dataclass(frozen=True)
class SimResult:
    """What :func:`simulate` returns.

    Attributes
    ----------
    positions : Series of float
        Signed contracts held at each bar's close.
    equity : Series of float
        Equity at each bar's close (currency, marked to market, net of costs).
    returns : Series of float
        ``equity / previous equity - 1`` (first bar against the initial equity).
    trades : DataFrame
        One row per trade: ``signal_idx``, ``entry_idx``, ``exit_idx`` (bar
        positions), ``signal_time``, ``entry_time``, ``exit_time``, ``side``,
        ``qty``, ``entry_price``, ``exit_price`` (actual fills), ``gross_pnl``,
        ``costs``, ``net_pnl`` (= ``pnl``), ``exit_reason`` (name of
        :data:`EXIT_REASONS`), ``entry_slot``, ``exit_slot`` (name of
        :data:`SLOTS`) and ``closed`` (False for the ``"end"`` trade).
    orders : DataFrame
        One row per fill: ``bar``, ``timestamp``, ``slot``, ``size`` (signed
        contracts), ``price``, ``commission``, ``trade`` (row of ``trades``),
        ``leg`` (``"entry"`` / ``"exit"``).
    metrics : dict
        :func:`engines.metrics.summarize` of the returns, equity, *closed*
        trades (net PnL) and positions, annualised with ``periods_per_year``.
    meta : dict
        Run facts: ``periods_per_year``, ``initial_equity``, ``multiplier``,
        ``tick_size``, ``fill_on_close``, the configs, and the counters
        ``rejected_nan_price``, ``skipped_no_atr``, ``skipped_zero_size``,
        ``refused_by_limits``.
    """

    positions: pd.Series
    equity: pd.Series
    returns: pd.Series
    trades: pd.DataFrame
    orders: pd.DataFrame
    metrics: dict
    meta: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers

#: What every engine assumes inside a bar, stated in every run's records.
FILL_ORDER = ("decisions fill at the next bar's open; inside a bar the stop and the take are "
              "checked from the open: a gap through a level fills at the open, and when a bar holds "
              "both levels the stop is assumed first (pessimistic); trades on such bars are flagged "
              "`ambiguous`")


def account_facts(blown_bar: int, index, trades: pd.DataFrame, spec: ContractSpec) -> dict:
    """The account's fate: blown or not (and when), ambiguous exits, the margin used."""
    blown = blown_bar >= 0
    return {
        "blown": bool(blown),
        "blown_at": str(index[blown_bar]) if blown else None,
        "blown_bar": int(blown_bar) if blown else None,
        "rule": ("equity <= 0" if spec.margin is None else
                 f"equity <= 0 or below {spec.margin:g} {spec.currency or ''} margin per contract held".rstrip()),
        "ambiguous_exits": int(trades["ambiguous"].sum()) if "ambiguous" in trades.columns and len(trades) else 0,
        "contract": spec.name,
        "currency": spec.currency,
    }


def account_metrics(account: dict) -> dict:
    """The metrics' account keys: ``account_blown``, ``blown_at``, ``ambiguous_exits``."""
    return {"account_blown": account["blown"], "blown_at": account["blown_at"],
            "ambiguous_exits": account["ambiguous_exits"]}


def engine_result_parts(index, positions, equity, trades: pd.DataFrame, *, initial_equity: float, periods_per_year: float,
                        risk_free: float, blown_bar: int, spec: ContractSpec) -> tuple:
    """What every engine reports from its per-bar positions and equity and its trades table:
    ``(positions, equity, returns, metrics, account)`` -- the Series, the
    :func:`engines.metrics.summarize` metrics of the closed trades (voided where the account
    blew, :func:`engines.metrics.void_if_blown`) and :func:`account_facts`."""
    eq = np.asarray(equity, dtype=np.float64)
    pos = pd.Series(np.asarray(positions, dtype=np.float64), index=index, name="position")
    eq_s = pd.Series(eq, index=index, name="equity")
    prev = np.concatenate([[float(initial_equity)], eq[:-1]])
    returns = pd.Series(eq / prev - 1.0, index=index, name="returns")
    closed = trades.loc[trades["closed"], "pnl"] if len(trades) else pd.Series([], dtype=float)
    metrics = summarize(returns=returns, equity=eq_s, trades=closed, positions=pos,
                        periods_per_year=periods_per_year, risk_free=risk_free, initial_equity=float(initial_equity))
    account = account_facts(blown_bar, index, trades, spec)
    metrics.update(account_metrics(account))
    void_if_blown(metrics)
    return pos, eq_s, returns, metrics, account


def average_true_range(bars: pd.DataFrame, window: int = 14) -> pd.Series:
    """Simple moving average of the true range over ``window`` bars (causal).

    ``TR_t = max(high_t - low_t, |high_t - close_{t-1}|, |low_t - close_{t-1}|)``
    (``high - low`` on the first bar); the value at bar ``t`` uses bars
    ``<= t`` only and is NaN for the first ``window - 1`` bars.
    """
    if isinstance(window, (bool, np.bool_)) or not isinstance(window, numbers.Integral) or window < 1:
        raise ParameterError(f"`atr_window` must be an int >= 1, got {window!r}.")
    h = bars["high"].astype(float)
    lo = bars["low"].astype(float)
    pc = bars["close"].astype(float).shift(1)
    tr = pd.concat([h - lo, (h - pc).abs(), (lo - pc).abs()], axis=1).max(axis=1, skipna=True)
    return tr.rolling(int(window), min_periods=int(window)).mean().rename("atr")


def _run_configs(bars, contract, sizing, costs, limits, initial_equity, fill_on_close):
    """Contract and configuration objects of a run, defaulted and checked (shared by
    :func:`simulate`, :func:`engines.sweep.sweep` and the backtrader runs).  The
    contract comes from the bars' instrument unless given, and a given preset
    must match the bars' symbol (:func:`risk.contract_for`)."""
    spec = contract_for(bars, contract)
    if not isinstance(spec, ContractSpec):  # pragma: no cover - contract_for guarantees it
        raise TypeError("`contract` must be a ContractSpec or a preset name.")
    sizing = Sizing() if sizing is None else sizing
    costs = Costs() if costs is None else costs
    limits = DailyLimits() if limits is None else limits
    for name, obj, cls in (("sizing", sizing, Sizing), ("costs", costs, Costs), ("limits", limits, DailyLimits)):
        if not isinstance(obj, cls):
            raise TypeError(f"`{name}` must be a {cls.__name__} (or None), got {type(obj).__name__}.")
    if not isinstance(fill_on_close, (bool, np.bool_)):
        raise TypeError(f"`fill_on_close` must be True or False, got {fill_on_close!r}.")
    if not _real(initial_equity) or not (math.isfinite(initial_equity) and initial_equity > 0):
        raise ParameterError(f"`initial_equity` must be a finite number > 0 (currency), got {initial_equity!r}.")
    return spec, sizing, costs, limits


def _vol_inputs(bars, atr, sigma, needs_atr: bool, atr_window: int, size_mode: int):
    """Per-bar ATR (given, computed when stops need it, else NaN) and sigma (given, or
    required by volatility-target sizing), aligned with ``bars``."""
    index, n = bars.index, len(bars)
    if atr is not None:
        atr_arr = _aligned(atr, index, "atr")
    elif needs_atr:
        atr_arr = _c(average_true_range(bars, atr_window).to_numpy(dtype=np.float64))
    else:
        atr_arr = np.full(n, np.nan)
    if sigma is not None:
        sigma_arr = _aligned(sigma, index, "sigma")
    elif size_mode == SIZE_VOL_TARGET:
        raise ParameterError("`sigma` (per-bar return volatility, e.g. a GARCH forecast known at each "
                             "bar's close) is required for Sizing(method='volatility_target').")
    else:
        sigma_arr = np.full(n, np.nan)
    return atr_arr, sigma_arr


def sizing_facts(sizing: Sizing, ru) -> dict:
    """The sizing of a run as its result states it: the config, plus what Kelly sizing took (payoff, cap)."""
    out = asdict(sizing)
    if ru.size_mode == SIZE_KELLY:
        out.update(fraction=ru.size_value, payoff_ratio_used=ru.payoff_ratio, cap_used=ru.size_cap)
    return out


def _proba_input(bars, proba, size_mode: int):
    """Per-bar probability of an up move for Kelly sizing (required there), aligned with ``bars``; else NaN."""
    if proba is None:
        if size_mode == SIZE_KELLY:
            raise ParameterError("`proba` (the model's probability of an up move, known at each bar's close) is "
                                 "required for Sizing(method='kelly'): it gives each entry's win probability.")
        return np.full(len(bars), np.nan)
    arr = _aligned(proba, bars.index, "proba")
    bad = np.flatnonzero((arr < 0.0) | (arr > 1.0))
    if len(bad):
        i = int(bad[0])
        raise ParameterError(f"`proba` must be a probability in [0, 1] (NaN: no entry), got {arr[i]!r} at "
                             f"position {i} ({bars.index[i]}).")
    return arr


def _aligned(values, index, name, *, allow_nan=True) -> np.ndarray:
    arr = per_bar_values(values, index, name)
    if not allow_nan:
        bad = np.flatnonzero(np.isnan(arr))
        if len(bad):
            i = int(bad[0])
            raise ParameterError(f"`{name}` is NaN at position {i} ({index[i]}); NaN is never read as "
                                 f"flat silently: fill it (0 = flat) first.")
    return _c(arr)


def _c(arr, dtype=np.float64) -> np.ndarray:
    """A C-contiguous, writeable array (pandas 3 hands out read-only views, which
    numba compiles as a separate signature)."""
    return np.require(arr, dtype=dtype, requirements=["C", "W", "O"])


def _sides_array(sides, index) -> np.ndarray:
    arr = _aligned(sides, index, "sides", allow_nan=False)
    bad = np.flatnonzero((arr != 1.0) & (arr != 0.0) & (arr != -1.0))
    if len(bad):
        i = int(bad[0])
        raise ParameterError(f"`sides` must hold +1 (long), 0 (flat) or -1 (short), got {float(arr[i])!r} at "
                             f"position {i} ({index[i]}); sizes come from `sizing`, not from the sides.")
    return _c(arr.astype(np.int8), np.int8)


def _prices(bars) -> tuple[np.ndarray, ...]:
    if not isinstance(bars, pd.DataFrame):
        raise TypeError(f"`bars` must be a DataFrame with open, high, low, close columns, "
                        f"got {type(bars).__name__}.")
    missing = [c for c in ("open", "high", "low", "close") if c not in bars.columns]
    if missing:
        raise ParameterError(f"`bars` is missing column(s) {missing}; columns are {list(bars.columns)}.")
    if len(bars) == 0:
        raise ParameterError("`bars` holds no rows.")
    out = []
    for c in ("open", "high", "low", "close"):
        a = _c(bars[c].to_numpy(dtype=np.float64, na_value=np.nan))
        bad = np.flatnonzero(~np.isfinite(a))
        if len(bad):
            i = int(bad[0])
            raise ParameterError(f"`bars['{c}']` is {float(a[i])!r} at row {i} ({bars.index[i]}); NaN prices are "
                                 f"never filled silently: drop or repair those bars first.")
        out.append(a)
    return tuple(out)


# --------------------------------------------------------------------------- plain-Python twin


def _market_fill(ref, direction, slip, low, high):
    """Twin of ``_market_fill_nb``: adverse slippage, then clip into [low, high]."""
    return min(max(ref + direction * slip, low), high) if not math.isnan(ref) else math.nan


class _Run:
    """State of one run for :func:`simulate_py` (written for reading)."""

    def __init__(self, initial_equity, multiplier, cpc, cpct):
        self.side = 0
        self.qty = 0.0
        self.mark = math.nan
        self.stop = self.take = self.trail = math.nan
        self.sig = -1
        self.entry_bar = -1
        self.eq = initial_equity
        self.trades: list[dict] = []
        self.mult, self.cpc, self.cpct = multiplier, cpc, cpct
        self.counters = np.zeros(N_COUNTERS, dtype=np.int64)

    def leg_cost(self, qty, price):
        return qty * self.cpc + self.cpct * abs(price) * self.mult * qty

    def exit(self, i, px, reason, slot, lim, sess):
        side, qty = self.side, self.qty
        self.eq += side * qty * self.mult * (px - self.mark)
        cost = self.leg_cost(qty, px)
        self.eq -= cost
        t = self.trades[-1]
        t["exit_idx"], t["exit_price"] = i, px
        t["gross_pnl"] = side * qty * self.mult * (px - t["entry_price"])
        t["costs"] = t["costs"] + cost
        t["net_pnl"] = t["gross_pnl"] - t["costs"]
        t["exit_reason"], t["exit_slot"] = reason, slot
        risk_py.after_fill_update_py(lim, sess, self.eq, side * qty, 0.0)
        self.side, self.qty = 0, 0.0
        self.mark = self.stop = self.take = self.trail = math.nan


def simulate_py(bars, sides, ex, ru):
    """Plain-Python twin of :func:`engines._sim_nb.simulate_nb` (same arguments and outputs).

    Uses the Python twins of the :mod:`risk` kernels (:mod:`risk._py`).
    """
    open_, high, low, close, session, atr, sigma, proba = bars
    (multiplier, tick_size, slippage_ticks, commission_per_contract, commission_pct, lot_size, min_qty,
     allow_fractional, margin, initial_equity, fill_on_close) = ex
    (size_mode, size_value, payoff_ratio, size_cap, sl_mult, tp_mult, trail_mult, max_bars, rearm, max_loss,
     max_loss_frac, max_trades, max_position) = ru
    n = len(open_)
    slip = slippage_ticks * tick_size
    run = _Run(initial_equity, multiplier, commission_per_contract, commission_pct)
    lim = risk_py.new_limits_state_py()
    position = np.zeros(n)
    equity = np.zeros(n)
    blocked = 0
    blown = False
    one_lot = min_qty if min_qty > 0 else lot_size
    pending = None  # (target, reason, decision bar, equity, close, atr, sigma)

    def enter(i, sig, target, ref, slot, dec_eq, dec_price, dec_atr, dec_sigma, sess):
        if (sl_mult > 0 or tp_mult > 0 or trail_mult > 0) and not dec_atr > 0:
            run.counters[C_NO_ATR] += 1
            return
        px = _market_fill(ref, target, slip, low[i], high[i])
        if math.isnan(px):
            run.counters[C_NAN_PRICE] += 1
            return
        p_win = proba[sig] if target > 0 else 1.0 - proba[sig]   # sig: the decision bar
        q = risk_py.size_for_mode_py(size_mode, size_value, dec_eq, dec_price, multiplier, sl_mult, dec_atr,
                                     dec_sigma, p_win, payoff_ratio, size_cap, lot_size, min_qty, max_position,
                                     allow_fractional)
        if not q > 0:
            run.counters[C_ZERO_SIZE] += 1
            return
        if margin > 0 and run.eq < margin * q:
            run.counters[C_MARGIN] += 1
            return
        if not risk_py.can_open_py(lim, sess, run.eq, 0.0, target * q, max_loss, max_loss_frac,
                                   max_trades, max_position):
            run.counters[C_LIMITS] += 1
            return
        cost = run.leg_cost(q, px)
        run.eq -= cost
        run.side, run.qty, run.mark = target, q, px
        run.stop, run.take = risk_py.atr_stop_levels_py(ref, target, dec_atr, sl_mult, tp_mult)
        run.trail = trail_mult * dec_atr if trail_mult > 0 else math.nan
        run.sig, run.entry_bar = sig, i
        run.trades.append(dict(signal_idx=sig, entry_idx=i, exit_idx=-1, side=target, qty=q,
                               entry_price=px, exit_price=math.nan, gross_pnl=math.nan, costs=cost,
                               net_pnl=math.nan, exit_reason=-1, entry_slot=slot, exit_slot=-1,
                               ambiguous=0))
        risk_py.after_fill_update_py(lim, sess, run.eq, 0.0, target * q)

    def execute(i, target, reason, ref, slot, sig, dec_eq, dec_price, dec_atr, dec_sigma, sess):
        """Move from the current side to ``target`` at reference price ``ref``."""
        if target == run.side:
            return
        if run.side != 0:
            px = _market_fill(ref, -run.side, slip, low[i], high[i])
            if math.isnan(px):
                run.counters[C_NAN_PRICE] += 1
                return
            run.exit(i, px, reason, slot, lim, sess)
        if target != 0:
            enter(i, sig, target, ref, slot, dec_eq, dec_price, dec_atr, dec_sigma, sess)

    for i in range(n):
        sess = float(session[i])
        if i == 0 or session[i] != session[i - 1]:
            risk_py.new_session_reset_py(lim, sess, run.eq)
        last_of_session = i + 1 < n and session[i + 1] != session[i]

        if not fill_on_close and pending is not None:
            target, reason, sig, dec_eq, dec_price, dec_atr, dec_sigma = pending
            pending = None
            execute(i, target, reason, open_[i], SLOT_OPEN, sig, dec_eq, dec_price, dec_atr,
                    dec_sigma, sess)

        # stops inside the bar (from the entry bar on; the bar after it when entered at a close)
        first_check = run.entry_bar + (1 if fill_on_close else 0)
        if run.side != 0 and i >= first_check:
            code, px = risk_py.check_exit_py(run.side, open_[i], high[i], low[i], run.stop, run.take)
            if code != 0:
                cs = run.side
                amb = False
                if code == EXIT_STOP:
                    px = _market_fill(px, -cs, slip, low[i], high[i])
                    amb = risk_py.exit_ambiguous_py(cs, open_[i], high[i], low[i], run.stop, run.take)
                    run.counters[C_AMBIGUOUS] += int(amb)
                run.exit(i, px, code, SLOT_INTRABAR, lim, sess)
                run.trades[-1]["ambiguous"] = int(amb)
                if rearm:
                    blocked = cs
            else:
                run.stop = risk_py.trailing_stop_update_py(run.side, run.stop, high[i], low[i], run.trail)

        cs = run.side
        if cs != 0 and not math.isnan(close[i]):
            run.eq += cs * run.qty * multiplier * (close[i] - run.mark)
            run.mark = close[i]
        time_up = cs != 0 and risk_py.time_stop_py(i - run.sig, max_bars)
        if not fill_on_close and cs != 0 and last_of_session:
            px = _market_fill(close[i], -cs, slip, low[i], high[i])
            if math.isnan(px):
                run.counters[C_NAN_PRICE] += 1
            else:
                run.exit(i, px, EXIT_SESSION, SLOT_CLOSE, lim, sess)
                if rearm:
                    blocked = cs
                cs, time_up = 0, False

        halted = risk_py.loss_limit_hit_py(lim, sess, run.eq, max_loss, max_loss_frac)
        if not blown and (run.eq <= 0 or (margin > 0 and run.eq < margin * (run.qty if cs != 0 else one_lot))):
            blown = True
            run.counters[C_BLOWN] = i + 1
        desired, reason, blocked = risk_py.decide_py(int(sides[i]), cs, blocked, rearm, time_up, halted,
                                                     fill_on_close and last_of_session, blown)

        if fill_on_close:
            had = run.side
            execute(i, desired, reason, close[i], SLOT_CLOSE, i, run.eq, close[i], atr[i], sigma[i], sess)
            if run.side != 0 and run.side != had:  # entered at this close: mark it to the close
                run.eq += run.side * run.qty * multiplier * (close[i] - run.mark)
                run.mark = close[i]
                if not blown and (run.eq <= 0 or (margin > 0 and run.eq < margin * run.qty)):
                    blown = True
                    run.counters[C_BLOWN] = i + 1
        else:
            pending = (desired, reason, i, run.eq, close[i], atr[i], sigma[i])
        position[i] = run.side * run.qty
        equity[i] = run.eq

    if run.side != 0:
        t = run.trades[-1]
        last = close[n - 1] if not math.isnan(close[n - 1]) else run.mark
        t["exit_idx"], t["exit_price"] = n - 1, last
        t["gross_pnl"] = run.side * run.qty * multiplier * (last - t["entry_price"])
        t["net_pnl"] = t["gross_pnl"] - t["costs"]
        t["exit_reason"], t["exit_slot"] = EXIT_END, SLOT_CLOSE
    trades = np.zeros(len(run.trades), dtype=TRADE_DTYPE)
    for k, t in enumerate(run.trades):
        for name in TRADE_DTYPE.names:
            trades[k][name] = t[name]
    return position, equity, trades, run.counters


# --------------------------------------------------------------------------- public function


def _trades_frame(rec: np.ndarray, index: pd.DatetimeIndex) -> pd.DataFrame:
    df = pd.DataFrame({name: rec[name] for name in TRADE_DTYPE.names})
    for col in ("signal", "entry", "exit"):
        df.insert(df.columns.get_loc(f"{col}_idx") + 0, f"{col}_time", index[df[f"{col}_idx"].to_numpy()]
                  if len(df) else pd.DatetimeIndex([], tz=index.tz))
    # keep the *_time columns together after the *_idx columns
    order = ["signal_idx", "entry_idx", "exit_idx", "signal_time", "entry_time", "exit_time",
             "side", "qty", "entry_price", "exit_price", "gross_pnl", "costs", "net_pnl",
             "exit_reason", "entry_slot", "exit_slot", "ambiguous"]
    df = df[order]
    df["ambiguous"] = df["ambiguous"].to_numpy() != 0
    df["closed"] = df["exit_reason"].to_numpy() != EXIT_END
    df["exit_reason"] = pd.Categorical([EXIT_REASONS[int(c)] for c in df["exit_reason"]],
                                       categories=list(EXIT_REASONS.values()))
    for col in ("entry_slot", "exit_slot"):
        df[col] = pd.Categorical([SLOTS[int(c)] for c in df[col]], categories=list(SLOTS.values()))
    df["pnl"] = df["net_pnl"]
    df.index.name = "trade"
    return df


def _orders_frame(rec: np.ndarray, index: pd.DatetimeIndex, multiplier, cpc, cpct) -> pd.DataFrame:
    rows = []
    for k in range(len(rec)):
        t = rec[k]
        side, qty = int(t["side"]), float(t["qty"])
        px = float(t["entry_price"])
        rows.append((int(t["entry_idx"]), int(t["entry_slot"]), side * qty, px,
                     qty * cpc + cpct * abs(px) * multiplier * qty, k, "entry"))
        if int(t["exit_reason"]) != EXIT_END:
            px = float(t["exit_price"])
            rows.append((int(t["exit_idx"]), int(t["exit_slot"]), -side * qty, px,
                         qty * cpc + cpct * abs(px) * multiplier * qty, k, "exit"))
    df = pd.DataFrame(rows, columns=["bar", "slot", "size", "price", "commission", "trade", "leg"])
    leg_order = (df["leg"] == "entry").astype(int)  # an exit before an entry in the same slot
    df = df.assign(_l=leg_order).sort_values(["bar", "slot", "_l"], kind="stable").drop(columns="_l")
    df = df.reset_index(drop=True)
    df.insert(1, "timestamp", index[df["bar"].to_numpy()] if len(df) else pd.DatetimeIndex([], tz=index.tz))
    df["slot"] = pd.Categorical([SLOTS[int(s)] for s in df["slot"]], categories=list(SLOTS.values()))
    return df


def simulate(bars: pd.DataFrame, sides, *, contract=None, sizing: Sizing | None = None,
             stops: Stops | None = None, costs: Costs | None = None,
             limits: DailyLimits | None = None, initial_equity: float = 100_000.0,
             fill_on_close: bool = False, atr=None, sigma=None, proba=None, calendar=None,
             bar_minutes=None, risk_free: float = 0.0) -> SimResult:
    """Simulate trading the desired ``sides`` on ``bars``.

    Parameters
    ----------
    bars : DataFrame
        Bars indexed by tz-aware open time with ``open``, ``high``, ``low``,
        ``close`` (as :func:`ml.data.load_bars` / ``continuous_contract``
        return them).  NaN prices raise (never filled silently, PITFALLS 19).
    sides : Series or array-like of shape (n_bars,)
        Desired side decided with each bar's data: +1, 0 or -1 (e.g.
        :meth:`strategies.ProbabilityThresholdStrategy.sides`).  A Series is
        aligned on the bars' index.
    contract : str, Instrument or ContractSpec, optional
        Multiplier, tick size, lot rules and margin.  Default: the bars'
        instrument (recorded by :func:`ml.data.load_bars`, else the preset of
        their ``symbol``); there is no default contract.  A preset name that
        contradicts the bars' symbol raises; a ContractSpec is used as given.
    sizing : Sizing, optional
        Default ``Sizing()``: one contract per entry.
    stops : Stops, optional
        Default: no stops.
    costs : Costs, optional
        Default: no costs.
    limits : DailyLimits, optional
        Default: no limits.
    initial_equity : float, default 100,000
        Equity before the first bar, in currency.
    fill_on_close : bool, default False
        Fill the side decided at bar ``i`` at bar ``i``'s close instead of bar
        ``i + 1``'s open (an explicit option, PITFALLS 1).
    atr : Series or array-like, optional
        ATR in points known at each bar's close; default
        :func:`average_true_range` with ``stops.atr_window`` when stops need it.
    sigma : Series or array-like, optional
        Per-bar return volatility for ``Sizing(method="volatility_target")``.
    proba : Series or array-like, optional
        Per-bar probability of an up move, known at each bar's close, for
        ``Sizing(method="kelly")`` (required there; NaN: no entry).
    calendar, bar_minutes : optional
        Session calendar and bar length (default: recorded in ``bars.attrs``);
        they give the sessions and ``periods_per_year``.
    risk_free : float, default 0
        Annual risk-free rate for the Sharpe / Sortino ratios.

    Returns
    -------
    SimResult

    See Also
    --------
    engines._sim_nb.simulate_nb : the kernel; its Notes give the order of
        events inside a bar.
    engines.vbt.to_vectorbt_portfolio : the same run as a vectorbt Portfolio.

    Examples
    --------
    One WDO contract, R$1.50 per contract per side: long decided at the first
    bar, filled at the second bar's open (100), closed at the fourth bar's
    open (103): gross 3 points x R$10 = R$30, costs R$3.00, net R$27.

    >>> import pandas as pd
    >>> idx = pd.date_range("2025-02-03 10:00", periods=5, freq="1min", tz="America/Sao_Paulo")
    >>> px = [99.0, 100.0, 101.0, 103.0, 104.0]
    >>> bars = pd.DataFrame({"open": px, "high": px, "low": px, "close": px}, index=idx)
    >>> res = simulate(bars, [1, 1, 0, 0, 0], contract="WDO", costs=Costs(commission_per_contract=1.5),
    ...                calendar="B3", bar_minutes=1)
    >>> t = res.trades.iloc[0]
    >>> [float(t[c]) for c in ("entry_idx", "exit_idx", "entry_price", "exit_price", "gross_pnl", "costs", "net_pnl")]
    [1.0, 3.0, 100.0, 103.0, 30.0, 3.0, 27.0]
    >>> float(res.equity.iloc[-1])
    100027.0
    """
    o, h, lo, c = _prices(bars)
    index = bars.index
    facts = session_facts(bars, calendar=calendar, bar_minutes=bar_minutes)
    side_arr = _sides_array(sides, index)
    stops = Stops() if stops is None else stops
    if not isinstance(stops, Stops):
        raise TypeError(f"`stops` must be a Stops (or None), got {type(stops).__name__}.")
    spec, sizing, costs, limits = _run_configs(bars, contract, sizing, costs, limits, initial_equity,
                                               fill_on_close)
    ru = rules_context(sizing, stops, limits)
    ex = exec_context(spec, costs, initial_equity, fill_on_close)
    atr_arr, sigma_arr = _vol_inputs(bars, atr, sigma, stops.needs_atr, stops.atr_window, ru.size_mode)
    proba_arr = _proba_input(bars, proba, ru.size_mode)
    kernel = simulate_py if PURE_PYTHON else _sim_nb.simulate_nb
    pos, eq, rec, counters = kernel(sim_bars(o, h, lo, c, facts.session, atr_arr, sigma_arr, proba_arr), side_arr,
                                    ex, ru)

    trades = _trades_frame(rec, index)
    orders = _orders_frame(rec, index, ex.multiplier, ex.commission_per_contract, ex.commission_pct)
    ppy = periods_per_year(bars, calendar=calendar, bar_minutes=facts.bar_minutes)
    positions, equity, returns, metrics, account = engine_result_parts(
        index, pos, eq, trades, initial_equity=initial_equity, periods_per_year=ppy, risk_free=risk_free,
        blown_bar=int(counters[C_BLOWN]) - 1, spec=spec)
    meta = {
        "engine": "numba",
        "periods_per_year": ppy,
        "calendar": facts.calendar,
        "bar_minutes": facts.bar_minutes,
        "initial_equity": float(initial_equity),
        "multiplier": float(spec.multiplier),
        "tick_size": float(spec.tick_size),
        "fill_on_close": bool(fill_on_close),
        "contract": asdict(spec),
        "sizing": sizing_facts(sizing, ru),
        "stops": asdict(stops),
        "costs": asdict(costs),
        "limits": asdict(limits),
        "rejected_nan_price": int(counters[C_NAN_PRICE]),
        "skipped_no_atr": int(counters[C_NO_ATR]),
        "skipped_zero_size": int(counters[C_ZERO_SIZE]),
        "refused_by_limits": int(counters[C_LIMITS]),
        "refused_by_margin": int(counters[C_MARGIN]),
        "account": account,
        "fill_order": FILL_ORDER,
    }
    return SimResult(positions=positions, equity=equity, returns=returns, trades=trades,
                     orders=orders, metrics=metrics, meta=meta)
