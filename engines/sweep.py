"""Parameter sweeps of the probability-threshold strategy, in two tiers.

- :func:`sweep` runs every combination of a parameter grid through the numba
  kernel :func:`engines._sweep_nb.sweep_nb` -- the sides of
  :func:`strategies._signals_nb.threshold_sides_nb` and the bar loop of the
  simulator kernel of :func:`engines.simulate.simulate`
  (:func:`engines._sim_nb.simulate_into_nb`, run without position array or
  trade records), with the one-pass metric kernels of
  :mod:`engines._metrics_nb` -- and returns one row of metrics per
  combination, never a bars x combinations table.
- :func:`rerun` runs one chosen combination (the top-K tier) through
  :func:`engines.simulate.simulate`, optionally rebuilt as a vectorbt
  ``Portfolio`` (:func:`engines.vbt.to_vectorbt_portfolio`) for plots, trade
  records and tearsheets.

Both tiers give the same trades, equity and metrics for a combination (tests
check the equity bit for bit and the metrics to 1e-12).  :func:`grid_from_spec` parses a grid written as text (the
form a CLI flag takes).

Grid parameters (:data:`GRID_PARAMS`) and their defaults when not swept:

=====================  ======================================  ===================
name (aliases)         meaning                                  default
=====================  ======================================  ===================
``long_threshold``     long where ``p >= long_threshold``       ``strategy``'s
(``long``)
``short_threshold``    short where ``p <= short_threshold``     ``strategy``'s
(``short``)
``min_holding``        decision bars a side is kept             ``strategy``'s
(``holding``)
``sl_atr`` (``sl``)    stop distance in ATRs (0: none)          ``stops``'
``tp_atr`` (``tp``)    take distance in ATRs (0: none)          ``stops``'
``trail_atr``          trailing distance in ATRs (0: none)      ``stops``'
(``trail``)
``max_bars``           time stop in bars held (0: none)         ``stops``'
=====================  ======================================  ===================
"""

from __future__ import annotations

import difflib
import itertools
import math
import numbers
import re
from dataclasses import dataclass, replace

import numba
import numpy as np
import pandas as pd

from engines import _sweep_nb as snb
from engines._metrics_nb import (
    RM_ANN_RETURN,
    RM_ANN_VOL,
    RM_CALMAR,
    RM_MAX_DD,
    RM_SHARPE,
    RM_SORTINO,
    RM_TOTAL,
)
from engines.contexts import ThresholdInputs, exec_context, rules_context, sim_bars
from engines.metrics import BLOWN_UNDEFINED, METRIC_KEYS, periods_per_year, risk_free_per_period
from engines.simulate import (
    Costs,
    SimResult,
    Sizing,
    Stops,
    _c,
    _prices,
    _real,
    _run_configs,
    _vol_inputs,
    simulate,
)
from engines.overfit import deflated_sharpe_ratio, probability_of_backtest_overfitting
from engines.verdict import permutation_p_value
from ml.data import bars_calendar
from ml.exceptions import ParameterError
from risk._sizing_nb import SIZE_FIXED, SIZE_KELLY, fixed_contracts_nb
from risk.limits import DailyLimits
from strategies import ProbabilityThresholdStrategy, session_facts
from strategies._base import _probabilities

__all__ = ["GRID_PARAMS", "SWEEP_CODE", "Mirror", "SweepRun", "best_of_grid_null", "chunked_sweep", "grid_chunks",
           "grid_combinations", "grid_from_spec", "overfitting", "portfolio_of", "rerun", "session_returns", "sweep"]

#: Parameters a grid may sweep, in the order of the result's index levels.
GRID_PARAMS = ("long_threshold", "short_threshold", "min_holding", "sl_atr", "tp_atr",
               "trail_atr", "max_bars")
_INT_PARAMS = ("min_holding", "max_bars")
_STRATEGY_PARAMS = ("long_threshold", "short_threshold", "min_holding")
_ALIASES = {"long": "long_threshold", "short": "short_threshold", "holding": "min_holding",
            "sl": "sl_atr", "stop_atr": "sl_atr", "tp": "tp_atr", "take_atr": "tp_atr", "trail": "trail_atr",
            "trailing_atr": "trail_atr", "time_stop": "max_bars"}
_PCOL = {"long_threshold": snb.P_LONG, "short_threshold": snb.P_SHORT,
         "min_holding": snb.P_MIN_HOLDING, "sl_atr": snb.P_SL, "tp_atr": snb.P_TP,
         "trail_atr": snb.P_TRAIL, "max_bars": snb.P_MAX_BARS}
_STAT_COL = {"sharpe": RM_SHARPE, "sortino": RM_SORTINO, "calmar": RM_CALMAR,
             "max_drawdown": RM_MAX_DD, "recovery_factor": snb.ST_RECOVERY,
             "win_rate": snb.ST_WIN_RATE, "profit_factor": snb.ST_PROFIT_FACTOR,
             "total_return": RM_TOTAL, "annualized_return": RM_ANN_RETURN,
             "annualized_volatility": RM_ANN_VOL, "n_trades": snb.ST_N_TRADES,
             "exposure": snb.ST_EXPOSURE, "expectancy": snb.ST_EXPECTANCY}
#: Columns of :func:`sweep`'s result: :data:`engines.metrics.METRIC_KEYS` then ``final_equity``.
RESULT_COLUMNS = METRIC_KEYS + ("final_equity", "account_blown", "blown_bar", "ambiguous_exits")
_MAX_RANGE = 100_000


# --------------------------------------------------------------------------- grid


def _canonical(name) -> str:
    if not isinstance(name, str):
        raise TypeError(f"grid parameter names must be str, got {type(name).__name__} {name!r}.")
    key = name.strip()
    if key in GRID_PARAMS:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    known = list(GRID_PARAMS) + list(_ALIASES)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ParameterError(f"unknown grid parameter {name!r}; known: {', '.join(GRID_PARAMS)} "
                         f"(aliases {', '.join(f'{a}={c}' for a, c in _ALIASES.items())}).{hint}")


def _decimals(text: str) -> int:
    t = text.lower()
    mant, _, exp = t.partition("e")
    d = len(mant.partition(".")[2])
    return max(0, d - int(exp)) if exp else d


def _number(text: str, name: str, spec: str):
    t = text.strip()
    try:
        if re.fullmatch(r"[+-]?\d+", t):
            return int(t)
        v = float(t)
    except ValueError:
        raise ParameterError(f"`{name}`: {text!r} is not a number (in {spec!r}); write values as "
                             f"'{name}=1,2,3' or a range '{name}=start:stop:step'.") from None
    if not math.isfinite(v):
        raise ParameterError(f"`{name}`: {text!r} is not a finite number (in {spec!r}).")
    return v


