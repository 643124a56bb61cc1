"""One run contract for every engine: ``Engine.run(bars, signal, execution, rules) -> SimResult``.

A run is the same whatever executes it:

- :class:`Execution`: the contract, costs, capital and fill timing (and the
  calendar that gives the sessions);
- :class:`Rules`: sizing, stops and daily limits (all from :mod:`risk`);
- ``signal``: the desired side decided with each bar's data (+1 / 0 / -1),
  e.g. :meth:`strategies.ProbabilityThresholdStrategy.sides`.

Engines (:data:`ENGINES`, :func:`get_engine`):

``"numba"``
    :func:`engines.simulate.simulate`, the numba simulator (every option).
``"vectorbt"``
    A real ``vectorbt.Portfolio``: vectorbt's own order execution
    (``Portfolio.from_order_func`` with a flexible order function) fills the
    orders, charges the fees and keeps the cash, one row per bar, so
    ``pf.stats()`` and ``pf.trades`` describe the same run as the project's
    metrics (see :class:`VectorbtEngine`).  It takes market orders at the
    open and the session backstop at the close; runs that need stops, daily
    limits, sizing other than fixed contracts, a margin or ``fill_on_close``
    are refused with a message naming the option (use ``"numba"`` or
    ``"backtrader"``).
``"backtrader"``
    :func:`engines.bt.run_backtrader`, event-driven (every option, plus volume
    participation and market impact).

:func:`compare` reports every difference in trades and equity between two
results; the engine contract tests demand none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from engines.simulate import Costs, SimResult, simulate
from ml._checks import did_you_mean
from ml.exceptions import ParameterError
from risk.limits import DailyLimits
from risk.rules import SIZING_METHODS, Sizing, Stops

__all__ = ["ENGINES", "BacktraderEngine", "Engine", "Execution", "NumbaEngine", "Rules", "VectorbtEngine",
           "compare", "get_engine"]


@dataclass(frozen=True)
class Execution:
    """How orders are executed: contract, costs, capital and fill timing.

    Parameters
    ----------
    contract : str, Instrument or ContractSpec, optional
        Default: the bars' instrument (see :func:`engines.simulate.simulate`).
    costs : Costs, optional
        Commissions and slippage; default none.
    initial_equity : float, default 100,000
    fill_on_close : bool, default False
        Fill a decision at its own bar's close instead of the next open.
    calendar, bar_minutes : optional
        Session calendar and bar length (default: recorded in the bars).
    risk_free : float, default 0
        Annual risk-free rate of the Sharpe and Sortino ratios.
    """

    contract: object = None
    costs: Costs | None = None
    initial_equity: float = 100_000.0
    fill_on_close: bool = False
    calendar: object = None
    bar_minutes: float | None = None
    risk_free: float = 0.0

    def kwargs(self) -> dict:
        return {"contract": self.contract, "costs": self.costs, "initial_equity": self.initial_equity,
                "fill_on_close": self.fill_on_close, "calendar": self.calendar,
                "bar_minutes": self.bar_minutes, "risk_free": self.risk_free}


@dataclass(frozen=True)
class Rules:
    """The risk rules of a run: sizing, stops and daily limits (:mod:`risk`)."""

    sizing: Sizing | None = None
    stops: Stops | None = None
    limits: DailyLimits | None = None

    def kwargs(self) -> dict:
        return {"sizing": self.sizing, "stops": self.stops, "limits": self.limits}


@runtime_checkable
class Engine(Protocol):
    """What an engine implements: a ``name`` and ``run``."""

    name: ClassVar[str]

    def run(self, bars: pd.DataFrame, signal, execution: Execution | None = None,
            rules: Rules | None = None) -> SimResult:
        """Trade ``signal`` (desired sides) on ``bars``; the result in the simulator's format."""
        ...


def _parts(execution, rules):
    execution = Execution() if execution is None else execution
    rules = Rules() if rules is None else rules
    if not isinstance(execution, Execution):
        raise TypeError(f"`execution` must be an Execution, got {type(execution).__name__}.")
    if not isinstance(rules, Rules):
        raise TypeError(f"`rules` must be a Rules, got {type(rules).__name__}.")
    return execution, rules


