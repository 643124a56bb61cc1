"""Rebuild a simulator run as a ``vectorbt.Portfolio`` (the inspection tier).

The numba simulator (:func:`engines.simulate.simulate`) and the sweep kernel
decide every fill; vectorbt is used only to *inspect* a chosen run (plots,
trade and order records, stats).  :func:`to_vectorbt_portfolio` hands vectorbt
the simulator's fills as explicit orders with ``Portfolio.from_orders`` and
checks nothing itself: the test suite demands that the resulting portfolio has
the same fills and the same equity as the simulator.  vectorbt (Apache 2.0 +
Commons Clause) is only called, never copied.

How the simulator maps onto vectorbt
------------------------------------
- **Several fills in one bar.**  ``from_orders`` takes at most one order per
  row, but a bar can hold a fill at its open (slot 0), one inside it (a stop
  or take, slot 1) and one at its close (slot 2).  Each bar therefore becomes
  one row per slot in use: an *open* row stamped at the bar's open time
  (valued at the bar's open), an *intrabar* row at open + half a bar (valued
  at the fill price) and always a *close* row at open + one bar - 1 s (valued
  at the bar's close).  The simulator's equity at a bar's close is the
  portfolio value of that bar's close row.  Orders in one slot (the two legs
  of a reversal) are merged into one order, as they share price and direction.
- **Prices** are the simulator's actual fill prices (slippage already applied
  and clipped to the bar's [low, high]); vectorbt's own ``slippage`` is 0
  because it would neither use ticks nor clip.
- **Multiplier** by scaling the size: vectorbt's size is
  ``contracts * multiplier`` (so a WDO contract is 10 "units" of the price in
  points), which makes vectorbt's P&L ``size * price change`` equal the
  simulator's ``qty * multiplier * price change`` and its order value equal
  the fill notional ``price * multiplier * qty``.  Divide sizes by the
  multiplier to read contracts (:meth:`VectorbtRun.fills` does).
- **Commission**: ``fees = commission_pct`` (a fraction of that notional) and
  ``fixed_fees = commission_per_contract * contracts`` of each order (per row).
- **Margin**: vectorbt pays for a long position in cash, a futures account
  does not.  When a buy would need more cash than the account holds (a
  position worth more than the equity), ``init_cash`` is raised by a
  ``cash_buffer`` that no fill touches; :meth:`VectorbtRun.equity` subtracts
  it.  With ``cash_buffer == 0`` (the common case of a position worth less
  than the equity) ``portfolio.value()`` on the close rows *is* the equity.
  vectorbt's own returns and stats are then relative to the larger cash.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.data import bar_minutes_of
from ml.exceptions import ParameterError

__all__ = ["VectorbtRun", "to_vectorbt_portfolio"]

_SLOT_CODES = {"open": 0, "intrabar": 1, "close": 2}


@dataclass(frozen=True)
class VectorbtRun:
    """A ``vectorbt.Portfolio`` built from simulator fills, and how to read it back.

    Attributes
    ----------
    portfolio : vectorbt.Portfolio
        One column; index: the slot rows described in the module docstring.
    cash_buffer : float
        Cash added to ``init_cash`` so that vectorbt can pay for long
        positions (0 when not needed).
    rows : DataFrame
        One row per portfolio row: ``bar`` (position in the bars), ``slot``
        (``"open"``, ``"intrabar"``, ``"close"``).
    bars_index : DatetimeIndex
        Index of the bars.
    multiplier : float
        Contract multiplier the sizes were scaled by.
    """

    portfolio: object
    cash_buffer: float
    rows: pd.DataFrame
    bars_index: pd.DatetimeIndex
    multiplier: float

    def equity(self) -> pd.Series:
        """Equity at each bar's close: close-row portfolio value minus :attr:`cash_buffer`."""
        value = np.asarray(self.portfolio.value(), dtype=np.float64)
        close_rows = np.flatnonzero(self.rows["slot"].to_numpy() == "close")
        return pd.Series(value[close_rows] - self.cash_buffer, index=self.bars_index, name="equity")

    def fills(self) -> pd.DataFrame:
        """vectorbt's order records mapped back to bars: ``bar``, ``timestamp``, ``slot``,
        ``size`` (signed contracts), ``price``, ``fees`` (currency)."""
        rec = self.portfolio.orders.values
        row = rec["idx"].astype(np.int64)
        sign = np.where(rec["side"] == 0, 1.0, -1.0)  # OrderSide.Buy = 0
        bars = self.rows["bar"].to_numpy()[row]
        return pd.DataFrame({
            "bar": bars,
            "timestamp": self.bars_index[bars],
            "slot": self.rows["slot"].to_numpy()[row],
            "size": sign * rec["size"] / self.multiplier,
            "price": rec["price"],
            "fees": rec["fees"],
        })

    def trades(self) -> pd.DataFrame:
        """vectorbt's exit-trade records mapped back to bars (sizes in contracts)."""
        rec = self.portfolio.trades.values
        bar = self.rows["bar"].to_numpy()
        return pd.DataFrame({
            "entry_idx": bar[rec["entry_idx"].astype(np.int64)],
            "exit_idx": bar[rec["exit_idx"].astype(np.int64)],
            "side": np.where(rec["direction"] == 0, 1, -1),  # Direction.Long = 0
            "qty": rec["size"] / self.multiplier,
            "entry_price": rec["entry_price"],
            "exit_price": rec["exit_price"],
            "costs": rec["entry_fees"] + rec["exit_fees"],
            "net_pnl": rec["pnl"],
            "closed": rec["status"] == 1,  # TradeStatus.Closed = 1
        })


