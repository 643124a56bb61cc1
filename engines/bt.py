"""Run the same strategy decisions in backtrader (the event-driven engine).

:func:`run_backtrader` feeds the bars to a ``backtrader.Cerebro`` through a
``PandasData`` feed with extra lines (the desired side, the probability, the
ATR, the per-bar volatility and a last-bar-of-session flag) and trades them
with :class:`SideFollower`, a ``bt.Strategy`` that applies the rules of
:func:`engines.simulate.simulate` event by event.  The result has the shape of
:class:`engines.simulate.SimResult` (trades, orders, equity, returns,
positions and the :func:`engines.metrics.summarize` metrics), so the two
engines can be compared trade by trade (``tests/engines/test_bt.py``).
backtrader (GPL v3) is only called and subclassed, never copied.

What is the same as the simulator
---------------------------------
- **Decisions** are the strategy's desired sides.  They are *precomputed* for
  the historical feed with the strategy (default
  :class:`strategies.ProbabilityThresholdStrategy` when probabilities are
  passed) and carried as the ``side`` line; the probability rides along as the
  ``proba`` line for inspection.  A live feed would compute the side with the
  same kernel (:func:`strategies.threshold_sides_nb`) bar by bar.
- **Fills at the next open** (PITFALLS 1): the order for the side decided in
  ``next()`` of bar ``i`` is a plain market order, which backtrader fills at
  bar ``i + 1``'s open (its default; neither ``coc`` nor ``coo`` is used for
  those orders).  A change of side is a close order followed by an entry
  order, two legs at one price, as in the simulator.
- **Sizes** come from the :mod:`risk` kernels (the very functions the
  simulator calls) with the broker value and the close at the decision, and
  are whole contracts (truncation, ``int()``, PITFALLS 10).
- **Commission** (:class:`FuturesCommInfo`): ``qty * commission_per_contract +
  commission_pct * price * multiplier * qty`` per leg.  backtrader's own
  ``COMM_PERC`` is ``abs(size) * commission * price`` -- it ignores ``mult``
  (mementum/backtrader#45) and ``percabs=False`` divides the commission by 100
  -- so ``_getcommission`` is overridden (PITFALLS 9).
- **Margin**: ``stocklike=False`` with a margin of R$1 per contract.  backtrader
  refuses an opening fill that would make cash negative; a token margin keeps
  cash from ever being the binding constraint (a futures account posts margin,
  it does not pay the notional).  Value = cash + margin held, so the margin
  amount has no effect on the equity.
- **Slippage**: ``set_slippage_fixed(slippage_ticks * tick_size,
  slip_open=True, slip_match=True, slip_out=False, slip_limit=False)``:
  adverse on market and stop fills (at the open too), clipped to the bar's
  [low, high] (PITFALLS 7), none on take-profit limits (PITFALLS 5).
- **Stops** (``Stops.sl_atr`` / ``tp_atr``, ``max_bars``): the stop is a
  ``Stop`` order and the take a ``Limit`` order, one-cancels-other, the stop
  submitted first so that it is tried first when both lie in one bar
  (PITFALLS 6).  Their levels need the *fill bar's open* (the simulator's
  reference), so Cerebro runs with ``cheat_on_open=True`` and they are
  submitted in ``next_open()`` of the entry bar, behind the entry order: they
  are live from the entry bar on, never on the signal bar (PITFALLS 3).
  backtrader fills a stop gapped through at the open (PITFALLS 4) and a limit
  gapped through in our favour at the open (5).  They are cancelled before a
  signal exit is sent.  ``rearm`` is honoured; the time stop uses
  :func:`risk._stops_nb.time_stop_nb`.
- **Session backstop** (PITFALLS 13): a position still open on the last bar of
  a session is closed at that bar's close with a cheat-on-close market order
  (``coc=True`` on that order only); its price is recomputed from that bar
  (backtrader would clip the slippage with the next bar's range) and the
  equity of that bar is corrected for it (backtrader books the fill one bar
  later).
- **Equity** is the broker value at each bar's close (backtrader marks futures
  to market every bar, ``cashadjust``); trades and metrics as the simulator.

What differs (and why)
----------------------
On the tested runs (real WDO bars, fixed and fixed-fraction sizes, per
contract and percent commission, slippage, ATR stop + take, time stop, one
session backstop) nothing differs: same trades, fill prices, equity per bar
and metrics.  The remaining differences are of mechanism, not of result:

- **Session backstop**: backtrader executes the cheat-on-close order during
  the *next* bar's broker cycle; the fill is stamped (``orders.bar``) and
  booked (equity, position) on the bar that created it after the fact.  With
  a participation limit it would be capped by the next bar's volume.
- **Time**: backtrader receives naive local bar times (it has no tz-aware
  index); results are mapped back to the tz-aware index by bar position.
- **Not supported** here: trailing stops (backtrader's ``StopTrail`` ratchets
  on the close, the simulator on the high / low), daily limits (use
  :class:`risk.DailyLimitTracker` in a strategy of your own) and
  ``fill_on_close``.  Each raises :class:`ml.exceptions.ParameterError`.
- **Cost extensions the simulator does not have**:

  * ``participation``: :class:`Participation` -- at most ``fraction`` of a
    bar's volume fills (whole contracts, a custom filler); the remainder is
    carried to the next bars (``"carry"``, backtrader's partial fills) or
    cancelled at the end of the bar (``"cancel"``); the result's ``meta``
    reports what was carried and cancelled (PITFALLS 8).  Not combined with
    stops (a stop sized for an unfilled entry would open a position).
  * ``impact``: :class:`SquareRootImpact` -- ``impact = k * sigma * price *
    sqrt(qty / bar_volume)`` points, adverse, on market and stop fills (not
    limits), after slippage, clipped to the bar's [low, high]; ``sigma`` is
    the per-bar return volatility known at the previous close.

References
----------
.. [1] Almgren, R., Thum, C., Hauptmann, E. and Li, H. (2005). "Direct
   Estimation of Equity Market Impact". *Risk* 18(7), 58-62.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass

import backtrader as bt
import numpy as np
import pandas as pd

from engines._sim_nb import SIZE_FIXED, SIZE_FIXED_FRACTION
from engines.metrics import periods_per_year, summarize
from engines.simulate import (
    Costs,
    SimResult,
    Sizing,
    Stops,
    _aligned,
    _prices,
    _sides_array,
    average_true_range,
)
from ml.exceptions import ParameterError
from risk._sizing_nb import fixed_contracts_nb, fixed_fraction_nb, volatility_target_nb
from risk._stops_nb import atr_stop_levels_nb, time_stop_nb
from risk.sizing import get_contract
from strategies import BaseStrategy, ProbabilityThresholdStrategy, session_facts

__all__ = [
    "BtResult",
    "FuturesCommInfo",
    "Participation",
    "SideFeed",
    "SideFollower",
    "SquareRootImpact",
    "run_backtrader",
]

#: Token margin per contract (currency): cash is never the binding constraint.
MARGIN_PER_CONTRACT = 1.0


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Participation:
    """Participation limit: at most ``fraction`` of each bar's volume fills.

    Parameters
    ----------
    fraction : float
        In (0, 1]; 0.1 means 10% of the bar's volume (contracts), truncated to
        whole contracts.
    remainder : {"carry", "cancel"}, default "carry"
        What happens to the unfilled rest: carried to the next bars' opens, or
        cancelled at the end of the bar.
    """

    fraction: float
    remainder: str = "carry"

    def __post_init__(self):
        f = self.fraction
        if not isinstance(f, numbers.Real) or isinstance(f, bool) or not (0.0 < float(f) <= 1.0):
            raise ParameterError(f"`fraction` must be in (0, 1] (0.1 means 10% of bar volume), got {f!r}.")
        if self.remainder not in ("carry", "cancel"):
            raise ParameterError(f"`remainder` must be 'carry' or 'cancel', got {self.remainder!r}.")


@dataclass(frozen=True)
class SquareRootImpact:
    """Square-root market impact: ``k * sigma * price * sqrt(qty / bar_volume)`` points.

    Parameters
    ----------
    k : float
        Impact coefficient (dimensionless, typically 0.1-1).
    """

    k: float

    def __post_init__(self):
        if not isinstance(self.k, numbers.Real) or isinstance(self.k, bool) or not (float(self.k) >= 0.0):
            raise ParameterError(f"`k` must be a number >= 0, got {self.k!r}.")

    def points(self, qty, price, sigma, volume) -> float:
        """Impact in price points of a fill of ``qty`` contracts (inf with no volume)."""
        if self.k == 0.0 or not (sigma > 0.0):
            return 0.0
        if not (volume > 0.0):
            return math.inf
        return float(self.k) * sigma * abs(price) * math.sqrt(abs(qty) / volume)


#: Backtrader runs return the simulator's result type, so both engines share one format.
BtResult = SimResult


# --------------------------------------------------------------------------- backtrader pieces


class FuturesCommInfo(bt.CommInfoBase):
    """Futures commission: per contract per side plus a fraction of the notional *with* the multiplier.

    ``commission(size, price) = |size| * per_contract + pct * |price| * mult * |size|``.
    backtrader's ``COMM_PERC`` would give ``|size| * commission * price``
    (no ``mult``; and divided by 100 unless ``percabs``), so
    ``_getcommission`` is replaced.  ``stocklike=False`` (futures: cash moves
    with ``cashadjust`` each bar), margin :data:`MARGIN_PER_CONTRACT`.
    """

    params = (
        ("per_contract", 0.0),
        ("pct", 0.0),
        ("mult", 10.0),
        ("margin", MARGIN_PER_CONTRACT),
        ("stocklike", False),
        ("commtype", bt.CommInfoBase.COMM_FIXED),
    )

    def _getcommission(self, size, price, pseudoexec):
        q = abs(size)
        return q * self.p.per_contract + self.p.pct * abs(price) * self.p.mult * q


class _ParticipationFiller:
    """backtrader filler: whole contracts up to ``fraction`` of the bar's volume."""

    def __init__(self, fraction):
        self.fraction = float(fraction)

    def __call__(self, order, price, ago):
        vol = order.data.volume[ago]
        cap = int(self.fraction * vol + 1e-9) if vol == vol else 0
        return max(0, min(cap, abs(order.executed.remsize)))