@dataclass(frozen=True)
class NumbaEngine:
    """The numba simulator, :func:`engines.simulate.simulate`."""

    name: ClassVar[str] = "numba"

    def run(self, bars, signal, execution=None, rules=None) -> SimResult:
        execution, rules = _parts(execution, rules)
        return simulate(bars, signal, **execution.kwargs(), **rules.kwargs())


@dataclass(frozen=True)
class BacktraderEngine:
    """backtrader, :func:`engines.bt.run_backtrader`; ``participation`` and ``impact`` are its own."""

    name: ClassVar[str] = "backtrader"
    participation: object = None
    impact: object = None

    def run(self, bars, signal, execution=None, rules=None) -> SimResult:
        from engines.bt import run_backtrader

        execution, rules = _parts(execution, rules)
        sides = np.asarray(signal.reindex(bars.index) if isinstance(signal, pd.Series) else signal,
                           dtype=np.float64)
        if np.isnan(sides).any() or ((sides != 0) & (np.abs(sides) != 1)).any():
            raise ParameterError("`signal` must hold sides +1 / 0 / -1 for every bar (the backtrader engine "
                                 "would read other values as probabilities).")
        return run_backtrader(bars, sides, participation=self.participation, impact=self.impact,
                              **execution.kwargs(), **rules.kwargs())


# --------------------------------------------------------------------------- vectorbt