def _expand_range(text: str, name: str, spec: str) -> list:
    parts = text.split(":")
    if len(parts) != 3:
        raise ParameterError(f"`{name}`: range {text!r} must be 'start:stop:step' (stop included), "
                             f"e.g. '{name}=0.55:0.70:0.05'.")
    start, stop, step = (_number(p, name, spec) for p in parts)
    if not step > 0:
        raise ParameterError(f"`{name}`: the step of range {text!r} must be > 0, got {step!r}.")
    if stop < start:
        raise ParameterError(f"`{name}`: range {text!r} has stop {stop!r} < start {start!r}; "
                             f"write it as 'start:stop:step' with start <= stop.")
    count = int(math.floor((stop - start) / step + 1e-9)) + 1
    if count > _MAX_RANGE:
        raise ParameterError(f"`{name}`: range {text!r} gives {count:,} values (more than {_MAX_RANGE:,}); "
                             f"use a larger step.")
    if all(isinstance(x, int) for x in (start, stop, step)):
        return [start + k * step for k in range(count)]
    dec = max(_decimals(p.strip()) for p in parts)
    return [round(start + k * step, dec) for k in range(count)]


@dataclass(frozen=True)
class Mirror:
    """A grid parameter tied to another one: ``value = around - other`` in every combination.

    ``{"long_threshold": [0.55, 0.6], "short_threshold": Mirror("long_threshold")}``
    sweeps two combinations, ``(0.55, 0.45)`` and ``(0.6, 0.4)``, not four.  In a
    grid spec it is written ``short=1-long``.  Any callable taking the
    combination (a dict of the other parameters' values) and returning a value
    ties a parameter the same way; this one has a readable text form, so it
    travels through the run's ``config.toml`` and chunk keys.
    """

    of: str
    around: float = 1.0

    def __call__(self, combo: dict) -> float:
        return round(float(self.around) - float(combo[self.of]), 12)

    def __str__(self) -> str:
        return f"{self.around:g}-{self.of}"


def grid_from_spec(spec: str) -> dict[str, list]:
    """Parse a grid written as text into ``{parameter: [values]}``.

    Parameters
    ----------
    spec : str
        Comma-separated ``name=values`` items.  Values are numbers separated
        by commas (``min_holding=5,10,20``) or inclusive ranges
        ``start:stop:step`` (``long_threshold=0.55:0.7:0.05``), which may be
        mixed.  Names are :data:`GRID_PARAMS` or their aliases (``long``,
        ``short``, ``holding``, ``sl``, ``tp``, ``trail``).  Items may also be
        separated by ``;`` or whitespace.  ``name=A-other`` ties a parameter to
        another one (:class:`Mirror`: ``short=1-long`` sweeps ``short = 1 -
        long`` with every ``long``).

    Returns
    -------
    dict of str to list
        Canonical names, values in the order written (duplicates removed).

    Raises
    ------
    ParameterError
        Empty spec, a value before any ``name=``, an unknown name (with a
        suggestion), a name given twice, a non-number, a bad range.

    Examples
    --------
    >>> grid_from_spec("long_threshold=0.55:0.65:0.05,holding=5,10,20")
    {'long_threshold': [0.55, 0.6, 0.65], 'min_holding': [5, 10, 20]}
    """
    if not isinstance(spec, str):
        raise TypeError(f"`spec` must be a str such as 'long_threshold=0.55:0.7:0.05,holding=5,10', "
                        f"got {type(spec).__name__}.")
    tokens = [t for t in re.split(r"[,;\s]+", spec.strip()) if t]
    if not tokens:
        raise ParameterError("`spec` is empty; write e.g. 'long_threshold=0.55:0.7:0.05,holding=5,10'.")
    grid: dict[str, list] = {}
    current = None
    for tok in tokens:
        if "=" in tok:
            name, _, first = tok.partition("=")
            if not name.strip():
                raise ParameterError(f"item {tok!r} of {spec!r} has no parameter name before '='.")
            current = _canonical(name)
            if current in grid:
                raise ParameterError(f"`{current}` is given twice in {spec!r}; list all its values once, "
                                     f"e.g. '{current}=1,2,3'.")
            grid[current] = []
            if not first.strip():
                raise ParameterError(f"`{current}` has no value in {spec!r}; write e.g. '{current}=1,2'.")
            tok = first
        elif current is None:
            raise ParameterError(f"value {tok!r} comes before any 'name=' in {spec!r}; start with a "
                                 f"parameter name, e.g. 'long_threshold={tok}'.")
        tie = re.fullmatch(r"([+-]?\d+(?:\.\d*)?)-([A-Za-z_]+)", tok.strip())
        if tie:
            if grid[current]:
                raise ParameterError(f"`{current}` is tied ({tok!r}) and also lists values in {spec!r}; "
                                     f"a tied parameter takes its value from the other one only.")
            grid[current] = Mirror(_canonical(tie.group(2)), float(tie.group(1)))
        elif isinstance(grid[current], Mirror):
            raise ParameterError(f"`{current}` is tied ({grid[current]}) and also lists {tok!r} in {spec!r}.")
        elif ":" in tok:
            grid[current].extend(_expand_range(tok, current, spec))
        else:
            grid[current].append(_number(tok, current, spec))
    return {k: (v if isinstance(v, Mirror) else list(dict.fromkeys(v))) for k, v in grid.items()}


def _check_value(key: str, v):
    if key in _INT_PARAMS:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            if not (_real(v) and float(v).is_integer()):
                raise TypeError(f"`{key}` values must be ints (bars), got {type(v).__name__} {v!r}.")
        return int(v)
    if not _real(v):
        raise TypeError(f"`{key}` values must be numbers, got {type(v).__name__} {v!r}.")
    return float(v)


def _check_grid(grid) -> dict[str, list]:
    """A dict grid with canonical names in :data:`GRID_PARAMS` order; tied parameters stay callables."""
    if isinstance(grid, str):
        grid = grid_from_spec(grid)
    if not isinstance(grid, dict):
        raise TypeError(f"`grid` must be a dict of parameter -> list of values (or a spec str, or a list "
                        f"of combinations), got {type(grid).__name__}.")
    if not grid:
        raise ParameterError("`grid` is empty; give at least one parameter with its values, "
                             "e.g. {'long_threshold': [0.55, 0.6]}.")
    out: dict[str, list] = {}
    for name, values in grid.items():
        key = _canonical(name)
        if key in out:
            raise ParameterError(f"`{key}` appears twice in `grid` (as {name!r} and an alias).")
        if callable(values):
            out[key] = Mirror(_canonical(values.of), values.around) if isinstance(values, Mirror) else values
            continue
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            values = [values]
        values = [_check_value(key, v) for v in values]
        if not values:
            raise ParameterError(f"`grid['{name}']` holds no values.")
        if len(set(values)) != len(values):
            dup = next(v for v in values if values.count(v) > 1)
            raise ParameterError(f"`{key}` lists the value {dup!r} more than once; each combination "
                                 f"would be run (and counted as a trial) twice.")
        out[key] = values
    for key, v in out.items():
        if isinstance(v, Mirror) and (v.of not in out or callable(out[v.of])):
            raise ParameterError(f"`{key}` is tied to `{v.of}`, which the grid does not give values; tie it "
                                 f"to a swept parameter, e.g. 'short=1-long' with 'long=0.55,0.6'.")
    return {k: out[k] for k in GRID_PARAMS if k in out}