class _Broker(bt.brokers.BackBroker):
    """BackBroker with the backstop fill priced on its own bar and square-root impact."""

    params = (("impact", None), ("slip_points", 0.0))

    def _execute(self, order, ago=None, price=None, cash=None, position=None, dtcoc=None):
        if ago is not None and price is not None and order.info.get("kind") is not None:
            data = order.data
            buy = order.isbuy()
            d = 1.0 if buy else -1.0
            if order.info.get("backstop"):
                # cheat-on-close order: priced at the close of the bar that created it (-1)
                lo, hi, vol = data.low[-1], data.high[-1], data.volume[-1]
                price = min(max(data.close[-1] + d * self.p.slip_points, lo), hi)
            else:
                lo, hi, vol = data.low[ago], data.high[ago], data.volume[ago]
            imp = self.p.impact
            if imp is not None and order.exectype in (bt.Order.Market, bt.Order.Stop):
                size = order.executed.remsize if self.p.filler is None else self.p.filler(order, price, ago)
                sig = data.sigma[-1] if len(data) > 1 else float("nan")
                if abs(size) > 0:
                    price = min(max(price + d * imp.points(size, price, sig, vol), lo), hi)
        return super()._execute(order, ago=ago, price=price, cash=cash, position=position, dtcoc=dtcoc)