@dataclass(frozen=True)
class VectorbtEngine:
    """vectorbt executes the run: ``Portfolio.from_order_func``, one row per bar.

    The decision of bar ``i`` (the desired side, fixed contracts per entry) is
    an order at bar ``i + 1``'s open; a position still open on a session's last
    bar is closed at its close (the backstop), after which the same side is
    not taken again until the desired side changes (the simulator's
    ``rearm``); a position open at the end of the data stays open.  vectorbt
    fills each order at the given price (the open or close, moved
    ``slippage_ticks`` ticks against the order and clipped to the bar's range,
    PITFALLS 7), charges ``commission_pct`` of the notional plus
    ``commission_per_contract`` per contract on each leg (PITFALLS 9), keeps
    the cash and marks the position at each close.  Sizes are in units of the
    price: ``contracts * multiplier``.

    vectorbt pays cash for a long position; when a long position's notional
    could exceed the equity, ``init_cash`` is raised by ``cash_buffer``
    (``meta["cash_buffer"]``), which no fill touches and which is subtracted
    from the equity reported.  With no buffer (the usual case)
    ``portfolio.stats(settings=dict(year_freq=...))`` (see
    :meth:`stats_settings`) gives the project's Sharpe ratio and total return.

    ``result.meta["portfolio"]`` is the ``vectorbt.Portfolio``.
    """

    name: ClassVar[str] = "vectorbt"

    @staticmethod
    def unsupported(execution: Execution, rules: Rules) -> list[str]:
        """Options of a run this engine cannot execute (empty: it can)."""
        out = []
        if rules.stops is not None and (rules.stops.needs_atr or rules.stops.max_bars):
            out.append("stops (sl_atr, tp_atr, trail_atr, max_bars)")
        if rules.limits is not None and any(v is not None for v in (
                rules.limits.max_daily_loss, rules.limits.max_daily_loss_fraction, rules.limits.max_trades_per_day,
                rules.limits.max_position)):
            out.append("daily limits")
        if rules.sizing is not None and rules.sizing.kernel_args()[0] != SIZING_METHODS["fixed"]:
            out.append(f"sizing method {rules.sizing.method!r}")
        if execution.fill_on_close:
            out.append("fill_on_close")
        return out

    def run(self, bars, signal, execution=None, rules=None) -> SimResult:
        import vectorbt as vbt

        from engines._trades import trades_from_fills
        from engines._vbt_engine_nb import flex_orders_nb
        from engines.metrics import periods_per_year
        from engines.simulate import FILL_ORDER, _prices, _run_configs, _sides_array, engine_result_parts
        from risk._py import decide_py, fixed_contracts_py
        from strategies import session_facts

        execution, rules = _parts(execution, rules)
        missing = self.unsupported(execution, rules)
        if missing:
            raise ParameterError(f"the vectorbt engine cannot execute {', '.join(missing)}: it fills market "
                                 "orders at the open and the session backstop only. Use engine='numba' or "
                                 "'backtrader' for this run.")
        o, h, lo, c = _prices(bars)
        index = bars.index
        n = len(index)
        facts = session_facts(bars, calendar=execution.calendar, bar_minutes=execution.bar_minutes)
        side_arr = _sides_array(signal, index).astype(np.int64)
        spec, sizing, costs, limits = _run_configs(bars, execution.contract, rules.sizing, execution.costs,
                                                   rules.limits, execution.initial_equity, False)
        if spec.margin_arg > 0:
            raise ParameterError("the vectorbt engine has no margin rule; this contract carries a margin. Use "
                                 "engine='numba' or 'backtrader'.")
        lot, min_qty, frac = spec.kernel_args()
        _, contracts = sizing.kernel_args()
        qty = fixed_contracts_py(contracts, lot, min_qty, math.inf, frac)
        cpc, cpct, slip_ticks = costs.kernel_args()
        mult = float(spec.multiplier)
        slip = float(slip_ticks) * float(spec.tick_size)
        rearm = True if rules.stops is None else bool(rules.stops.rearm)
        sess = np.asarray(facts.session)
        last = np.zeros(n, dtype=np.bool_)
        last[:-1] = sess[1:] != sess[:-1]

        # the sides the orders follow: the decision of bar i at bar i+1's open, the backstop on a
        # session's last bar, and no re-entry of the side the backstop closed until the side changes
        held, blocked, pend = 0, 0, 0
        enter = np.zeros(n, dtype=np.float64)
        leave = np.zeros(n, dtype=np.bool_)
        backstop = np.zeros(n, dtype=np.bool_)
        for i in range(n):
            if pend != held:
                leave[i] = held != 0
                held = pend
            enter[i] = held
            if held != 0 and last[i]:
                backstop[i] = True
                blocked, held = (held if rearm else 0), 0
            # the decision step every engine takes (no time stop, limits or blown rule on this path)
            pend, _, blocked = decide_py(int(side_arr[i]) if qty > 0 else 0, held, blocked, rearm,
                                         False, False, False, False)
        units = qty * mult
        close_df = pd.Series(c, index=index, name="close")
        freq = pd.Timedelta(minutes=float(facts.bar_minutes))

        def portfolio(buffer):
            slots = np.full(3 * n + 1, -1, dtype=np.int64)
            pf = vbt.Portfolio.from_order_func(
                close_df, flex_orders_nb, float(units), enter, leave, backstop, o, c, lo, h, slip,
                float(cpc) / mult, float(cpct), slots, flexible=True,
                init_cash=float(execution.initial_equity) + buffer, max_orders=3 * n + 1, freq=freq)
            return pf, slots

        # no buffer unless vectorbt refuses a long entry for want of cash (a futures account would not)
        buffer = 0.0
        try:
            pf, slots = portfolio(buffer)
        except Exception as exc:  # noqa: BLE001 - vectorbt's rejection, raised from its numba loop
            if "reject" not in str(exc).lower() and "cash" not in str(exc).lower():
                raise
            buffer = float(math.ceil(units * float(np.max(h)) * (1.0 + cpct) + cpc * qty))
            pf, slots = portfolio(buffer)
        rec = pf.orders.values
        fills = []
        for k, r in enumerate(rec):
            slot = int(slots[k])
            fills.append({"bar": int(r["idx"]), "size": float(r["size"]) * (1 if r["side"] == 0 else -1) / mult,
                          "price": float(r["price"]), "commission": float(r["fees"]),
                          "reason": "session" if slot == 2 else "signal",
                          "slot": {0: "open", 1: "open", 2: "close"}[slot]})
        trades = trades_from_fills(fills, index, c, mult)
        orders = pd.DataFrame(fills, columns=["bar", "size", "price", "commission", "reason", "slot"])
        orders.insert(1, "timestamp", index[orders["bar"].to_numpy(dtype=np.int64)])
        eq = pf.value().to_numpy() - buffer
        down = np.flatnonzero(eq <= 0.0)
        if len(down):
            raise ParameterError(f"the account is blown at {index[int(down[0])]} and the vectorbt engine has no "
                                 "rule to stop trading then; use engine='numba' or 'backtrader', which do.")
        ppy = periods_per_year(bars, calendar=execution.calendar, bar_minutes=facts.bar_minutes)
        positions, equity, returns, metrics, account = engine_result_parts(
            index, pf.assets().to_numpy() / mult, eq, trades, initial_equity=execution.initial_equity,
            periods_per_year=ppy, risk_free=execution.risk_free, blown_bar=-1, spec=spec)
        meta = {"engine": "vectorbt", "vectorbt_version": vbt.__version__, "portfolio": pf,
                "cash_buffer": buffer, "periods_per_year": ppy, "calendar": facts.calendar,
                "bar_minutes": facts.bar_minutes, "initial_equity": float(execution.initial_equity),
                "multiplier": mult, "tick_size": float(spec.tick_size), "fill_on_close": False,
                "account": account, "fill_order": FILL_ORDER,
                "stats_settings": self.stats_settings(ppy, facts.bar_minutes)}
        return SimResult(positions=positions, equity=equity, returns=returns, trades=trades, orders=orders,
                         metrics=metrics, meta=meta)

    @staticmethod
    def stats_settings(periods_per_year: float, bar_minutes: float) -> dict:
        """``settings`` for ``portfolio.stats()``: the year as the session calendar counts it (its bars a
        year times the bar length), not vectorbt's default of 365 days (PITFALLS 14)."""
        return {"year_freq": pd.Timedelta(minutes=float(periods_per_year) * float(bar_minutes))}


