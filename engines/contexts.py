"""The kernels' arguments as named tuples (as vectorbt's ``portfolio/enums.py`` does).

A run of the simulator kernel (:func:`engines._sim_nb.simulate_nb`), of its
bar loop (:func:`engines._sim_nb.simulate_into_nb`), of its plain-Python twin
(:func:`engines.simulate.simulate_py`) and of the sweep kernels
(:mod:`engines._sweep_nb`) takes three contexts instead of thirty positional
arguments:

- :class:`SimBars`: the per-bar inputs (prices, session numbers, the ATR and
  the volatility the risk rules read);
- :class:`ExecContext`: how orders are executed (contract, costs, capital, fill
  timing), the numeric side of :class:`engines.engine.Execution`;
- :class:`RulesContext`: the risk rules (sizing, stops, daily limits), the
  numeric side of :class:`engines.engine.Rules`;
- and for the sweep, :class:`ThresholdInputs`: what the strategy's rule reads
  besides the thresholds of each combination.

The builders (:func:`sim_bars`, :func:`exec_context`, :func:`rules_context`)
take the validated configuration objects and cast every field to the one type
the compiled kernels were built for (int64, float64, bool, C-contiguous
arrays), so one compiled version serves every call.  Numba reads the fields
by name (``ex.multiplier``), never by position.
"""

from __future__ import annotations

from typing import NamedTuple, get_type_hints

import numpy as np

__all__ = ["ExecContext", "RulesContext", "SimBars", "ThresholdInputs", "contexts_from_fields", "exec_context",
           "rules_context", "sim_bars"]


class SimBars(NamedTuple):
    """Per-bar inputs of one run, each a float64 (``session``: int64) array of shape (n,)."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    session: np.ndarray   #: session number of each bar
    atr: np.ndarray       #: ATR in points known at each bar's close (stops, fixed-fraction sizing)
    sigma: np.ndarray     #: per-bar return volatility (volatility-target sizing)
    proba: np.ndarray     #: per-bar probability of an up move (Kelly sizing)


class ExecContext(NamedTuple):
    """Contract, costs, capital and fill timing of one run."""

    multiplier: float               #: currency per point per contract (WDO: 10)
    tick_size: float
    slippage_ticks: float           #: adverse slippage of market fills, in ticks
    commission_per_contract: float  #: currency per contract per leg
    commission_pct: float           #: fraction of the fill notional per leg
    lot_size: float
    min_qty: float
    allow_fractional: bool
    margin: float                   #: margin per contract in currency (0: none)
    initial_equity: float
    fill_on_close: bool             #: fill at the decision bar's close instead of the next open


class RulesContext(NamedTuple):
    """Sizing, stops and daily limits of one run (disabled: 0, and ``inf`` for ``max_position``)."""

    size_mode: int        #: :data:`risk._sizing_nb.SIZE_FIXED` / ``_FIXED_FRACTION`` / ``_VOL_TARGET`` / ``_KELLY``
    size_value: float     #: contracts, fraction of equity, per-bar volatility target, or multiple of full Kelly
    payoff_ratio: float   #: Kelly: average win / average loss (NaN otherwise)
    size_cap: float       #: Kelly: largest fraction of equity at risk
    sl_mult: float        #: stop distance in ATRs of the decision bar
    tp_mult: float
    trail_mult: float
    max_bars: int         #: time stop in bars held (entry bar = 1)
    rearm: bool
    max_loss: float       #: daily loss limit in currency
    max_loss_frac: float  #: daily loss limit as a fraction of the session's opening equity
    max_trades: int       #: trades per session
    max_position: float   #: contracts


class ThresholdInputs(NamedTuple):
    """What the probability-threshold rule reads, besides its per-combination thresholds (sweep kernels).

    The arguments of :func:`strategies._signals_nb.threshold_sides_nb` that do
    not vary over a grid.
    """

    proba: np.ndarray                #: float64 (n,), the traded probability
    bars_to_close: np.ndarray        #: int64 (n,), bars left in the session after each bar
    flat_bars_before_close: float    #: no position this many bars before the close
    allow_short: bool
    meta_proba: np.ndarray           #: float64 (n,) or (0,) when there is no meta filter
    meta_threshold: float


def _arr(a, dtype=np.float64) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=dtype)


def sim_bars(open_, high, low, close, session, atr=None, sigma=None, proba=None) -> SimBars:
    """:class:`SimBars` with C-contiguous float64 arrays (int64 sessions); a missing ATR, sigma or proba is NaN."""
    o = _arr(open_)
    n = o.shape[0]
    nan = np.full(n, np.nan)
    return SimBars(o, _arr(high), _arr(low), _arr(close), _arr(session, np.int64),
                   nan if atr is None else _arr(atr), nan if sigma is None else _arr(sigma),
                   nan if proba is None else _arr(proba))


def exec_context(spec, costs, initial_equity: float, fill_on_close: bool = False) -> ExecContext:
    """:class:`ExecContext` of a :class:`risk.ContractSpec` and :class:`engines.simulate.Costs` (validated)."""
    cpc, cpct, slip_ticks = costs.kernel_args()
    lot, min_qty, frac = spec.kernel_args()
    return ExecContext(float(spec.multiplier), float(spec.tick_size), float(slip_ticks), float(cpc), float(cpct),
                       float(lot), float(min_qty), bool(frac), float(spec.margin_arg), float(initial_equity),
                       bool(fill_on_close))


def rules_context(sizing, stops, limits) -> RulesContext:
    """:class:`RulesContext` of :class:`risk.Sizing`, :class:`risk.Stops` and :class:`risk.DailyLimits`."""
    size_mode, size_value = sizing.kernel_args()
    payoff_ratio, size_cap = sizing.kelly_args(stops)
    sl, tp, trail, max_bars, rearm = stops.kernel_args()
    max_loss, max_loss_frac, max_trades, max_position = limits.kernel_args()
    return RulesContext(int(size_mode), float(size_value), float(payoff_ratio), float(size_cap), float(sl), float(tp),
                        float(trail), int(max_bars), bool(rearm), float(max_loss), float(max_loss_frac),
                        int(max_trades), float(max_position))


def _cast(cls, fields: dict):
    hints = get_type_hints(cls)   # int, float or bool for every field of these two contexts
    return cls(*(hints[k](fields[k]) for k in cls._fields))


def contexts_from_fields(fields: dict) -> tuple[ExecContext, RulesContext]:
    """``(ExecContext, RulesContext)`` from one dict holding every field of both, by name (cast to the kernels'
    types).  A missing or unknown name raises ``KeyError`` naming it: no field takes a default silently."""
    names = set(ExecContext._fields) | set(RulesContext._fields)
    unknown = sorted(set(fields) - names)
    missing = sorted(names - set(fields))
    if unknown or missing:
        raise KeyError(f"kernel fields: unknown {unknown}, missing {missing}")
    return _cast(ExecContext, fields), _cast(RulesContext, fields)