class SideFeed(bt.feeds.PandasData):
    """``PandasData`` with the strategy's lines: ``side``, ``proba``, ``atr``, ``sigma``, ``last``."""

    lines = ("side", "proba", "atr", "sigma", "last")
    params = (("side", -1), ("proba", -1), ("atr", -1), ("sigma", -1), ("last", -1),
              ("openinterest", None))


class SideFollower(bt.Strategy):
    """Trade the desired side of the feed's ``side`` line with the simulator's rules.

    See the module docstring for the order of events; the parameters are the
    kernel arguments :func:`run_backtrader` prepares.
    """

    params = (
        ("size_mode", SIZE_FIXED), ("size_value", 1.0), ("lot", 1.0), ("min_qty", 1.0),
        ("frac", False), ("multiplier", 10.0), ("sl", 0.0), ("tp", 0.0), ("max_bars", 0),
        ("rearm", True), ("participation", None),
    )

    def __init__(self):
        self.n_bars = len(self.data.p.dataname)
        self.equity = np.full(self.n_bars, np.nan)
        self.position_arr = np.zeros(self.n_bars)
        self.fills: list[dict] = []
        self.blocked = 0
        self.sig = -1              # decision bar of the open (or opening) position
        self.pending_entry = None  # (side, qty, atr) submitted at the last decision
        self.exit_orders: list = []
        self.market_orders: list = []
        self.forced_side = 0       # side closed by a stop / take during this bar
        self.cancelled_qty = 0.0
        self.carried_qty = 0.0
        self._carried: set = set()
        self.skipped_zero_size = 0
        self.skipped_no_atr = 0

    # -- helpers
    def _i(self):
        return len(self) - 1

    def _size(self, side):
        d = self.data
        eq = self.broker.getvalue()
        p = self.p
        if p.size_mode == SIZE_FIXED:
            return fixed_contracts_nb(p.size_value, p.lot, p.min_qty, math.inf, p.frac)
        if p.size_mode == SIZE_FIXED_FRACTION:
            sd = p.sl * d.atr[0] if p.sl > 0.0 else math.nan
            return fixed_fraction_nb(eq, p.size_value, d.close[0], p.multiplier, sd,
                                     p.lot, p.min_qty, math.inf, p.frac)
        return volatility_target_nb(eq, p.size_value, d.sigma[0], d.close[0], p.multiplier,
                                    p.lot, p.min_qty, math.inf, p.frac)

    def _cancel_exits(self):
        for o in self.exit_orders:
            if o.alive():
                self.cancel(o)
        self.exit_orders = []

    # -- events
    def notify_order(self, order):
        if order.status not in (order.Partial, order.Completed):
            return
        kind = order.info.get("kind")
        backstop = bool(order.info.get("backstop"))
        bar = self._i() - (1 if backstop else 0)
        for bits in order.executed.iterpending():
            size = float(bits.size)
            if size == 0:
                continue
            f = dict(bar=bar, size=size, price=float(bits.price),
                     commission=float(bits.closedcomm + bits.openedcomm), kind=kind,
                     reason=order.info.get("reason", kind))
            self.fills.append(f)
            if kind in ("stop", "take"):
                self.forced_side = 1 if size < 0 else -1
            if backstop:
                # backtrader books it one bar late: its slippage and commission belong to its own bar
                self.equity[bar] += size * self.p.multiplier * (self.data.close[-1] - f["price"]) \
                    - f["commission"]
                self.position_arr[bar] += size

    def next_open(self):
        """Entry bar, before the broker runs: submit the stop and take from this open."""
        pe = self.pending_entry
        self.pending_entry = None
        if pe is None or not (self.p.sl > 0.0 or self.p.tp > 0.0):
            return
        side, qty, atr = pe
        stop, take = atr_stop_levels_nb(self.data.open[0], side, atr, self.p.sl, self.p.tp)
        exit_fn = self.sell if side > 0 else self.buy
        orders = []
        if stop == stop:
            orders.append(exit_fn(size=qty, exectype=bt.Order.Stop, price=stop, kind="stop",
                                  reason="stop"))
        if take == take:
            orders.append(exit_fn(size=qty, exectype=bt.Order.Limit, price=take, kind="take",
                                  reason="take", oco=orders[0] if orders else None))
        self.exit_orders = orders

    def next(self):
        i = self._i()
        d = self.data
        p = self.p
        # participation remainder of orders that had this bar's open: cancel or carry
        if p.participation is not None:
            for o in self.market_orders:
                if o.alive() and o.created.dt < d.datetime[0] and not o.info.get("backstop"):
                    rem = abs(o.executed.remsize)
                    if p.participation.remainder == "cancel":
                        self.cancelled_qty += rem
                        self.cancel(o)
                    elif o.ref not in self._carried:
                        self._carried.add(o.ref)
                        self.carried_qty += rem
            self.market_orders = [o for o in self.market_orders if o.alive()]

        pos = self.position.size
        cs = int(np.sign(pos))
        if self.forced_side != 0:
            if p.rearm:
                self.blocked = self.forced_side
            self.forced_side = 0
        time_up = cs != 0 and time_stop_nb(i - self.sig, p.max_bars)
        backstop = False
        if cs != 0 and d.last[0] > 0.5:
            self._cancel_exits()
            self.market_orders.append(self.close(coc=True, backstop=True, kind="exit", reason="session"))
            backstop = True
            if p.rearm:
                self.blocked = cs
            cs, time_up = 0, False

        desired = int(d.side[0])
        if self.blocked != 0:
            if desired != self.blocked:
                self.blocked = 0
            else:
                desired = 0
        reason = "signal"
        if cs != 0 and desired == cs and time_up:
            reason, desired = "time", 0
            if p.rearm:
                self.blocked = cs
        # the order book's side: an unfilled (carried) entry counts as taken
        cur = cs
        if cs == 0 and not backstop and self.market_orders:
            lo = self.market_orders[-1]
            if lo.info.get("kind") == "entry" and lo.alive():
                cur = 1 if lo.isbuy() else -1
        if desired != cur:
            for o in self.market_orders:
                if o.alive() and not o.info.get("backstop"):
                    self.cancelled_qty += abs(o.executed.remsize)
                    self.cancel(o)
            self.market_orders = [o for o in self.market_orders if o.alive()]
            self._cancel_exits()
            if pos != 0 and not backstop:
                o = (self.sell if pos > 0 else self.buy)(size=abs(pos), kind="exit", reason=reason,
                                                          coc=False)
                self.market_orders.append(o)
            if desired != 0:
                if (p.sl > 0.0 or p.tp > 0.0) and not (d.atr[0] > 0.0):
                    self.skipped_no_atr += 1
                else:
                    q = float(self._size(desired))
                    if q > 0.0:
                        o = (self.buy if desired > 0 else self.sell)(size=q, kind="entry", reason="entry",
                                                                     coc=False)
                        self.market_orders.append(o)
                        self.sig = i
                        self.pending_entry = (desired, q, float(d.atr[0]))
                    else:
                        self.skipped_zero_size += 1
        self.equity[i] = self.broker.getvalue()
        self.position_arr[i] = self.position.size