#: Engines by name.
ENGINES: dict = {"numba": NumbaEngine, "vectorbt": VectorbtEngine, "backtrader": BacktraderEngine}


def get_engine(name: str, **kwargs) -> Engine:
    """The engine called ``name`` (:data:`ENGINES`), built with ``kwargs``."""
    if name not in ENGINES:
        raise ParameterError(f"unknown engine {name!r}; engines: {', '.join(ENGINES)}."
                             f"{did_you_mean(str(name), list(ENGINES))}")
    return ENGINES[name](**kwargs)


_TRADE_COLUMNS = ("entry_idx", "exit_idx", "side", "qty", "entry_price", "exit_price", "costs", "net_pnl",
                  "exit_reason", "closed")


def compare(a: SimResult, b: SimResult, *, atol: float = 1e-6) -> dict:
    """Every difference between two engine results of the same run.

    Returns
    -------
    dict
        ``equal`` (no difference), ``n_trades`` (a, b), ``trade_differences``
        (up to 10 ``{"trade", "column", "a", "b"}`` rows over
        :data:`_TRADE_COLUMNS`), ``max_equity_diff`` (currency),
        ``first_equity_diff_at`` (timestamp or None) and ``positions_equal``.
        Prices, costs and P&L compare within ``atol``; indices, sides,
        reasons exactly.
    """
    if not (a.equity.index.equals(b.equity.index)):
        raise ParameterError("`a` and `b` are results on different bars.")
    diffs = []
    ta, tb = a.trades, b.trades
    for k in range(min(len(ta), len(tb))):
        for col in _TRADE_COLUMNS:
            va, vb = ta.iloc[k][col], tb.iloc[k][col]
            if isinstance(va, (float, np.floating)) or isinstance(vb, (float, np.floating)):
                same = (np.isnan(va) and np.isnan(vb)) or abs(float(va) - float(vb)) <= atol
            else:
                same = va == vb
            if not same:
                diffs.append({"trade": k, "column": col, "a": va, "b": vb})
    eq_diff = np.abs(a.equity.to_numpy() - b.equity.to_numpy())
    bad = np.flatnonzero(eq_diff > atol)
    positions_equal = bool(np.allclose(a.positions.to_numpy(), b.positions.to_numpy(), atol=1e-9))
    return {"equal": not diffs and len(ta) == len(tb) and not len(bad) and positions_equal,
            "n_trades": (len(ta), len(tb)), "trade_differences": diffs[:10],
            "max_equity_diff": float(eq_diff.max()) if len(eq_diff) else 0.0,
            "first_equity_diff_at": a.equity.index[int(bad[0])] if len(bad) else None,
            "positions_equal": positions_equal}