def _is_product(grid) -> bool:
    """A dict of value lists only: its combinations are the Cartesian product."""
    return isinstance(grid, dict) and not any(callable(v) for v in grid.values())


def grid_combinations(grid) -> tuple[list[str], list[tuple]]:
    """The combinations a grid runs, as ``(names, [values tuple per combination])``.

    ``grid`` is one of:

    - a dict ``{parameter: [values]}`` (or its spec str, :func:`grid_from_spec`):
      the Cartesian product, in the order of :data:`GRID_PARAMS`, the last
      parameter varying fastest; a value that is a callable (:class:`Mirror`,
      or any function of the combination's other values) ties that parameter
      to the others instead of multiplying the grid;
    - a list of dicts, or a DataFrame with one row per combination: exactly
      those combinations, in that order (any set, not only a product).  Every
      combination names the same parameters.

    Names are canonical, values checked as a grid's (ints for bars); a
    combination listed twice is refused (it would count as two trials).
    """
    if isinstance(grid, pd.DataFrame):
        grid = grid.to_dict("records")
    if isinstance(grid, (list, tuple)):
        if not grid:
            raise ParameterError("`grid` is an empty list of combinations.")
        rows = []
        names = None
        for i, combo in enumerate(grid):
            if not isinstance(combo, dict):
                raise TypeError(f"`grid` as a list holds one dict per combination; item {i} is "
                                f"{type(combo).__name__}.")
            row = {}
            for k, v in combo.items():
                key = _canonical(k)
                if key in row:
                    raise ParameterError(f"combination {i} of `grid` names `{key}` twice.")
                row[key] = _check_value(key, v)
            keys = [k for k in GRID_PARAMS if k in row]
            if names is None:
                names = keys
            elif keys != names:
                raise ParameterError(f"combination {i} of `grid` sets {keys}, the first one {names}; every "
                                     f"combination must set the same parameters.")
            rows.append(tuple(row[k] for k in names))
        combos = rows
    else:
        grid = _check_grid(grid)
        names = list(grid)
        free = [k for k in names if not callable(grid[k])]
        combos = []
        for values in itertools.product(*(grid[k] for k in free)):
            combo = dict(zip(free, values))
            for k in names:
                if callable(grid[k]):
                    try:
                        combo[k] = _check_value(k, grid[k](dict(combo)))
                    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                        raise ParameterError(f"tied parameter `{k}` ({grid[k]}) failed on {combo}: {exc}") from None
            combos.append(tuple(combo[k] for k in names))
    seen = set()
    for c in combos:
        if c in seen:
            raise ParameterError(f"the combination {dict(zip(names, c))} comes twice in `grid`; it would be run "
                                 f"(and counted as a trial) twice.")
        seen.add(c)
    return names, combos


def _grid_values(names, combos) -> dict[str, list]:
    """Each parameter's distinct values, in order of appearance (the result's ``attrs['grid']``)."""
    return {k: list(dict.fromkeys(c[j] for c in combos)) for j, k in enumerate(names)}


# --------------------------------------------------------------------------- shared setup


def _combo_configs(params: dict, strategy: ProbabilityThresholdStrategy, stops: Stops, base=None):
    """The strategy and stops of one combination (validated by their own rules).

    ``base``: ``strategy.get_params()`` when the caller already has it.
    """
    strat_kw = {k: params[k] for k in _STRATEGY_PARAMS if k in params}
    strat = strategy
    if strat_kw:
        base = strategy.get_params() if base is None else base
        strat = ProbabilityThresholdStrategy(**{**base, **strat_kw})
    stop_kw = {}
    for k in ("sl_atr", "tp_atr", "trail_atr"):
        if k in params:
            stop_kw[k] = None if params[k] == 0 else params[k]
    if "max_bars" in params:
        stop_kw["max_bars"] = None if params["max_bars"] == 0 else params["max_bars"]
    st = replace(stops, **stop_kw) if stop_kw else stops
    return strat, st


def _check_configs(strategy, stops):
    strategy = ProbabilityThresholdStrategy() if strategy is None else strategy
    stops = Stops() if stops is None else stops
    if not isinstance(strategy, ProbabilityThresholdStrategy):
        raise TypeError(f"`strategy` must be a ProbabilityThresholdStrategy (the base values of the "
                        f"parameters not swept), got {type(strategy).__name__}.")
    if not isinstance(stops, Stops):
        raise TypeError(f"`stops` must be a Stops (or None), got {type(stops).__name__}.")
    return strategy, stops


def session_returns(result: pd.DataFrame) -> pd.DataFrame:
    """Per-session returns of every combination a :func:`sweep` ran.

    Rebuilt from ``result.attrs["session_returns"]``, which holds them as
    plain JSON values (session dates, combination keys, a sessions x
    combinations list of lists) so that the result still writes to Parquet
    and pandas can copy its ``attrs``.  Columns are every combination run, in
    run order, even when ``result``'s rows were filtered since.
    """
    raw = (getattr(result, "attrs", {}) or {}).get("session_returns")
    if not isinstance(raw, dict):
        raise ParameterError("`result` must be a sweep() result (its attrs hold 'session_returns').")
    names = raw["names"]
    keys = [tuple(k) for k in raw["combos"]]
    cols = pd.MultiIndex.from_tuples(keys, names=names)  # as sweep()'s index, even with one parameter
    index = pd.DatetimeIndex(pd.to_datetime(raw["sessions"]), name="session_date")
    return pd.DataFrame(np.asarray(raw["values"], dtype=np.float64).reshape(len(index), len(keys)),
                        index=index, columns=cols)