# --------------------------------------------------------------------------- records


def _trades_from_fills(fills, n):
    """Pair fills into trades (entry legs open or add, exit legs reduce)."""
    rows = []
    cur = None
    pos = 0.0
    for f in fills:
        size = f["size"]
        if pos == 0.0 or np.sign(size) == np.sign(pos):
            if cur is None:
                cur = dict(entry_idx=f["bar"], side=int(np.sign(size)), qty=0.0, notional=0.0, costs=0.0)
            cur["qty"] += abs(size)
            cur["notional"] += abs(size) * f["price"]
            cur["costs"] += f["commission"]
            pos += size
            continue
        # a reducing fill (never through zero: closes and entries are separate orders)
        q = min(abs(size), abs(pos))
        cur.setdefault("exit_q", 0.0)
        cur.setdefault("exit_notional", 0.0)
        cur["exit_q"] += q
        cur["exit_notional"] += q * f["price"]
        cur["costs"] += f["commission"]
        cur["exit_idx"] = f["bar"]
        cur["exit_reason"] = f["reason"]
        pos += size
        if abs(pos) < 1e-12:
            pos = 0.0
            rows.append(cur)
            cur = None
    if cur is not None:
        cur["exit_idx"] = n - 1
        cur["exit_reason"] = "end"
        rows.append(cur)
    out = []
    for t in rows:
        entry_px = t["notional"] / t["qty"]
        closed = t["exit_reason"] != "end"
        exit_px = t["exit_notional"] / t["exit_q"] if closed else math.nan
        out.append(dict(entry_idx=t["entry_idx"], exit_idx=t["exit_idx"], side=t["side"], qty=t["qty"],
                        entry_price=entry_px, exit_price=exit_px, costs=t["costs"],
                        exit_reason=t["exit_reason"], closed=closed))
    df = pd.DataFrame(out, columns=["entry_idx", "exit_idx", "side", "qty", "entry_price", "exit_price",
                                    "costs", "exit_reason", "closed"])
    return df