def _orders_from(sim_result_or_orders, initial_equity, multiplier, commission_per_contract,
                 commission_pct):
    """Orders frame and run parameters from a SimResult or an orders frame plus keywords."""
    from engines.simulate import SimResult

    if isinstance(sim_result_or_orders, SimResult):
        res = sim_result_or_orders
        meta = res.meta
        costs = meta.get("costs", {})
        params = {
            "initial_equity": meta["initial_equity"] if initial_equity is None else initial_equity,
            "multiplier": meta["multiplier"] if multiplier is None else multiplier,
            "commission_per_contract": (costs.get("commission_per_contract", 0.0)
                                        if commission_per_contract is None else commission_per_contract),
            "commission_pct": (costs.get("commission_pct", 0.0)
                               if commission_pct is None else commission_pct),
        }
        orders = res.orders
    elif isinstance(sim_result_or_orders, pd.DataFrame):
        orders = sim_result_or_orders
        missing = [c for c in ("bar", "slot", "size", "price") if c not in orders.columns]
        if missing:
            raise ParameterError(f"`sim_result_or_orders` is missing column(s) {missing}; an orders frame "
                                 f"needs bar, slot, size (signed contracts) and price, as SimResult.orders.")
        if initial_equity is None or multiplier is None:
            raise ParameterError("`initial_equity` and `multiplier` are required with an orders frame "
                                 "(a SimResult carries them).")
        params = {
            "initial_equity": initial_equity,
            "multiplier": multiplier,
            "commission_per_contract": 0.0 if commission_per_contract is None else commission_per_contract,
            "commission_pct": 0.0 if commission_pct is None else commission_pct,
        }
    else:
        raise TypeError(f"`sim_result_or_orders` must be a SimResult or an orders DataFrame, "
                        f"got {type(sim_result_or_orders).__name__}.")
    for name, value in params.items():
        v = float(value)
        positive = name in ("initial_equity", "multiplier")
        if not math.isfinite(v) or v < 0 or (positive and v <= 0):
            rule = "> 0" if positive else ">= 0"
            raise ParameterError(f"`{name}` must be a finite number {rule}, got {value!r}.")
        params[name] = v
    return orders, params


def _cash_shortfall(sizes, prices, fees_pct, fixed_fees, init_cash) -> float:
    """Largest amount by which a buy's cost exceeds the cash vectorbt would hold then."""
    cash = init_cash
    short = 0.0
    for s, p, f in zip(sizes, prices, fixed_fees):
        value = abs(s) * p
        fee = value * fees_pct + f
        if s > 0:
            short = max(short, value + fee - cash)
            cash -= value + fee
        else:
            cash += value - fee
    return short