def sweep(bars: pd.DataFrame, proba, grid, *, strategy: ProbabilityThresholdStrategy | None = None,
          contract=None, sizing: Sizing | None = None, stops: Stops | None = None,
          costs: Costs | None = None, limits: DailyLimits | None = None,
          initial_equity: float = 100_000.0, fill_on_close: bool = False, atr=None, sigma=None,
          meta_proba=None, calendar=None, bar_minutes=None, risk_free: float = 0.0) -> pd.DataFrame:
    """Backtest every combination of ``grid`` and return one row of metrics per combination.

    Parameters
    ----------
    bars : DataFrame
        Bars as for :func:`engines.simulate.simulate`.
    proba : Series or array-like of shape (n_bars,)
        Probability of an up move per bar (NaN: no opinion, flat).
    grid : dict of str to list, str, list of dicts or DataFrame
        Values of each swept parameter (:data:`GRID_PARAMS` or aliases); a
        str is parsed by :func:`grid_from_spec`.  A dict runs the Cartesian
        product, except parameters tied to others (:class:`Mirror`, e.g.
        ``short_threshold = 1 - long_threshold``); a list of dicts (or a
        DataFrame, one row each) runs exactly those combinations
        (:func:`grid_combinations`).
    strategy : ProbabilityThresholdStrategy, optional
        Values of the strategy parameters not swept (thresholds, holding,
        ``flat_bars_before_close``, ``allow_short``, ``meta_threshold``).
    contract, sizing, costs, limits, initial_equity, fill_on_close, atr, sigma, calendar, bar_minutes, risk_free :
        As for :func:`engines.simulate.simulate`, the same for every combination.
    stops : Stops, optional
        Stops not swept (and ``atr_window``, ``rearm``); a swept value of 0
        disables that stop for the combination.
    meta_proba : Series or array-like, optional
        Meta-label probability for the strategy's meta filter.

    Returns
    -------
    DataFrame
        Indexed by the swept parameters (a MultiIndex, one level per swept
        parameter, in :data:`GRID_PARAMS` order), columns :data:`RESULT_COLUMNS`:
        the keys of :func:`engines.metrics.summarize` (``sharpe``,
        ``sortino``, ``calmar``, ``max_drawdown``, ``recovery_factor``,
        ``win_rate``, ``profit_factor``, ``total_return``,
        ``annualized_return``, ``annualized_volatility``, ``n_trades``,
        ``exposure``, ``expectancy``), ``final_equity``, ``account_blown``
        (the account fell to zero or below its margin and stopped trading),
        ``blown_bar`` (bar position, -1: never) and ``ambiguous_exits``
        (stop exits on bars that also held the take), each equal to what
        :func:`engines.simulate.simulate` reports for that combination.
        ``attrs``: ``n_trials`` (number of combinations run, for
        :func:`engines.overfit.deflated_sharpe_ratio`, PITFALLS 22),
        ``periods_per_year``, ``grid`` and ``fixed`` (the base configs), and
        ``session_returns``: the compounded return of every session for every
        combination (equity at the session's last bar / equity at the
        previous session's last bar - 1; the initial equity before the first
        session), kept as plain JSON values so the result writes to Parquet;
        :func:`session_returns` rebuilds the (n_sessions x n_combinations)
        DataFrame indexed by session date (as
        :func:`engines.metrics.daily_returns`) with one column per
        combination key.  They feed :func:`overfitting`.

    Notes
    -----
    Metrics are per bar, annualised with :func:`engines.metrics.periods_per_year`
    of the bars' session calendar; trade metrics count closed trades only.
    Sharpe ratios here are annualised: divide by ``sqrt(periods_per_year)``
    for :func:`engines.overfit.deflated_sharpe_ratio`'s per-period ones.
    """
    strategy, stops = _check_configs(strategy, stops)
    names, combos = grid_combinations(grid)
    kelly = isinstance(sizing, Sizing) and sizing.kernel_args()[0] == SIZE_KELLY
    # validate every combination with the configs' own rules; collect kernel arguments
    params = np.empty((len(combos), snb.N_PARAMS))
    needs_atr = False
    strat_args = None
    base = strategy.get_params()
    for c, values in enumerate(combos):
        p = dict(zip(names, values))
        strat, st = _combo_configs(p, strategy, stops, base)
        lt, sh, mh, fb, allow_short, mt = strat.kernel_args()
        sl, tp, trail, max_bars, rearm = st.kernel_args()
        payoff = sizing.kelly_args(st)[0] if kelly else math.nan   # this combination's stops (Kelly)
        params[c] = (lt, sh, mh, sl, tp, trail, max_bars, payoff)
        needs_atr = needs_atr or st.needs_atr
        strat_args = (fb, allow_short, mt, rearm)
    fb, allow_short, mt, rearm = strat_args

    o, h, lo, cl = _prices(bars)
    index = bars.index
    facts = session_facts(bars, calendar=calendar, bar_minutes=bar_minutes)
    p_arr = _c(_probabilities(proba, index, "proba"))
    meta = np.empty(0) if meta_proba is None else _c(_probabilities(meta_proba, index, "meta_proba"))
    spec, sizing, costs, limits = _run_configs(bars, contract, sizing, costs, limits, initial_equity,
                                               fill_on_close)
    # its stop fields (and Kelly's payoff ratio) are replaced by each combination's: any combination's stops do
    ru = rules_context(sizing, st, limits)
    ex = exec_context(spec, costs, initial_equity, fill_on_close)
    atr_arr, sigma_arr = _vol_inputs(bars, atr, sigma, needs_atr, stops.atr_window, ru.size_mode)
    ppy = periods_per_year(bars, calendar=calendar, bar_minutes=facts.bar_minutes)
    rf = risk_free_per_period(risk_free, ppy)

    sess = np.asarray(facts.session, dtype=np.int64)
    session_last = np.append(np.flatnonzero(sess[1:] != sess[:-1]), len(sess) - 1).astype(np.int64)
    # a bar's session date depends on its timestamp alone: ask only for each session's last bar
    session_dates = pd.DatetimeIndex(
        np.asarray(bars_calendar(bars, calendar).sessions(index[session_last]).session_date),
        name="session_date")

    qty = fixed_contracts_nb(ru.size_value, ex.lot_size, ex.min_qty, ru.max_position, ex.allow_fractional) \
        if ru.size_mode == SIZE_FIXED else math.nan
    fast = (ru.size_mode == SIZE_FIXED and qty > 0.0 and not needs_atr and not fill_on_close
            and ru.max_loss == 0.0 and ru.max_loss_frac == 0.0 and ru.max_trades == 0 and ex.margin == 0.0
            and np.all(params[:, snb.P_MAX_BARS] <= 0)
            and all(np.isfinite(a).all() for a in (o, h, lo, cl)))
    sig = ThresholdInputs(p_arr, _c(facts.bars_to_close), float(fb), bool(allow_short), meta, float(mt))
    sim = sim_bars(o, h, lo, cl, facts.session, atr_arr, sigma_arr, p_arr)   # p_arr: Kelly's win probability
    if fast:  # no stops, fixed size, no limits or margin: the fused one-pass kernel
        with numba.parallel_chunksize(1):
            stats, sess_ret = snb.sweep_fast_nb(sig, sim, ex, float(qty), bool(rearm), params, float(ppy), float(rf),
                                                session_last)
    else:
        stats, sess_ret = snb.sweep_nb(sig, sim, ex, ru, params, float(ppy), float(rf), session_last,
                                       int(numba.get_num_threads()))

    idx = pd.MultiIndex.from_tuples(combos, names=names)
    cols = {k: stats[:, _STAT_COL[k]] for k in METRIC_KEYS}
    cols["n_trades"] = stats[:, snb.ST_N_TRADES].astype(np.int64)
    cols["final_equity"] = stats[:, snb.ST_FINAL_EQUITY]
    cols["blown_bar"] = stats[:, snb.ST_BLOWN_BAR].astype(np.int64)
    cols["account_blown"] = cols["blown_bar"] >= 0
    cols["ambiguous_exits"] = stats[:, snb.ST_AMBIGUOUS].astype(np.int64)
    for k in BLOWN_UNDEFINED:   # undefined on a blown account (see engines.metrics.void_if_blown)
        cols[k] = np.where(cols["account_blown"], np.nan, cols[k])
    out = pd.DataFrame(cols, index=idx)[list(RESULT_COLUMNS)]
    out.attrs["n_trials"] = len(combos)
    out.attrs["kernel"] = "fast" if fast else "general"  # which kernel ran (same results; see sweep_fast_nb)
    out.attrs["periods_per_year"] = float(ppy)
    out.attrs["grid"] = _grid_values(names, combos)
    out.attrs["session_returns"] = {  # plain JSON values: see session_returns()
        "sessions": [pd.Timestamp(d).isoformat() for d in session_dates],
        "names": list(names),
        "combos": [[v.item() if isinstance(v, np.generic) else v for v in key] for key in combos],
        "values": np.asarray(sess_ret, dtype=np.float64).tolist(),
    }
    out.attrs["fixed"] = {"strategy": strategy.get_params(), "stops": repr(stops), "sizing": repr(sizing),
                          "costs": repr(costs), "limits": repr(limits), "contract": repr(spec),
                          "initial_equity": float(initial_equity), "fill_on_close": bool(fill_on_close),
                          "risk_free": float(risk_free)}
    return out