# --------------------------------------------------------------------------- public function


def run_backtrader(bars: pd.DataFrame, sides_or_proba, *, contract="WDO", costs: Costs | None = None,
                   sizing: Sizing | None = None, stops: Stops | None = None,
                   initial_equity: float = 100_000.0, participation: Participation | None = None,
                   impact: SquareRootImpact | None = None, strategy: BaseStrategy | None = None,
                   atr=None, sigma=None, calendar=None, bar_minutes=None,
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
    contract, costs, sizing, stops, initial_equity, atr, sigma, calendar, bar_minutes, risk_free :
        As :func:`engines.simulate.simulate` (``stops.trail_atr`` is not
        supported).  ``sigma`` (per-bar return volatility) also feeds
        ``impact``; default there: a causal 60-bar std of log returns.
    participation : Participation, optional
        Volume cap per bar and what happens to the remainder (backtrader only).
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
        bar and ``metrics`` from :func:`engines.metrics.summarize`.
    """
    o, h, lo, c = _prices(bars)
    index = bars.index
    n = len(bars)
    costs = Costs() if costs is None else costs
    sizing = Sizing() if sizing is None else sizing
    stops = Stops() if stops is None else stops
    for name, obj, cls in (("costs", costs, Costs), ("sizing", sizing, Sizing), ("stops", stops, Stops)):
        if not isinstance(obj, cls):
            raise TypeError(f"`{name}` must be a {cls.__name__} (or None), got {type(obj).__name__}.")
    if participation is not None and not isinstance(participation, Participation):
        raise TypeError(f"`participation` must be a Participation, got {type(participation).__name__}.")
    if impact is not None and not isinstance(impact, SquareRootImpact):
        raise TypeError(f"`impact` must be a SquareRootImpact, got {type(impact).__name__}.")
    ie_ok = isinstance(initial_equity, numbers.Real) and math.isfinite(initial_equity) and initial_equity > 0
    if not ie_ok:
        raise ParameterError(f"`initial_equity` must be a finite number > 0, got {initial_equity!r}.")
    cpc, cpct, slip_ticks = costs.kernel_args()
    size_mode, size_value = sizing.kernel_args()
    sl, tp, trail, max_bars, rearm = stops.kernel_args()
    if trail > 0:
        raise ParameterError("`stops.trail_atr` is not supported by run_backtrader (backtrader's StopTrail "
                             "ratchets on the close, the simulator on the high / low); pass None.")
    if participation is not None and (sl > 0 or tp > 0):
        raise ParameterError("`participation` cannot be combined with `stops.sl_atr` / `tp_atr`: a stop "
                             "sized for a partly filled entry would open a position.")
    if (participation is not None or impact is not None) and "volume" not in bars.columns:
        raise ParameterError("`bars` needs a `volume` column for `participation` / `impact`.")
    spec = get_contract(contract)
    lot, min_qty, frac = spec.kernel_args()
    facts = session_facts(bars, calendar=calendar, bar_minutes=bar_minutes)

    # sides: given, or precomputed from probabilities by the strategy
    raw = _aligned(sides_or_proba, index, "sides_or_proba")
    is_proba = bool(np.any(np.isnan(raw)) or np.any((raw > 0.0) & (raw < 1.0)))
    proba = raw if is_proba else np.full(n, np.nan)
    if is_proba:
        strat = ProbabilityThresholdStrategy() if strategy is None else strategy
        side_arr = np.asarray(strat.sides(raw, bars, calendar=calendar, bar_minutes=bar_minutes),
                              dtype=np.float64)
    else:
        side_arr = _sides_array(raw, index).astype(np.float64)
    if atr is not None:
        atr_arr = _aligned(atr, index, "atr")
    elif sl > 0 or tp > 0:
        atr_arr = average_true_range(bars, stops.atr_window).to_numpy(dtype=np.float64)
    else:
        atr_arr = np.full(n, np.nan)
    if sigma is not None:
        sigma_arr = _aligned(sigma, index, "sigma")
    else:
        sigma_arr = np.log(bars["close"].astype(float)).diff().rolling(60, min_periods=60).std().to_numpy()
        if size_mode not in (SIZE_FIXED, SIZE_FIXED_FRACTION):
            raise ParameterError("`sigma` is required for Sizing(method='volatility_target').")
    last = np.zeros(n)
    last[:-1] = (facts.session[1:] != facts.session[:-1]).astype(float)
    vol = bars["volume"].to_numpy(dtype=np.float64) if "volume" in bars.columns else np.zeros(n)

    feed_df = pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": vol,
                            "side": side_arr, "proba": proba, "atr": atr_arr, "sigma": sigma_arr,
                            "last": last},
                           index=pd.DatetimeIndex(index.tz_localize(None) if index.tz is not None else index))
    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True)
    broker = _Broker(impact=impact, slip_points=slip_ticks * float(spec.tick_size))
    cerebro.setbroker(broker)
    broker.setcash(float(initial_equity))
    broker.addcommissioninfo(FuturesCommInfo(per_contract=cpc, pct=cpct, mult=float(spec.multiplier)))
    broker.set_coc(True)  # only orders tagged coc=True (the session backstop) use it
    if slip_ticks > 0:
        broker.set_slippage_fixed(slip_ticks * float(spec.tick_size), slip_open=True, slip_limit=False,
                                  slip_match=True, slip_out=False)
    if participation is not None:
        broker.set_filler(_ParticipationFiller(participation.fraction))
    cerebro.adddata(SideFeed(dataname=feed_df))
    cerebro.addstrategy(SideFollower, size_mode=int(size_mode), size_value=float(size_value), lot=lot,
                        min_qty=min_qty, frac=bool(frac), multiplier=float(spec.multiplier), sl=sl, tp=tp,
                        max_bars=int(max_bars), rearm=bool(rearm), participation=participation)
    strat = cerebro.run()[0]

    eq = strat.equity
    pos = strat.position_arr
    mult = float(spec.multiplier)
    fills = strat.fills
    tr = _trades_from_fills(fills, n)
    if len(tr):
        open_rows = ~tr["closed"].to_numpy()
        exit_px = tr["exit_price"].to_numpy().copy()
        exit_px[open_rows] = c[n - 1]
        tr["exit_price"] = exit_px
        tr["gross_pnl"] = tr["side"] * tr["qty"] * mult * (tr["exit_price"] - tr["entry_price"])
    else:
        tr["gross_pnl"] = pd.Series(dtype=float)
    tr["net_pnl"] = tr["gross_pnl"] - tr["costs"]
    tr["pnl"] = tr["net_pnl"]
    tr["commission"] = tr["costs"]
    tr.insert(2, "entry_time", index[tr["entry_idx"].to_numpy(dtype=np.int64)])
    tr.insert(3, "exit_time", index[tr["exit_idx"].to_numpy(dtype=np.int64)])
    tr.index.name = "trade"
    orders = pd.DataFrame(fills, columns=["bar", "size", "price", "commission", "kind", "reason"])
    orders.insert(1, "timestamp", index[orders["bar"].to_numpy(dtype=np.int64)])

    positions = pd.Series(pos, index=index, name="position")
    equity = pd.Series(eq, index=index, name="equity")
    prev = np.concatenate([[float(initial_equity)], eq[:-1]])
    returns = pd.Series(eq / prev - 1.0, index=index, name="returns")
    ppy = periods_per_year(bars, calendar=calendar, bar_minutes=facts.bar_minutes)
    closed = tr.loc[tr["closed"], "pnl"] if len(tr) else pd.Series([], dtype=float)
    metrics = summarize(returns=returns, equity=equity, trades=closed, positions=positions,
                        periods_per_year=ppy, risk_free=risk_free, initial_equity=float(initial_equity))
    meta = {
        "engine": "backtrader",
        "backtrader_version": bt.__version__,
        "periods_per_year": ppy,
        "initial_equity": float(initial_equity),
        "multiplier": mult,
        "tick_size": float(spec.tick_size),
        "sides_precomputed": True,
        "from_probabilities": is_proba,
        "margin_per_contract": MARGIN_PER_CONTRACT,
        "costs": asdict(costs),
        "sizing": asdict(sizing),
        "stops": asdict(stops),
        "participation": None if participation is None else {
            **asdict(participation), "carried_contracts": float(strat.carried_qty),
            "cancelled_contracts": float(strat.cancelled_qty)},
        "impact": None if impact is None else asdict(impact),
        "skipped_no_atr": strat.skipped_no_atr,
        "skipped_zero_size": strat.skipped_zero_size,
    }
    return SimResult(positions=positions, equity=equity, returns=returns, trades=tr, orders=orders,
                    metrics=metrics, meta=meta)