def to_vectorbt_portfolio(bars: pd.DataFrame, sim_result_or_orders, *, initial_equity=None,
                          multiplier=None, commission_per_contract=None, commission_pct=None,
                          cash_buffer="auto", freq=None) -> VectorbtRun:
    """Build a ``vectorbt.Portfolio`` that reproduces a simulator run's fills and equity.

    Parameters
    ----------
    bars : DataFrame
        The bars the run was simulated on (``open``, ``close`` and a tz-aware
        index of bar open times).
    sim_result_or_orders : SimResult or DataFrame
        A :class:`engines.simulate.SimResult` (its ``orders`` and ``meta``), or
        an orders frame with ``bar`` (bar position), ``slot`` (``"open"``,
        ``"intrabar"``, ``"close"`` or 0/1/2), ``size`` (signed contracts) and
        ``price`` (actual fill price) -- then ``initial_equity`` and
        ``multiplier`` are required.
    initial_equity, multiplier, commission_per_contract, commission_pct : float, optional
        Override (or, with an orders frame, give) the run's values.
    cash_buffer : float or "auto", default "auto"
        Extra initial cash so that vectorbt can pay for long positions (see
        the module docstring); "auto" adds the least that avoids any
        rejected order (0 when none is needed).
    freq : str or Timedelta, optional
        Row frequency for vectorbt's stats; default the bar length.

    Returns
    -------
    VectorbtRun
        ``.portfolio`` is the ``vectorbt.Portfolio``; ``.equity()``,
        ``.fills()`` and ``.trades()`` read it back per bar, in contracts.

    Raises
    ------
    ParameterError
        Missing columns, an order on a bar outside ``bars``, two orders of one
        slot at different prices, or a timestamp layout that leaves no room
        for the slot rows.
    """
    import vectorbt as vbt

    if not isinstance(bars, pd.DataFrame) or not isinstance(bars.index, pd.DatetimeIndex):
        raise TypeError("`bars` must be a DataFrame indexed by a DatetimeIndex.")
    orders, prm = _orders_from(sim_result_or_orders, initial_equity, multiplier,
                               commission_per_contract, commission_pct)
    n = len(bars)
    mult = prm["multiplier"]
    open_ = bars["open"].to_numpy(dtype=np.float64)
    close = bars["close"].to_numpy(dtype=np.float64)

    bar = orders["bar"].to_numpy(dtype=np.int64)
    if len(bar) and (bar.min() < 0 or bar.max() >= n):
        raise ParameterError(f"`sim_result_or_orders` has an order on bar {int(bar.max())} but `bars` "
                             f"has {n} rows; pass the bars the run was simulated on.")
    slot = np.array([_SLOT_CODES[s] if isinstance(s, str) else int(s) for s in orders["slot"]],
                    dtype=np.int64)
    size = orders["size"].to_numpy(dtype=np.float64)
    price = orders["price"].to_numpy(dtype=np.float64)

    # Merge orders of one (bar, slot): the legs of a reversal.
    merged: dict[tuple[int, int], list[float]] = {}
    for b, s, q, p in zip(bar, slot, size, price):
        key = (int(b), int(s))
        if key in merged:
            if merged[key][1] != p:
                raise ParameterError(f"two orders on bar {key[0]} slot {key[1]} at different prices "
                                     f"({merged[key][1]!r} and {p!r}); one row holds one order.")
            merged[key][0] += q
            merged[key][2] += abs(q)
        else:
            merged[key] = [q, p, abs(q)]

    keys = set(merged) | {(i, 2) for i in range(n)}
    rows = sorted(keys)
    row_bar = np.array([r[0] for r in rows], dtype=np.int64)
    row_slot = np.array([r[1] for r in rows], dtype=np.int64)
    m = len(rows)
    vsize = np.full(m, np.nan)
    vprice = np.full(m, np.nan)
    vfixed = np.zeros(m)
    vclose = np.empty(m)
    for j, key in enumerate(rows):
        b, s = key
        if key in merged:
            q, p, gross = merged[key]
            if q != 0.0:
                vsize[j] = q * mult
                vprice[j] = p
                vfixed[j] = prm["commission_per_contract"] * gross
        if s == 0:
            vclose[j] = open_[b]
        elif s == 1:
            vclose[j] = merged[key][1]
        else:
            vclose[j] = close[b]

    bar_td = pd.Timedelta(minutes=float(bar_minutes_of(bars)))
    offsets = {0: pd.Timedelta(0), 1: bar_td / 2, 2: bar_td - pd.Timedelta(seconds=1)
               if bar_td > pd.Timedelta(seconds=2) else bar_td * 0.9}
    stamps = bars.index[row_bar] + pd.TimedeltaIndex([offsets[int(s)] for s in row_slot])
    if not (stamps.is_monotonic_increasing and stamps.is_unique):
        raise ParameterError("the bars are closer together than one bar length somewhere, which leaves no "
                             "room for the open / intrabar / close rows; pass bars of one regular length.")

    has = ~np.isnan(vsize)
    if cash_buffer == "auto":
        short = _cash_shortfall(vsize[has], vprice[has], prm["commission_pct"], vfixed[has],
                                prm["initial_equity"])
        buffer = 0.0 if short <= 0 else float(math.ceil(short * 1.001 + 1.0))
    else:
        buffer = float(cash_buffer)
        if not math.isfinite(buffer) or buffer < 0:
            raise ParameterError(f"`cash_buffer` must be 'auto' or a finite number >= 0, got {cash_buffer!r}.")

    pf = vbt.Portfolio.from_orders(
        close=pd.Series(vclose, index=stamps),
        size=vsize,
        size_type="amount",
        direction="both",
        price=np.where(has, vprice, vclose),
        fees=prm["commission_pct"],
        fixed_fees=vfixed,
        slippage=0.0,
        min_size=0.0,
        allow_partial=False,
        raise_reject=True,
        lock_cash=False,
        init_cash=prm["initial_equity"] + buffer,
        freq=bar_td if freq is None else freq,
    )
    rows_df = pd.DataFrame({"bar": row_bar, "slot": [("open", "intrabar", "close")[s] for s in row_slot]},
                           index=stamps)
    return VectorbtRun(portfolio=pf, cash_buffer=buffer, rows=rows_df, bars_index=bars.index,
                       multiplier=mult)