# --------------------------------------------------------------------------- overfitting


def _session_sharpes(r: np.ndarray) -> np.ndarray:
    """Per-session (per-period) Sharpe ratio of each column: ``mean / std(ddof=1)``.

    A column flat at 0 (no trades, no open position at a session close)
    scores 0; any other constant column scores NaN (undefined).
    """
    mean = r.mean(axis=0)
    sd = r.std(axis=0, ddof=1)
    out = np.full(r.shape[1], np.nan)
    ok = sd > 0
    out[ok] = mean[ok] / sd[ok]
    out[(sd == 0) & (mean == 0)] = 0.0
    return out


def overfitting(result: pd.DataFrame, *, n_partitions: int | None = None) -> dict:
    """Deflated Sharpe ratio of the best combination and PBO of a :func:`sweep`.

    Parameters
    ----------
    result : DataFrame
        What :func:`sweep` returned (its ``attrs`` must hold ``n_trials`` and
        ``session_returns``).  Rows may have been filtered: the best
        combination is chosen among the rows left, but ``n_trials`` is still
        the number of combinations that were run (PITFALLS 22).
    n_partitions : int, optional
        Blocks of sessions for :func:`engines.overfit.probability_of_backtest_overfitting`;
        default the largest even number <= ``min(16, n_sessions)``.

    Returns
    -------
    dict
        ``best`` (dict of the best combination's parameters, by the result's
        annualised ``sharpe``), ``best_session_sharpe`` (its per-session
        Sharpe), ``dsr``, ``psr_benchmark`` (SR*, per session), ``p_value``
        (``1 - dsr``), ``n_trials`` (from ``attrs``, never typed by hand),
        ``trial_sharpe_variance``, ``n_sessions``, ``pbo``, ``prob_loss``, ``n_partitions``,
        ``n_pbo_configs`` (columns given to PBO) and ``n_constant_dropped``.

    Raises
    ------
    ParameterError
        Not a sweep result; fewer than 4 sessions; an odd or too large
        ``n_partitions``; the best combination's session returns constant;
        per-session Sharpe ratios (or their expected maximum) beyond the
        +-1 that :mod:`engines.overfit` accepts as per-period values.

    Notes
    -----
    Everything is measured on per-**session** returns
    (``attrs["session_returns"]``), compounded from the per-bar equity, so the
    Sharpe ratios handed to :func:`engines.overfit.deflated_sharpe_ratio` are
    per session, not annualised (PITFALLS 14).  The trials' Sharpe ratios are
    the per-session Sharpe ratios of *all* combinations run (filtered rows
    included), handed over as their variance (``ddof=1``, reported as
    ``trial_sharpe_variance``) with ``n_trials``; a combination flat at 0 in every session (no trades) counts
    with Sharpe 0, one with an undefined Sharpe (another constant) counts in
    ``n_trials`` only.  Columns with constant session returns are dropped
    from the PBO matrix (they carry no ranking information; their number is
    ``n_constant_dropped``); with fewer than 2 columns left ``pbo`` and
    ``prob_loss`` are NaN.
    """
    if not isinstance(result, pd.DataFrame) or "session_returns" not in result.attrs \
            or "n_trials" not in result.attrs:
        raise ParameterError("`result` must be the DataFrame returned by sweep() (its attrs hold "
                             "'n_trials' and 'session_returns').")
    sr_df = session_returns(result)
    n_trials = int(result.attrs["n_trials"])
    n_sessions = int(sr_df.shape[0])
    if n_sessions < 4:
        raise ParameterError(f"overfitting() needs at least 4 sessions; the sweep covers {n_sessions} "
                             f"session(s) over {n_trials} combination(s). Sweep more data.")
    if n_partitions is None:
        n_partitions = min(16, n_sessions) // 2 * 2
    if isinstance(n_partitions, bool) or not isinstance(n_partitions, numbers.Integral):
        raise TypeError(f"`n_partitions` must be an int, got {type(n_partitions).__name__}.")
    n_partitions = int(n_partitions)
    if n_partitions < 2 or n_partitions % 2 or n_partitions > n_sessions:
        raise ParameterError(f"`n_partitions` must be even, >= 2 and <= the {n_sessions} sessions, "
                             f"got {n_partitions}.")
    if len(result) == 0:
        raise ParameterError("`result` has no rows to choose the best combination from.")

    r = sr_df.to_numpy(dtype=np.float64)
    sharpes = _session_sharpes(r)
    key = result["sharpe"].idxmax() if result["sharpe"].notna().any() else result.index[0]
    col = sr_df.columns.get_loc(key)
    best_ret = r[:, col]
    best = {name: (v.item() if isinstance(v, np.generic) else v)
            for name, v in zip(result.index.names, key if isinstance(key, tuple) else (key,))}
    if not np.std(best_ret) > 0:
        raise ParameterError(f"the best combination {best} has constant session returns "
                             f"(no trades?); its Sharpe ratio is undefined.")
    trial = sharpes[np.isfinite(sharpes)]
    # Per-session Sharpe ratios computed here, so the "looks annualised" guard is
    # skipped: a combination losing its costs every session genuinely has SR < -1.
    dsr = deflated_sharpe_ratio(best_ret, n_trials=n_trials, trial_sharpes=trial, per_period_checked=True)
    var = float(dsr.sr_variance)

    varying = np.ptp(r, axis=0) > 0
    n_dropped = int((~varying).sum())
    if varying.sum() >= 2:
        pbo = probability_of_backtest_overfitting(r[:, varying], n_partitions=n_partitions)
        pbo_val, prob_loss = float(pbo.pbo), float(pbo.prob_loss)
    else:
        pbo_val = prob_loss = float("nan")
    return {"best": best, "best_session_sharpe": float(sharpes[col]), "dsr": float(dsr.dsr),
            "psr_benchmark": float(dsr.psr_benchmark), "p_value": float(dsr.p_value),
            "n_trials": n_trials, "trial_sharpe_variance": var, "n_sessions": n_sessions, "pbo": pbo_val, "prob_loss": prob_loss,
            "n_partitions": n_partitions, "n_pbo_configs": int(varying.sum()),
            "n_constant_dropped": n_dropped}


# --------------------------------------------------------------------------- in chunks, resumable

#: Code whose change can change a sweep's numbers (part of a chunk's key).
SWEEP_CODE = ("engines/sweep.py", "engines/_sweep_nb.py", "engines/_sim_nb.py", "engines/_metrics_nb.py",
              "engines/simulate.py", "engines/metrics.py", "strategies", "risk")


def grid_chunks(grid, size: int) -> list:
    """Split a grid into chunks of at most ``size`` combinations, in run order.

    A Cartesian grid (a dict of value lists) is cut into sub-grids: the
    leading parameters are fixed one combination at a time until the product
    of the remaining ones fits ``size`` (the last parameter's values are
    sliced when even it alone does not), so the chunks, concatenated, list
    the combinations in the order of the full product.  Any other grid (tied
    parameters, a list of combinations) is cut into lists of at most ``size``
    combinations (dicts), in the order of :func:`grid_combinations`.
    """
    if not _is_product(grid):
        names, combos = grid_combinations(grid)
        rows = [dict(zip(names, c)) for c in combos]
        return [rows[i:i + size] for i in range(0, len(rows), size)]
    names = list(grid)
    sizes = [len(grid[n]) for n in names]
    k = 0
    while k < len(names) and math.prod(sizes[k:]) > size:
        k += 1
    slice_last = k == len(names)
    if slice_last:
        k -= 1
    chunks = []
    for prefix in itertools.product(*(grid[n] for n in names[:k])):
        fixed = {n: [v] for n, v in zip(names[:k], prefix)}
        if slice_last:
            last = names[-1]
            vals = grid[last]
            chunks.extend({**fixed, last: vals[i:i + size]} for i in range(0, len(vals), size))
        else:
            chunks.append({**fixed, **{n: list(grid[n]) for n in names[k:]}})
    return chunks


def _n_combos(grid) -> int:
    return len(grid_combinations(grid)[1])


def _key(obj) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _default_key(bars, proba, kw) -> dict:
    """What makes a chunk's numbers: the bars, the probabilities, the fixed arguments, the engine code."""
    import hashlib

    from ml._fingerprint import source_hash

    prices = np.ascontiguousarray(bars[["open", "high", "low", "close"]].to_numpy(np.float64))
    p = np.ascontiguousarray(_probabilities(proba, bars.index, "proba"))
    return {"bars": hashlib.sha256(prices.tobytes() + bars.index.asi8.tobytes()).hexdigest()[:16],
            "proba": hashlib.sha256(p.tobytes()).hexdigest()[:16],
            "kwargs": {k: repr(v) for k, v in sorted(kw.items())},
            "code": source_hash(*SWEEP_CODE)}


def _sweep_chunk(bars, proba, grid, kw):
    """One chunk; warnings (raised in a worker process too) come back as text for run.log."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = sweep(bars, proba, grid, **kw)
    return df, [f"{w.category.__name__}: {w.message}" for w in caught]


def _merge(parts: list[pd.DataFrame], grid) -> pd.DataFrame:
    """Concatenate chunk results into one :func:`engines.sweep.sweep` result (attrs included)."""
    first = parts[0].attrs["session_returns"]
    n_sess = len(first["sessions"])
    values, combos = [], []
    for part in parts:
        sr = part.attrs["session_returns"]
        if sr["sessions"] != first["sessions"] or sr["names"] != first["names"]:
            raise RuntimeError("sweep chunks disagree on the sessions; delete the chunks folder and rerun")
        combos.extend(sr["combos"])
        values.append(np.asarray(sr["values"], dtype=np.float64).reshape(n_sess, len(sr["combos"])))
    merged = pd.concat(parts)
    merged.attrs = dict(parts[0].attrs)
    merged.attrs.update(n_trials=int(len(merged)), grid=_grid_values(*grid_combinations(grid)),
                        session_returns={"sessions": first["sessions"], "names": first["names"],
                                         "combos": combos, "values": np.concatenate(values, axis=1).tolist()})
    return merged


def chunked_sweep(bars: pd.DataFrame, proba, grid, *, folder, key: dict | None = None, chunk_size: int = 64,
                  n_jobs: int = 1, progress: bool = False, log=None, **sweep_kwargs) -> tuple[pd.DataFrame, dict]:
    """:func:`sweep` in chunks saved under ``folder``: an interrupted sweep resumes where it stopped.

    Parameters
    ----------
    bars, proba, grid, **sweep_kwargs :
        As for :func:`sweep`.
    folder : str or Path
        Where each finished chunk is written (atomically, as Parquet) with a
        ``manifest.json``; a later call with the same inputs reuses every
        finished chunk, recomputes the rest and deletes chunks of other inputs.
    key : dict, optional
        What identifies the results besides the chunk's grid (data, settings,
        code).  Default: hashes of the bars, the probabilities, ``sweep_kwargs``
        and the engine code, so nothing computed from other inputs or other
        code is ever reused.
    chunk_size : int, default 64
        Combinations per chunk (:func:`grid_chunks`).
    n_jobs : int, default 1
        Chunks run through :class:`joblib.Parallel` (a Dask or Ray backend reaches a cluster).
    progress : bool, default False
        A tqdm progress bar.
    log : logging.Logger, optional
        Where reuse, stale chunks and warnings are reported.

    Returns
    -------
    (DataFrame, dict)
        What :func:`sweep` returns for the whole grid (rows in the order of the
        full product, ``attrs`` merged), and counters ``total``, ``reused``,
        ``computed``, ``stale_removed``, ``chunk_size``.
    """
    import json
    import logging
    import time
    from pathlib import Path

    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    from ml._io import atomic_output, atomic_write_text

    log = log or logging.getLogger(__name__)
    if _is_product(grid) or isinstance(grid, str):
        grid = _check_grid(grid)
    names, combos = grid_combinations(grid)
    if not _is_product(grid):  # ties and lists as plain combinations: what the chunk keys and manifest hold
        grid = [dict(zip(names, c)) for c in combos]
    kw = sweep_kwargs
    settings = key if key is not None else _default_key(bars, proba, kw)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chunks = grid_chunks(grid, chunk_size)
    keys = [_key({"settings": settings, "grid": c}) for c in chunks]
    paths = [folder / f"chunk-{i:05d}-{k}.parquet" for i, k in enumerate(keys)]
    manifest = folder / "manifest.json"
    if manifest.is_file():
        try:
            old = json.loads(manifest.read_text(encoding="utf-8")).get("settings", {})
        except (OSError, ValueError):
            old = {}
        changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
        if changed:
            log.info("settings changed since the last run in %s: %s", folder,
                     "; ".join(f"{k} ({old.get(k)!r} -> {settings.get(k)!r})" for k in changed))
    wanted = {p.name for p in paths}
    stale = [p for p in folder.glob("chunk-*.parquet") if p.name not in wanted]
    for p in stale:
        p.unlink()
    if stale:
        log.info("removed %d stale sweep chunk(s) computed with other settings or another grid", len(stale))
    atomic_write_text(manifest, json.dumps({"settings": settings, "grid": grid, "chunk_size": chunk_size,
                                            "n_chunks": len(chunks)}, indent=2, default=str))

    parts: list = [None] * len(chunks)
    for i, p in enumerate(paths):
        if p.is_file():
            try:
                df = pd.read_parquet(p)
                if len(df) == _n_combos(chunks[i]) and "session_returns" in df.attrs:
                    parts[i] = df
                    continue
            except Exception as exc:  # noqa: BLE001 - an unreadable chunk is recomputed
                log.warning("chunk %s unreadable (%s); recomputing it", p.name, exc)
            p.unlink(missing_ok=True)
    todo = [i for i, part in enumerate(parts) if part is None]
    reused = len(chunks) - len(todo)
    n_combos = len(combos)
    if reused:
        log.info("resuming: reused %d of %d finished sweep chunk(s); computing %d", reused, len(chunks), len(todo))
    log.info("sweeping %s combination(s) of %s in %d chunk(s) of <= %d", f"{n_combos:,}",
             ", ".join(names),
             len(chunks), chunk_size)
    t0 = time.perf_counter()
    bar = tqdm(total=len(chunks), initial=reused, desc="sweep chunks", unit="chunk", disable=not progress)
    try:
        if n_jobs == 1:
            results = ((i, _sweep_chunk(bars, proba, chunks[i], kw)) for i in todo)
        else:
            results = zip(todo, Parallel(n_jobs=n_jobs, return_as="generator")(
                delayed(_sweep_chunk)(bars, proba, chunks[i], kw) for i in todo))
        seen = set()
        for i, (df, caught) in results:
            for text in caught:
                if text not in seen:
                    seen.add(text)
                    log.warning("sweep: %s", text)
            with atomic_output(paths[i]) as tmp:
                df.to_parquet(tmp)
            parts[i] = df
            bar.update(1)
    finally:
        bar.close()
    log.info("swept in %.2f s (%d chunk(s) computed, %d reused)", time.perf_counter() - t0, len(todo), reused)
    counters = {"total": len(chunks), "reused": reused, "computed": len(todo), "stale_removed": len(stale),
                "chunk_size": chunk_size}
    return _merge(parts, grid), counters


# --------------------------------------------------------------------------- selection-adjusted p-value


def _best(result: pd.DataFrame, metric: str) -> float:
    """The best finite ``metric`` of a sweep result (NaN: every combination undefined, e.g. blown)."""
    vals = result[metric].to_numpy(dtype=np.float64)
    vals = vals[np.isfinite(vals)]
    return float(vals.max()) if len(vals) else float("nan")


def _null_batch(bars, p_arr, grid, offsets, metric, sweep_kwargs) -> list:
    return [_best(sweep(bars, np.roll(p_arr, int(k)), grid, **sweep_kwargs), metric) for k in offsets]


def best_of_grid_null(bars: pd.DataFrame, proba, grid, *, n: int = 200, seed: int = 0, metric: str = "sharpe",
                      observed: float | None = None, n_jobs: int = 1, batch_size: int = 10,
                      **sweep_kwargs) -> dict:
    """Selection-adjusted p-value of a sweep's best combination: a best-of-grid null.

    A p-value of the best of ``K`` combinations computed as if that one had been
    the only one tried is too small: the best of ``K`` lucky draws looks skilled.
    Here every null draw sweeps the **whole grid** on probabilities that carry no
    information about the bars' future, and keeps its best ``metric``; the
    observed best is compared with that distribution of bests.

    Parameters
    ----------
    bars, proba, grid :
        As for :func:`sweep`.
    n : int, default 200
        Null draws.
    seed : int, default 0
        Seed of the rotation offsets (drawn all at once, so the null does not
        depend on ``n_jobs`` or ``batch_size``).
    metric : str, default "sharpe"
        The column of :func:`sweep`'s result the best combination is chosen by
        (larger is better; NaN, e.g. a blown account, is never the best).
    observed : float, optional
        The observed best ``metric`` when the sweep was already run on these
        inputs (e.g. in chunks); default: swept here.
    n_jobs, batch_size :
        Batches of draws run through :class:`joblib.Parallel`.
    **sweep_kwargs :
        The fixed arguments given to :func:`sweep` (strategy, costs, stops, ...).

    Returns
    -------
    dict
        ``observed``, ``null`` (the best ``metric`` of each draw, NaN where
        every combination was undefined), ``p_value``
        ``(1 + #{null >= observed}) / (n + 1)``, ``n``, ``n_combinations``,
        ``metric``, ``min_offset`` and ``method`` (in words).

    Notes
    -----
    Draw ``i`` rotates the probability series circularly by an offset drawn
    uniformly from ``[L, n_bars - L]`` bars, where ``L`` is the longest
    session's bar count, so no bar is given a probability from its own
    session.  A rotation keeps everything about the probabilities -- their
    distribution, their autocorrelation, how often and how long they cross
    the thresholds -- and breaks only their alignment with the bars that
    follow; prices, stops, costs and session ends are the real ones.  It is
    a null of "the probabilities carry no information", for a fixed set of
    predictions (the model is not re-fitted: see
    :func:`engines.verdict.permutation_test` for that).

    References
    ----------
    .. [1] White, H. (2000). "A Reality Check for Data Snooping".
       *Econometrica* 68(5), 1097-1126 (the distribution of the best of many
       strategies under the null).
    .. [2] Aronson, D. (2006). *Evidence-Based Technical Analysis*, ch. 6
       (data-mining bias; Monte Carlo permutation of the best rule).
    """
    from joblib import Parallel, delayed

    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ParameterError(f"`n` (null draws) must be an int >= 1, got {n!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ParameterError(f"`batch_size` must be an int >= 1, got {batch_size!r}.")
    if metric not in RESULT_COLUMNS:
        close = difflib.get_close_matches(str(metric), RESULT_COLUMNS, n=1)
        raise ParameterError(f"`metric` must be a column of sweep()'s result, got {metric!r}"
                             + (f"; did you mean {close[0]!r}?" if close else "."))
    names, combos = grid_combinations(grid)
    if not _is_product(grid) and not isinstance(grid, str):  # plain combinations travel to any worker
        grid = [dict(zip(names, c)) for c in combos]
    n_combos = len(combos)
    p_arr = _probabilities(proba, bars.index, "proba")
    facts = session_facts(bars, calendar=sweep_kwargs.get("calendar"), bar_minutes=sweep_kwargs.get("bar_minutes"))
    longest = int(pd.Series(np.asarray(facts.session)).value_counts().max())
    n_bars = len(p_arr)
    if n_bars - 2 * longest < 1:
        raise ParameterError(f"the best-of-grid null rotates the probabilities by at least one session "
                             f"({longest} bars); {n_bars} bars hold fewer than 3 sessions of that length. "
                             f"Sweep more sessions.")
    if observed is None:
        observed = _best(sweep(bars, p_arr, grid, **sweep_kwargs), metric)
    offsets = np.random.default_rng(seed).integers(longest, n_bars - longest + 1, size=int(n))
    batches = [offsets[i:i + batch_size] for i in range(0, len(offsets), batch_size)]
    parts = Parallel(n_jobs=n_jobs)(delayed(_null_batch)(bars, p_arr, grid, b, metric, sweep_kwargs)
                                    for b in batches)
    null = [v for part in parts for v in part]
    return {"observed": float(observed), "null": null, "p_value": permutation_p_value(observed, null),
            "n": int(n), "n_combinations": int(n_combos), "metric": metric, "min_offset": longest,
            "method": f"best {metric} of all {n_combos} combinations on each of {n} circular rotations of the "
                      f"probabilities (offsets of {longest} to {n_bars - longest} bars, seed {seed}); "
                      f"p = (1 + #null best >= observed best) / (n + 1): adjusted for choosing the best"}


# --------------------------------------------------------------------------- top-K tier


@dataclass(frozen=True)
class SweepRun:
    """One combination re-run in full by :func:`rerun`.

    Attributes
    ----------
    params : dict
        The combination (canonical parameter names).
    result : SimResult
        :func:`engines.simulate.simulate`'s result (trades, orders, equity, metrics).
    portfolio : VectorbtRun or None
        :func:`engines.vbt.to_vectorbt_portfolio` of the run, when asked for.
    """

    params: dict
    result: SimResult
    portfolio: object = None


def _params_dict(params, names=None) -> dict:
    if isinstance(params, pd.Series):
        params = params.to_dict()
    if isinstance(params, tuple) and names is not None:
        if len(params) != len(names):
            raise ParameterError(f"`params` has {len(params)} values for {len(names)} names {list(names)}.")
        params = dict(zip(names, params))
    if not isinstance(params, dict):
        raise TypeError("`params` must be a dict {parameter: value} (or a tuple of a sweep's index with "
                        f"`names`), got {type(params).__name__}.")
    return _check_grid({k: [v] for k, v in params.items()})


def rerun(bars: pd.DataFrame, proba, params, *, names=None,
          strategy: ProbabilityThresholdStrategy | None = None, contract=None,
          sizing: Sizing | None = None, stops: Stops | None = None, costs: Costs | None = None,
          limits: DailyLimits | None = None, initial_equity: float = 100_000.0,
          fill_on_close: bool = False, atr=None, sigma=None, meta_proba=None, calendar=None,
          bar_minutes=None, risk_free: float = 0.0, portfolio: bool = False) -> SweepRun:
    """Re-run one combination of a sweep in full (trades, orders, equity; vectorbt on demand).

    Parameters
    ----------
    bars, proba :
        As given to :func:`sweep`.
    params : dict, Series or tuple
        The combination, e.g. ``{"long_threshold": 0.6, "min_holding": 10}``;
        a tuple is a row key of :func:`sweep`'s index, with ``names`` =
        ``result.index.names``.
    names : sequence of str, optional
        Parameter names for a tuple ``params``.
    strategy ... risk_free :
        The same fixed arguments as given to :func:`sweep`.
    portfolio : bool, default False
        Also build the vectorbt ``Portfolio`` (:func:`engines.vbt.to_vectorbt_portfolio`).

    Returns
    -------
    SweepRun
        ``result.metrics`` equals the sweep's row for the combination.

    Examples
    --------
    >>> df = sweep(bars, proba, {"long_threshold": [0.55, 0.6]})            # doctest: +SKIP
    >>> best = df["sharpe"].idxmax()                                         # doctest: +SKIP
    >>> run = rerun(bars, proba, best, names=df.index.names, portfolio=True)  # doctest: +SKIP
    """
    if names is not None and not isinstance(params, tuple):
        params = (params,)
    p = {k: v[0] for k, v in _params_dict(params, names).items()}
    strategy, stops = _check_configs(strategy, stops)
    strat, st = _combo_configs(p, strategy, stops)
    sides = strat.sides(proba, bars, meta_proba=meta_proba, calendar=calendar, bar_minutes=bar_minutes)
    res = simulate(bars, sides, contract=contract, sizing=sizing, stops=st, costs=costs, limits=limits,
                   initial_equity=initial_equity, fill_on_close=fill_on_close, atr=atr, sigma=sigma,
                   calendar=calendar, bar_minutes=bar_minutes, risk_free=risk_free)
    pf = None
    if portfolio:
        from engines.vbt import to_vectorbt_portfolio

        pf = to_vectorbt_portfolio(bars, res)
    return SweepRun(params=p, result=res, portfolio=pf)


def portfolio_of(bars: pd.DataFrame, proba, params, *, names=None, strategy=None, stops=None, sizing=None,
                 limits=None, contract=None, costs=None, initial_equity: float = 100_000.0, calendar=None,
                 bar_minutes=None) -> tuple:
    """A ``vectorbt.Portfolio`` of one combination, and what kind it is.

    Where the vectorbt engine can execute the combination (market orders and the
    session backstop: no stops, limits or sizing other than fixed contracts) the
    Portfolio is vectorbt's own run of it, one row per bar, and ``pf.stats()``
    with the returned ``stats_settings`` gives the sweep row's Sharpe ratio and
    total return (``kind == "vectorbt engine"``).  Otherwise it is the simulator's
    run rebuilt as a Portfolio (:func:`engines.vbt.to_vectorbt_portfolio`: up to
    three rows per bar, so its ``stats()`` are not the sweep's; ``kind ==
    "rebuilt from the simulator's fills"``).

    Returns
    -------
    (portfolio, kind, stats_settings)
        ``stats_settings`` is None for a rebuilt Portfolio.
    """
    from engines.engine import Execution, Rules, VectorbtEngine

    if names is not None and not isinstance(params, tuple):
        params = (params,)
    p = {k: v[0] for k, v in _params_dict(params, names).items()}
    strategy, stops = _check_configs(strategy, stops)
    strat, st = _combo_configs(p, strategy, stops)
    execution = Execution(contract=contract, costs=costs, initial_equity=initial_equity, calendar=calendar,
                          bar_minutes=bar_minutes)
    rules = Rules(sizing=sizing, stops=st, limits=limits)
    engine = VectorbtEngine()
    if not engine.unsupported(execution, rules):
        sides = strat.sides(proba, bars, calendar=calendar, bar_minutes=bar_minutes)
        res = engine.run(bars, sides, execution, rules)
        return res.meta["portfolio"], "vectorbt engine", res.meta["stats_settings"]
    run = rerun(bars, proba, p, strategy=strategy, stops=stops, sizing=sizing, limits=limits, contract=contract,
                costs=costs, initial_equity=initial_equity, calendar=calendar, bar_minutes=bar_minutes,
                portfolio=True)
    return run.portfolio.portfolio, "rebuilt from the simulator's fills", None
