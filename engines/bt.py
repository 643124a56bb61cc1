"""Run the same strategy decisions in backtrader (the event-driven engine).

:func:`run_backtrader` feeds the bars to a ``backtrader.Cerebro`` through a
``PandasData`` feed with extra lines (the desired side, the probability, the
ATR, the per-bar volatility, the session and a last-bar-of-session flag) and
trades them with :class:`SideFollower`, a ``bt.Strategy`` that applies the
rules of :func:`engines.simulate.simulate` event by event.
:func:`run_backtrader_live` runs :class:`ProbabilityFollower` on *any*
backtrader feed (no extra line; a live store's feed): the probability is
inferred at each bar inside ``next()`` from past bars only.  Both return
:class:`engines.simulate.SimResult` (trades, orders, equity, returns,
positions and the :func:`engines.metrics.summarize` metrics), so the engines
can be compared trade by trade (``tests/engines/test_bt.py``,
``tests/engines/test_bt_gaps.py``).  backtrader (GPL v3) is only called and
subclassed, never copied.

What is the same as the simulator
---------------------------------
- **Decisions** are the strategy's desired sides: *precomputed* for the
  historical feed with the strategy (default
  :class:`strategies.ProbabilityThresholdStrategy` when probabilities are
  passed) and carried as the ``side`` line, or computed bar by bar by
  :class:`ProbabilityFollower` with the same strategy kernel.
- **Fills at the next open** (PITFALLS 1): a change of side decided in
  ``next()`` of bar ``i`` fills at bar ``i + 1``'s open: the exit as a market
  order sent in ``next()``, the entry sent in ``next_open()`` of bar ``i + 1``
  (``cheat_on_open``, behind the exit: two legs at one price), once the daily
  limits allow it there.
- **``fill_on_close=True``**: every order is a cheat-on-close market order
  (``coc=True``) filled at the decision bar's close; backtrader runs it in the
  next bar's cycle, so it is priced on its own bar (slippage clipped to that
  bar) and booked (equity, position, limits) on it when sent.  A sentinel bar
  after the last one lets the last bar's close fills run.  Stops are checked
  from the bar after the entry, levels from the entry close, as the simulator.
- **Sizes** come from the :mod:`risk` kernels (the very functions the
  simulator calls) with the broker value and the close at the decision, capped
  at ``DailyLimits.max_position`` and truncated to whole contracts (PITFALLS 10).
- **Commission** (:class:`FuturesCommInfo`): ``qty * commission_per_contract +
  commission_pct * price * multiplier * qty`` per leg.  backtrader's own
  ``COMM_PERC`` is ``abs(size) * commission * price`` -- it ignores ``mult``
  (mementum/backtrader#45) and ``percabs=False`` divides the commission by 100
  -- so ``_getcommission`` is overridden (PITFALLS 9).
- **Margin**: ``stocklike=False`` with a margin of R$1 per contract.  backtrader
  refuses an opening fill that would make cash negative; a token margin keeps
  cash from ever being the binding constraint (a futures account posts margin,
  it does not pay the notional).  Value = cash + margin held, so the margin
  amount has no effect on the equity.  The account rules are the simulator's,
  applied by the strategy: a blown account (equity <= 0, or below the
  contract's ``margin`` times the contracts held) is flattened at the next
  open and trades no more; an entry the equity cannot margin is refused.
  ``checksubmit`` is off, since backtrader would otherwise reject even the
  exit of a blown account (status Margin).
- **Ambiguous bars**: a stop filled on a bar that also held the take is
  flagged ``ambiguous`` (:func:`risk.stops.exit_ambiguous`).
- **Slippage**: ``set_slippage_fixed(slippage_ticks * tick_size,
  slip_open=True, slip_match=True, slip_out=False, slip_limit=False)``:
  adverse on market and stop fills (at the open too), clipped to the bar's
  [low, high] (PITFALLS 7); take fills are priced as :func:`risk.check_exit`
  prices them (the limit, or the open when gapped through), without slippage
  (PITFALLS 5).
- **Stops** (``Stops.sl_atr`` / ``tp_atr`` / ``trail_atr``, ``max_bars``):
  the strategy holds the levels (from the fill bar's open, or close with
  ``fill_on_close``, and the decision bar's ATR: :func:`risk._stops_nb.atr_stop_levels_nb`)
  and before each bar's cycle (``next_open()``) keeps a ``Stop`` and a
  ``Limit`` order, one-cancels-other, at those levels, sized to the position
  (cancel / replace when a level or the size changed).  The stop is tried
  first (stop before take in one bar, PITFALLS 6) unless the bar opens through
  the take and not through the stop (then the take fills at the open, as
  :func:`risk.check_exit`).  Live from the entry bar on, never on the signal
  bar (PITFALLS 3); a stop gapped through fills at the open (PITFALLS 4).
  **Trailing**: after each checked bar without an exit the stop ratchets with
  :func:`risk._stops_nb.trailing_stop_update_nb` on that bar's high / low
  (from the entry bar itself), first used on the next bar -- not backtrader's
  ``StopTrail``, which ratchets on the close.  ``rearm`` is honoured; the time
  stop uses :func:`risk._stops_nb.time_stop_nb`.
- **Daily limits** (``limits``): the :mod:`risk._limits_nb` kernels on a
  state array held by the strategy, called where the simulator calls them:
  session reset before the first bar's fills (equity at the previous close),
  ``can_open`` before each entry with the equity after the exit leg (at the
  open: computed from the open in ``next_open()``), ``after_fill_update`` on
  every fill, ``loss_limit_hit`` at each decision (halted: flatten at the next
  open, reason ``"limit"``, nothing more that session).  Refused entries are
  counted in ``meta["refused_by_limits"]``.
- **Session backstop** (PITFALLS 13): a position still open on the last bar of
  a session is closed at that bar's close with a cheat-on-close market order,
  priced and booked on that bar (see ``fill_on_close``).
- **Equity** is the broker value at each bar's close (backtrader marks futures
  to market every bar, ``cashadjust``) plus the close fills booked on the bar;
  trades and metrics as the simulator.

What differs (and why)
----------------------
On the tested runs (real WDO bars, fixed and fixed-fraction sizes, per
contract and percent commission, slippage, ATR stop + take + trailing stop,
time stop, daily loss and trade-count limits, ``fill_on_close``, one session
backstop) nothing differs: same trades, fill prices, equity per bar and
metrics.  The remaining differences are of mechanism, not of result:

- **Close fills** run in the next bar's broker cycle (above); their
  ``orders.bar`` is the bar that created them.
- **Time**: backtrader receives naive local bar times (it has no tz-aware
  index); results are mapped back to the tz-aware index by bar position.  On
  other feeds :class:`ProbabilityFollower` reads the stored times as
  :func:`feed_times_are_utc` says: a ``PandasData`` over tz-aware bars holds
  naive UTC, which read as local time would be 3 hours late on B3.
- **Live feeds** (:class:`ProbabilityFollower`): ATR and sigma are computed
  from the bars seen (equal to the precomputed ones up to float rounding), and
  the session backstop uses the calendar's last bar of a session (a live feed
  cannot know that the next bar is in another session); with
  ``fill_on_close`` the decision of the feed's very last bar is not filled.
- **Cost extensions the simulator does not have**:

  * ``participation``: :class:`Participation` -- at most ``fraction`` of a
    bar's volume fills, all orders of the bar together in queue order (whole
    contracts, a custom filler); the remainder is carried to the next bars
    (``"carry"``, backtrader's partial fills) or cancelled at the end of the
    bar (``"cancel"``); the result's ``meta`` reports what was carried and
    cancelled (PITFALLS 8).  **With stops**: the stop / take orders are sized
    to the position expected after the bar's open fills (never more than is
    held) and share the bar's cap; when a level is hit and the cap leaves part
    (or all) of the position, the rest is closed by market orders from the
    next opens, carried until done whatever ``remainder`` says (a risk exit is
    never dropped), with the stop's / take's reason, and an entry still being
    filled is cancelled.  Close fills (session backstop) are not capped; not
    available with ``fill_on_close``.
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
import time
from dataclasses import asdict, dataclass

import backtrader as bt
import numpy as np
import pandas as pd

from engines._sim_nb import EXIT_STOP, SIZE_FIXED, SIZE_FIXED_FRACTION, _leg_cost_nb, _market_fill_nb
from engines.metrics import periods_per_year, summarize, void_if_blown
from engines._trades import trades_from_fills
from engines.simulate import (
    FILL_ORDER,
    Costs,
    SimResult,
    Sizing,
    Stops,
    _aligned,
    _prices,
    _run_configs,
    _sides_array,
    _vol_inputs,
    account_facts,
    account_metrics,
)
from ml.exceptions import ParameterError
from risk._sizing_nb import fixed_contracts_nb, fixed_fraction_nb, volatility_target_nb
from risk._limits_nb import (
    after_fill_update_nb,
    can_open_nb,
    loss_limit_hit_nb,
    new_limits_state_nb,
    new_session_reset_nb,
)
from risk._stops_nb import (
    atr_stop_levels_nb,
    check_exit_nb,
    exit_ambiguous_nb,
    time_stop_nb,
    trailing_stop_update_nb,
)
from risk.limits import DailyLimits
from risk.sizing import ContractSpec
from ml.data import bars_calendar, get_calendar, get_instrument
from strategies import BaseStrategy, ProbabilityThresholdStrategy, SessionFacts, session_facts
from strategies._base import _up_probability

__all__ = [
    "BtResult",
    "FuturesCommInfo",
    "Participation",
    "ProbabilityFollower",
    "SideFeed",
    "SideFollower",
    "SquareRootImpact",
    "feed_times_are_utc",
    "model_predictor",
    "run_backtrader",
    "run_backtrader_live",
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


def _close_fill_price(direction, ref, low, high, slip_points, impact, qty, sigma, volume) -> float:
    """Market fill at reference ``ref`` (a close, or an open for limit checks): the
    simulator's slippage and clip (:func:`engines._sim_nb._market_fill_nb`), then
    square-root impact (clipped again).  Used by the broker for close fills and by
    the strategy to book them on their own bar."""
    px = float(_market_fill_nb(ref, direction, slip_points, low, high))
    if impact is not None and abs(qty) > 0:
        px = min(max(px + direction * impact.points(qty, px, sigma, volume), low), high)
    return px


class _ParticipationFiller:
    """backtrader filler: whole contracts up to ``fraction`` of the bar's volume, all
    orders of the bar together (in queue order).  Close fills (session backstop) are
    not capped: a flat-at-the-close rule must hold."""

    def __init__(self, fraction):
        self.fraction = float(fraction)
        self._dt = None
        self._used = 0.0

    @staticmethod
    def cap(fraction, volume) -> float:
        return float(int(fraction * volume + 1e-9)) if volume == volume and volume > 0 else 0.0

    def peek(self, order, ago):
        """Contracts the next call would fill (without using the bar's room)."""
        rem = abs(order.executed.remsize)
        if order.info.get("late"):
            return rem
        dt = order.data.datetime[ago]
        used = self._used if dt == self._dt else 0.0
        return max(0.0, min(self.cap(self.fraction, order.data.volume[ago]) - used, rem))

    def __call__(self, order, price, ago):
        q = self.peek(order, ago)
        dt = order.data.datetime[ago]
        if dt != self._dt:
            self._dt, self._used = dt, 0.0
        if not order.info.get("late"):
            self._used += q
        return q


class _Broker(bt.brokers.BackBroker):
    """BackBroker with close fills priced on their own bar, take fills as
    :func:`risk.check_exit` (no slippage) and square-root impact.

    ``sigma_prev`` (set by the strategy before each bar's cycle) is the per-bar
    volatility known at the previous close, for the impact.
    """

    params = (("impact", None), ("slip_points", 0.0))
    sigma_prev = math.nan

    def _execute(self, order, ago=None, price=None, cash=None, position=None, dtcoc=None):
        kind = order.info.get("kind")
        if ago is not None and price is not None and kind is not None:
            data = order.data
            d = 1.0 if order.isbuy() else -1.0
            size = order.executed.remsize if self.p.filler is None else self.p.filler.peek(order, ago)
            if order.info.get("late"):
                # cheat-on-close order: priced at the close of the bar that created it (-1)
                price = _close_fill_price(d, data.close[-1], data.low[-1], data.high[-1], self.p.slip_points,
                                          self.p.impact, size, self.sigma_prev, data.volume[-1])
            else:
                lo, hi = data.low[ago], data.high[ago]
                if kind == "take":  # a limit: at its price, or at the open when gapped through
                    lim = order.created.price
                    price = min(max(max(lim, data.open[ago]) if d < 0 else min(lim, data.open[ago]), lo), hi)
                elif self.p.impact is not None and order.exectype in (bt.Order.Market, bt.Order.Stop):
                    if abs(size) > 0:
                        price = min(max(price + d * self.p.impact.points(size, price, self.sigma_prev,
                                                                         data.volume[ago]), lo), hi)
        return super()._execute(order, ago=ago, price=price, cash=cash, position=position, dtcoc=dtcoc)


class SideFeed(bt.feeds.PandasData):
    """``PandasData`` with the strategy's lines: ``side``, ``proba``, ``atr``, ``sigma``, ``last``."""

    lines = ("side", "proba", "atr", "sigma", "last", "session")
    params = (("side", -1), ("proba", -1), ("atr", -1), ("sigma", -1), ("last", -1), ("session", -1),
              ("openinterest", None))


class SideFollower(bt.Strategy):
    """Trade the desired side of the feed's ``side`` line with the simulator's rules.

    See the module docstring for the order of events; the parameters are the
    kernel arguments :func:`run_backtrader` prepares.  Subclasses change where
    the per-bar inputs come from (:meth:`_bar_session`, :meth:`_bar_inputs`):
    :class:`ProbabilityFollower` computes them from past bars on any feed.
    """

    params = (
        ("size_mode", SIZE_FIXED), ("size_value", 1.0), ("lot", 1.0), ("min_qty", 1.0),
        ("frac", False), ("multiplier", 10.0), ("sl", 0.0), ("tp", 0.0), ("trail", 0.0),
        ("max_bars", 0), ("rearm", True), ("participation", None),
        ("limits", (0.0, 0.0, 0, math.inf)), ("fill_on_close", False), ("n_bars", None),
        ("slip_points", 0.0), ("cpc", 0.0), ("cpct", 0.0), ("impact", None), ("margin", 0.0),
    )

    def __init__(self):
        self.equity: list[float] = []
        self.position_arr: list[float] = []
        self.sessions: list[float] = []
        self.sigmas: list[float] = []
        self.latency: list[float] = []
        self.fills: list[dict] = []
        self.blocked = 0
        self.sig = -1              # decision bar of the open (or opening) position
        self.pending_entry = None  # entry decided at the last bar: sent at this open if the limits allow
        self.levels = None         # [stop, take, trail distance, side] of the position
        self.checked_bar = -1      # last bar whose range was checked against the levels
        self.bracket: list = []    # live stop / take orders
        self.bracket_key = None
        self.market_orders: list = []
        self.forced_side = 0       # side closed by a stop / take during this bar
        self.cancelled_qty = 0.0
        self.carried_qty = 0.0
        self._carried: set = set()
        self.skipped_zero_size = 0
        self.skipped_no_atr = 0
        self.refused_by_limits = 0
        self.refused_by_margin = 0
        self.blown_bar = -1        # bar at whose close the account was blown (-1: never)
        self.lim = new_limits_state_nb()
        self._pos_track = 0.0

    # -- per-bar inputs (the historical feed carries them as lines)
    def _bar_session(self, i):
        """Session id of bar ``i`` (called from ``next_open``, before the bar's fills)."""
        return float(self.data.session[0])

    def _bar_inputs(self, i):
        """``(desired side, atr, sigma, last bar of session)`` decided with bar ``i``'s data."""
        d = self.data
        return int(d.side[0]), float(d.atr[0]), float(d.sigma[0]), bool(d.last[0] > 0.5)

    # -- helpers
    def _i(self):
        return len(self.data) - 1  # len(self) lags by one bar in next_open

    def _size(self, eq, atr, sigma):
        p = self.p
        cap = p.limits[3]
        if p.size_mode == SIZE_FIXED:
            return fixed_contracts_nb(p.size_value, p.lot, p.min_qty, cap, p.frac)
        if p.size_mode == SIZE_FIXED_FRACTION:
            sd = p.sl * atr if p.sl > 0.0 else math.nan
            return fixed_fraction_nb(eq, p.size_value, self.data.close[0], p.multiplier, sd,
                                     p.lot, p.min_qty, cap, p.frac)
        return volatility_target_nb(eq, p.size_value, sigma, self.data.close[0], p.multiplier,
                                    p.lot, p.min_qty, cap, p.frac)

    def _close_fill(self, size, sigma):
        """Price and equity effect of a fill of signed ``size`` at this bar's close.

        The broker executes such a (cheat-on-close) order during the next bar's
        cycle with :func:`_close_fill_price` on this bar: the same numbers.
        """
        d = self.data
        px = _close_fill_price(1.0 if size > 0 else -1.0, d.close[0], d.low[0], d.high[0],
                               self.p.slip_points, self.p.impact, size, sigma, d.volume[0])
        comm = float(_leg_cost_nb(abs(size), px, self.p.multiplier, self.p.cpc, self.p.cpct))
        return px, size * self.p.multiplier * (d.close[0] - px) - comm

    def _cancel_bracket(self):
        for o in self.bracket:
            if o.alive():
                self.cancel(o)
        self.bracket = []
        self.bracket_key = None

    def _predicted_position(self):
        """Position after this bar's open fills: the alive market orders filled as the
        broker will (queue order, whole contracts up to the participation cap)."""
        d = self.data
        part = self.p.participation
        room = math.inf if part is None else _ParticipationFiller.cap(part.fraction, d.volume[0])
        pos = self.position.size
        for o in self.market_orders:
            if not o.alive():
                continue
            rem = abs(o.executed.remsize)
            q = rem if o.info.get("late") else min(rem, max(room, 0.0))
            if not o.info.get("late"):
                room -= q
            pos += q if o.isbuy() else -q
        return pos

    def _place_bracket(self, i):
        """Stop and take orders for the levels in force during this bar (cancel / replace).

        The stop goes first (tried first: stop before take when both lie in the
        bar), except when the bar opens through the take but not through the
        stop: :func:`risk.check_exit` then fills the take at the open.
        """
        lv = self.levels
        if lv is None:
            self._cancel_bracket()
            return
        stop, take, _, side = lv
        size = abs(self._predicted_position())
        if size <= 0.0:
            self._cancel_bracket()
            return
        self.checked_bar = i
        has_stop, has_take = stop == stop, take == take
        if not (has_stop or has_take):
            self._cancel_bracket()
            return
        o = self.data.open[0]
        gap_stop = has_stop and (o <= stop if side > 0 else o >= stop)
        gap_take = has_take and (o >= take if side > 0 else o <= take)
        key = (stop, take, size, gap_take and not gap_stop)
        if key == self.bracket_key and all(x.alive() for x in self.bracket):
            return
        self._cancel_bracket()
        exit_fn = self.sell if side > 0 else self.buy
        legs = []
        if has_stop:
            legs.append(dict(exectype=bt.Order.Stop, price=stop, kind="stop", reason="stop"))
        if has_take:
            legs.append(dict(exectype=bt.Order.Limit, price=take, kind="take", reason="take"))
        if key[3]:
            legs.reverse()
        orders = []
        for leg in legs:
            orders.append(exit_fn(size=size, oco=orders[0] if orders else None, **leg))
        self.bracket = orders
        self.bracket_key = key

    # -- events
    def notify_order(self, order):
        if order.status not in (order.Partial, order.Completed):
            return
        kind = order.info.get("kind")
        late = bool(order.info.get("late"))
        i = self._i()
        bar = i - (1 if late else 0)
        for bits in order.executed.iterpending():
            size = float(bits.size)
            if size == 0:
                continue
            amb = False
            if kind == "stop" and self.levels is not None and not late:
                d = self.data
                amb = bool(exit_ambiguous_nb(self.levels[3], d.open[0], d.high[0], d.low[0], self.levels[0],
                                             self.levels[1]))
            f = dict(bar=bar, size=size, price=float(bits.price),
                     commission=float(bits.closedcomm + bits.openedcomm), kind=kind,
                     reason=order.info.get("reason", kind), ambiguous=amb)
            self.fills.append(f)
            before = self._pos_track
            self._pos_track += size
            if not late:  # close fills were recorded (equity, limits) when they were sent
                after_fill_update_nb(self.lim, self._bar_session(i), self.broker.getvalue(), before,
                                     self._pos_track)
            if kind in ("stop", "take"):
                self.forced_side = 1 if size < 0 else -1
        if kind in ("stop", "take") and order.status == order.Completed:
            self.levels = None
            self.bracket = []
            self.bracket_key = None

    def next_open(self):
        """Before the broker runs this bar: session start, limits on the pending entry,
        the entry's levels from this open, and the stop / take orders."""
        i = self._i()
        p = self.p
        d = self.data
        if p.n_bars is not None and i >= p.n_bars:  # sentinel bar: only close fills remain
            self._cancel_bracket()
            return
        sess = self._bar_session(i)
        self.broker.sigma_prev = self.sigmas[-1] if self.sigmas else math.nan
        if not self.sessions or sess != self.sessions[-1]:
            new_session_reset_nb(self.lim, sess, self.equity[-1] if self.equity else self.broker.getvalue())
        pe = self.pending_entry
        self.pending_entry = None
        if pe is not None and not p.fill_on_close:
            side, qty, atr, exit_size = pe
            eq = self.equity[-1]
            if exit_size != 0.0:  # the exit leg at this open comes first (as in the simulator)
                px = _close_fill_price(float(np.sign(exit_size)), d.open[0], d.low[0], d.high[0],
                                       p.slip_points, p.impact, exit_size, self.broker.sigma_prev, d.volume[0])
                eq += exit_size * p.multiplier * (d.close[-1] - px) \
                    - _leg_cost_nb(abs(exit_size), px, p.multiplier, p.cpc, p.cpct)
            if p.margin > 0.0 and eq < p.margin * qty:
                self.refused_by_margin += 1
            elif not can_open_nb(self.lim, sess, eq, 0.0, side * qty, *p.limits):
                self.refused_by_limits += 1
            else:  # sent now, behind the exit: cheat-on-open fills it at this open
                self.market_orders.append((self.buy if side > 0 else self.sell)(
                    size=qty, kind="entry", reason="entry", coc=False, fill_bar=i))
                if p.sl > 0.0 or p.tp > 0.0 or p.trail > 0.0:
                    stop, take = atr_stop_levels_nb(d.open[0], side, atr, p.sl, p.tp)
                    self.levels = [stop, take, p.trail * atr if p.trail > 0.0 else math.nan, side]
        self._place_bracket(i)

    def next(self):
        i = self._i()
        p = self.p
        if p.n_bars is not None and i >= p.n_bars:
            return
        t0 = time.perf_counter()
        d = self.data
        coc = bool(p.fill_on_close)
        desired, atr, sigma, last = self._bar_inputs(i)
        sess = self._bar_session(i)
        # participation remainder of orders that had this bar's open: cancel or carry
        if p.participation is not None:
            for o in self.market_orders:
                if o.alive() and o.info.get("fill_bar", i) <= i and not o.info.get("late"):
                    rem = abs(o.executed.remsize)
                    if p.participation.remainder == "cancel" and not o.info.get("forced"):
                        self.cancelled_qty += rem
                        self.cancel(o)
                    elif o.ref not in self._carried:
                        self._carried.add(o.ref)
                        self.carried_qty += rem
            self.market_orders = [o for o in self.market_orders if o.alive()]

        pos = self.position.size
        cs = int(np.sign(pos))
        lv = self.levels
        if cs != 0 and lv is not None and self.checked_bar == i:
            code, _ = check_exit_nb(lv[3], d.open[0], d.high[0], d.low[0], lv[0], lv[1])
            if code != 0:
                # a level was hit but the volume cap left part of the position: close the rest
                # from the next open, carried until done (a risk exit is never dropped); an entry
                # still being filled is cancelled
                self._cancel_bracket()
                self.levels = None
                for o in self.market_orders:
                    if o.alive() and not o.info.get("late"):
                        self.cancelled_qty += abs(o.executed.remsize)
                        self.cancel(o)
                reason = "stop" if code == EXIT_STOP else "take"
                self.market_orders.append((self.sell if pos > 0 else self.buy)(
                    size=abs(pos), kind="exit", reason=reason, forced=True, coc=False, fill_bar=i + 1))
                self.forced_side = cs
            elif lv[2] == lv[2]:
                lv[0] = trailing_stop_update_nb(cs, lv[0], d.high[0], d.low[0], lv[2])
        if self.forced_side != 0:
            if p.rearm:
                self.blocked = self.forced_side
            self.forced_side = 0
        exiting = any(o.alive() and o.info.get("forced") for o in self.market_orders)
        time_up = cs != 0 and not exiting and time_stop_nb(i - self.sig, p.max_bars)
        eq = self.broker.getvalue()
        late_pos = 0.0
        backstop = False
        if not coc and cs != 0 and last:
            self._cancel_bracket()
            self.levels = None
            for o in self.market_orders:
                if o.alive():
                    self.cancelled_qty += abs(o.executed.remsize)
                    self.cancel(o)
            _, deq = self._close_fill(-pos, sigma)
            self.market_orders = [self.close(coc=True, late=True, kind="exit", reason="session")]
            eq += deq
            late_pos -= pos
            after_fill_update_nb(self.lim, sess, eq, pos, 0.0)
            if p.rearm:
                self.blocked = cs
            cs, time_up, backstop = 0, False, True

        halted = loss_limit_hit_nb(self.lim, sess, eq, p.limits[0], p.limits[1])
        if self.blocked != 0:
            if desired != self.blocked:
                self.blocked = 0
            else:
                desired = 0
        reason = "signal"
        if cs != 0 and desired == cs:
            forced = "time" if time_up else "limit" if halted else "session" if coc and last else None
            if forced is not None:
                reason, desired = forced, 0
                if p.rearm:
                    self.blocked = cs
        if halted or (coc and last):
            desired = 0
        # the account (as the simulator): blown at or below zero equity, or below the margin held
        one_lot = p.min_qty if p.min_qty > 0.0 else p.lot
        if self.blown_bar < 0 and (eq <= 0.0 or (p.margin > 0.0 and eq < p.margin * (abs(pos) if cs != 0
                                                                                    else one_lot))):
            self.blown_bar = i
        if self.blown_bar >= 0:
            if cs != 0:
                reason = "blown"
            desired = 0
        # the order book's side: an unfilled (carried) entry counts as taken, a forced exit as flat
        cur = 0 if exiting else cs
        if cs == 0 and not backstop and self.market_orders:
            lo = self.market_orders[-1]
            if lo.info.get("kind") == "entry" and lo.alive():
                cur = 1 if lo.isbuy() else -1
        if desired != cur:
            for o in self.market_orders:
                if o.alive() and not o.info.get("late"):
                    self.cancelled_qty += abs(o.executed.remsize)
                    self.cancel(o)
            self.market_orders = [o for o in self.market_orders if o.alive()]
            self._cancel_bracket()
            self.levels = None
            dec_eq = eq
            exit_size = 0.0
            if pos != 0 and not backstop:
                exit_size = -pos
                o = (self.sell if pos > 0 else self.buy)(size=abs(pos), kind="exit", reason=reason,
                                                          coc=coc, late=coc, fill_bar=i + 1)
                self.market_orders.append(o)
                if coc:
                    _, deq = self._close_fill(exit_size, sigma)
                    eq += deq
                    late_pos += exit_size
                    after_fill_update_nb(self.lim, sess, eq, pos, 0.0)
            if desired != 0:
                if (p.sl > 0.0 or p.tp > 0.0 or p.trail > 0.0) and not (atr > 0.0):
                    self.skipped_no_atr += 1
                else:
                    q = float(self._size(dec_eq, atr, sigma))
                    if not q > 0.0:
                        self.skipped_zero_size += 1
                    elif coc and p.margin > 0.0 and eq < p.margin * q:
                        self.refused_by_margin += 1
                    elif coc and not can_open_nb(self.lim, sess, eq, 0.0, desired * q, *p.limits):
                        self.refused_by_limits += 1
                    elif coc:
                        self.market_orders.append((self.buy if desired > 0 else self.sell)(
                            size=q, kind="entry", reason="entry", coc=True, late=True))
                        self.sig = i
                        _, deq = self._close_fill(desired * q, sigma)
                        eq += deq
                        late_pos += desired * q
                        after_fill_update_nb(self.lim, sess, eq, 0.0, desired * q)
                        if p.sl > 0.0 or p.tp > 0.0 or p.trail > 0.0:
                            stop, take = atr_stop_levels_nb(d.close[0], desired, atr, p.sl, p.tp)
                            self.levels = [stop, take, p.trail * atr if p.trail > 0.0 else math.nan,
                                           desired]
                    else:  # sent at the next open, once the daily limits allow it there
                        self.pending_entry = (desired, q, atr, exit_size)
                        self.sig = i
        self.equity.append(eq)
        self.position_arr.append(pos + late_pos)
        self.sessions.append(sess)
        self.sigmas.append(sigma)
        self.latency.append(time.perf_counter() - t0)


class ProbabilityFollower(SideFollower):
    """:class:`SideFollower` on any backtrader feed, deciding with a per-bar inference.

    At each bar's ``next()`` the bars seen so far (at most ``lookback``, the
    current bar last; never a later one) are handed to ``predict`` as a
    DataFrame (tz-aware index, ``open``, ``high``, ``low``, ``close``,
    ``volume``); its probability of an up move goes through ``strategy``'s
    rule (parameter ``rule``, a :class:`strategies.BaseStrategy`; the
    same kernel as the precomputed path), and the side is traded as
    :class:`SideFollower` trades the ``side`` line.  The feed needs no extra
    lines (a plain ``PandasData``, or a live store's feed).

    Per-bar inputs computed here, from past bars only:

    - session and bars left in it: :func:`strategies.session_facts` on the
      bar's timestamp and the previous one (``calendar``, ``bar_minutes``);
      the session backstop closes a position on the calendar's last bar of a
      session (``bars_to_close <= 0``), since a live feed cannot see that the
      next bar belongs to another session;
    - ATR: mean of the last ``atr_window`` true ranges (as
      :func:`engines.simulate.average_true_range`);
    - sigma: std (ddof 1) of the last 60 log returns of the close.

    ``min_holding`` state: the threshold kernel's only state is (side, bars
    held), which is (0, 0) after every flat decision, so the kernel is rerun
    on the probabilities since the last flat decision (a day at most with a
    flat session end).  Another :class:`~strategies.BaseStrategy` is rerun on
    the whole history each bar (causal by contract; O(n) a bar).
    """

    params = (("predict", None), ("rule", None), ("lookback", 200), ("calendar", "B3"),
              ("bar_minutes", 1.0), ("tz", None), ("atr_window", 14), ("sigma_window", 60))

    def __init__(self):
        super().__init__()
        self.cal = get_calendar(self.p.calendar)
        self.tz = self.p.tz or self.cal.tz
        self.hist = {k: [] for k in ("ts", "open", "high", "low", "close", "volume")}
        self.proba: list[float] = []
        self.btc: list[float] = []
        self.sessions_all: list[float] = []
        self.tr: list[float] = []
        self.predict_latency: list[float] = []
        self._facts: dict = {}
        self._grid: dict = {}
        self._restart = 0
        self._is_threshold = isinstance(self.p.rule, ProbabilityThresholdStrategy)
        self._utc = None

    def _ts(self):
        """The bar's open time, tz-aware in the calendar's zone, whatever the feed holds
        (see :func:`feed_times_are_utc`)."""
        if self._utc is None:
            self._utc = feed_times_are_utc(self.data)
        num = self.data.datetime[0]
        ts = pd.Timestamp(bt.num2date(num))  # the stored number, naive
        return ts.tz_localize("UTC").tz_convert(self.tz) if self._utc else ts.tz_localize(self.tz)

    def _index(self, k0):
        """The bars seen from position ``k0`` on, as a tz-aware DatetimeIndex."""
        ns = np.asarray(self.hist["ts"][k0:], dtype="datetime64[ns]")
        return pd.DatetimeIndex(ns).tz_localize("UTC").tz_convert(self.tz)

    def _bar_facts(self, i):
        """``(session id, bars left in the session)`` of bar ``i`` from its timestamp.

        :func:`strategies.session_facts` and the calendar's session dates are
        computed for a day of bar times at once (calendar facts, no data) and
        looked up by timestamp; the session id is the session's date.
        """
        got = self._facts.get(i)
        if got is None:
            ts = self._ts()
            got = self._grid.get(ts.value)
            if got is None:  # a new day of bar times (or an irregular bar)
                step = pd.Timedelta(minutes=float(self.p.bar_minutes))
                idx = pd.date_range(ts, periods=int(1440 / self.p.bar_minutes) + 1, freq=step)
                f = session_facts(idx, calendar=self.cal, bar_minutes=self.p.bar_minutes)
                day = self.cal.sessions(idx).session_date.as_unit("ns").asi8 // 86_400_000_000_000
                self._grid = {int(t): (float(d), float(b))
                              for t, d, b in zip(idx.as_unit("ns").asi8, day, f.bars_to_close)}
                got = self._grid[ts.value]
            self._facts = {i: got}
        return got

    def _bar_session(self, i):
        return self._bar_facts(i)[0]

    def _bar_inputs(self, i):
        d = self.data
        sess, btc = self._bar_facts(i)
        h = self.hist
        pc = h["close"][-1] if h["close"] else math.nan
        ts = self._ts()
        bar = (ts.value, float(d.open[0]), float(d.high[0]), float(d.low[0]), float(d.close[0]),
               float(d.volume[0]))
        for k, v in zip(("ts", "open", "high", "low", "close", "volume"), bar):
            h[k].append(v)
        hi, lo = bar[2], bar[3]
        self.tr.append(max(hi - lo, abs(hi - pc), abs(lo - pc)) if pc == pc else hi - lo)
        w = self.p.atr_window
        atr = float(np.mean(self.tr[-w:])) if len(self.tr) >= w else math.nan
        sw = self.p.sigma_window
        if len(h["close"]) > sw:
            sigma = float(np.std(np.diff(np.log(h["close"][-sw - 1:])), ddof=1))
        else:
            sigma = math.nan
        k0 = max(0, len(h["ts"]) - self.p.lookback)
        window = pd.DataFrame({k: h[k][k0:] for k in ("open", "high", "low", "close", "volume")},
                              index=self._index(k0))
        t0 = time.perf_counter()
        p = self.p.predict(window)
        self.predict_latency.append(time.perf_counter() - t0)
        try:
            p = float(p)
        except (TypeError, ValueError):
            raise ParameterError(f"`predict` must return one probability (a float in [0, 1] or NaN), got "
                                 f"{type(p).__name__} {p!r} at {ts}.") from None
        if p == p and not (0.0 <= p <= 1.0):
            raise ParameterError(f"`predict` must return a probability in [0, 1] (or NaN), got {p!r} at {ts}.")
        self.proba.append(p)
        self.btc.append(btc)
        self.sessions_all.append(sess)
        k = self._restart
        facts = SessionFacts(index=self._index(k), session=np.asarray(self.sessions_all[k:], dtype=np.int64),
                             bars_to_close=np.asarray(self.btc[k:], dtype=np.float64),
                             bar_minutes=float(self.p.bar_minutes), calendar=self.cal.name)
        side = int(self.p.rule._sides_array(np.asarray(self.proba[k:], dtype=np.float64), facts, None)[-1])
        if side == 0 and self._is_threshold:
            self._restart = len(self.proba)
        return side, atr, sigma, btc <= 0.0


def feed_times_are_utc(data) -> bool:
    """Whether a backtrader feed stores its bar times as UTC (else as exchange wall-clock).

    backtrader keeps one number per bar and no time zone.  It is UTC when the
    feed was built from a tz-aware DataFrame (``PandasData`` converts such an
    index to naive UTC), when ``tzinput`` was given (inputs are converted), or
    when a feed that is not a ``PandasData`` declares a ``tz`` (live stores
    such as Interactive Brokers keep UTC).  A naive DataFrame, with or
    without ``tz``, holds wall-clock times as written: read in the calendar's
    time zone.  Reading UTC numbers as local time would shift every bar (by 3
    hours on B3), moving the sessions and the close-out.
    """
    p = getattr(data, "p", None)
    tzinput = getattr(data, "_tzinput", None) or getattr(p, "tzinput", None)
    dn = getattr(p, "dataname", None)
    if isinstance(dn, pd.DataFrame):
        idx = dn.index
        dtcol = getattr(p, "datetime", None)
        if isinstance(dtcol, str) and dtcol in dn.columns:
            idx = pd.DatetimeIndex(dn[dtcol])
        if isinstance(idx, pd.DatetimeIndex) and idx.tz is not None:
            return True
        return tzinput is not None
    if tzinput is not None:
        return True
    return (getattr(data, "_tz", None) or getattr(p, "tz", None)) is not None


def model_predictor(model, features, *, row: int = -1):
    """A ``predict`` callable for :func:`run_backtrader_live` from a fitted model.

    ``features(window) -> DataFrame`` computes the feature rows of a window of
    past bars (causal features: a row uses bars up to its own); the model's
    up probability (``predict_proba``, class 1) of the last row is returned.
    """
    if not callable(features):
        raise TypeError(f"`features` must be a callable window -> DataFrame, got {type(features).__name__}.")
    if not hasattr(model, "predict_proba"):
        raise TypeError(f"`model` must have predict_proba (a fitted classifier), got {type(model).__name__}.")

    def predict(window):
        X = features(window)
        return float(_up_probability(model, X.iloc[[row]] if hasattr(X, "iloc") else X[[row]])[0])

    return predict


def run_backtrader_live(feed, predict, *, strategy: BaseStrategy | None = None, lookback: int = 200,
                        calendar=None, bar_minutes: float = 1.0, tz=None, contract=None,
                        costs: Costs | None = None, sizing: Sizing | None = None, stops: Stops | None = None,
                        limits: DailyLimits | None = None, initial_equity: float = 100_000.0,
                        fill_on_close: bool = False, participation: Participation | None = None,
                        impact: SquareRootImpact | None = None, risk_free: float = 0.0) -> BtResult:
    """Run :class:`ProbabilityFollower` on any backtrader data feed (per-bar inference).

    Parameters
    ----------
    feed : backtrader data feed
        Any feed with open, high, low, close (and volume for
        ``participation`` / ``impact``); e.g. ``bt.feeds.PandasData`` without
        extra lines as a stand-in for a live feed.  Its bar times are read as
        :func:`feed_times_are_utc` says (UTC for a tz-aware DataFrame or a feed
        with ``tzinput`` / a live store's ``tz``), else as wall-clock times in
        ``tz`` (default: the calendar's time zone).
    predict : callable
        ``predict(window) -> probability of an up move`` (float in [0, 1], or
        NaN for no opinion), called once per bar inside ``next()`` with the
        last ``lookback`` bars seen so far (a DataFrame whose last row is the
        current bar); see :func:`model_predictor` for a fitted model and a
        feature function.
    strategy : BaseStrategy, optional
        Default ``ProbabilityThresholdStrategy()``.
    lookback : int, default 200
        Bars handed to ``predict``.
    calendar, bar_minutes : optional
        Session calendar and bar length.  Default calendar: the one of the
        feed's DataFrame (``PandasData`` over bars from
        :func:`ml.data.load_bars`), else of ``contract``'s preset; required
        otherwise (a live feed has no ``attrs``): never assumed.
    contract :
        As :func:`run_backtrader`: default the feed's DataFrame's instrument;
        required for other feeds.
    costs, sizing, stops, limits, initial_equity, fill_on_close, participation, impact, risk_free :
        As :func:`run_backtrader`; ATR and sigma come from past bars
        (:class:`ProbabilityFollower`).

    Returns
    -------
    BtResult
        As :func:`run_backtrader`, on the index of the bars seen;
        ``meta["decision_latency_ms"]`` (whole ``next()``: inference, strategy
        rule, orders) and ``meta["predict_latency_ms"]`` give the per-bar
        decision latency (n, mean, p50, p95, p99, max); the issue's target is
        below 30 ms a decision.
    """
    if not isinstance(feed, bt.AbstractDataBase):
        raise TypeError(f"`feed` must be a backtrader data feed (e.g. bt.feeds.PandasData), "
                        f"got {type(feed).__name__}.")
    if not callable(predict):
        raise TypeError(f"`predict` must be a callable window -> probability, got {type(predict).__name__}.")
    if isinstance(lookback, (bool, np.bool_)) or not isinstance(lookback, numbers.Integral) or lookback < 1:
        raise ParameterError(f"`lookback` must be an int >= 1 (bars handed to predict), got {lookback!r}.")
    bm_ok = isinstance(bar_minutes, numbers.Real) and not isinstance(bar_minutes, bool) \
        and math.isfinite(bar_minutes) and bar_minutes > 0
    if not bm_ok:
        raise ParameterError(f"`bar_minutes` must be a number > 0 (minutes per bar), got {bar_minutes!r}.")
    frame = getattr(getattr(feed, "p", None), "dataname", None)
    frame = frame if isinstance(frame, pd.DataFrame) else None
    if frame is None and contract is None:
        raise ParameterError("`contract` is required for a feed that is not a PandasData over bars: the "
                             "contract is never assumed; pass e.g. contract='WDO'.")
    if calendar is None:
        if frame is not None and ("symbol" in frame.columns or (frame.attrs or {}).get("bars")):
            cal = bars_calendar(frame)
        elif contract is not None and not isinstance(contract, ContractSpec):
            cal = get_calendar(get_instrument(contract).calendar)
        else:
            raise ParameterError("`calendar` is required for this feed (its sessions are never assumed); "
                                 "pass e.g. calendar='B3'.")
    else:
        cal = get_calendar(calendar)
    strategy = ProbabilityThresholdStrategy() if strategy is None else strategy
    if not isinstance(strategy, BaseStrategy):
        raise TypeError(f"`strategy` must be a BaseStrategy, got {type(strategy).__name__}.")
    strategy._validate()
    ref = frame if frame is not None else pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC"))
    spec, costs, sizing, stops, limits, kw = _check_options(ref, costs, sizing, stops, limits, contract,
                                                            initial_equity, fill_on_close, participation,
                                                            impact)
    cerebro = _cerebro(kw, initial_equity, participation, impact)
    cerebro.adddata(feed)
    cerebro.addstrategy(ProbabilityFollower, predict=predict, rule=strategy, lookback=int(lookback),
                        calendar=cal, bar_minutes=float(bar_minutes), tz=tz, atr_window=stops.atr_window,
                        **kw)
    strat = cerebro.run()[0]
    index = strat._index(0)
    if not len(index):
        raise ParameterError("`feed` delivered no bars.")
    close = np.asarray(strat.hist["close"], dtype=float)
    return _result(strat, index, close, index, calendar=cal, bar_minutes=float(bar_minutes),
                   risk_free=risk_free, initial_equity=initial_equity, spec=spec, costs=costs, sizing=sizing,
                   stops=stops, limits=limits, participation=participation, impact=impact,
                   fill_on_close=fill_on_close,
                   meta_extra={"sides_precomputed": False, "from_probabilities": True,
                               "proba": pd.Series(strat.proba, index=index, name="proba"),
                               "predict_latency_ms": _latency_ms(strat.predict_latency)})


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
    cpc, cpct, slip_ticks = costs.kernel_args()
    size_mode, size_value = sizing.kernel_args()
    sl, tp, trail, max_bars, rearm = stops.kernel_args()
    lot, min_qty, frac = spec.kernel_args()
    kw = dict(size_mode=int(size_mode), size_value=float(size_value), lot=lot, min_qty=min_qty,
              frac=bool(frac), multiplier=float(spec.multiplier), sl=sl, tp=tp, trail=trail,
              max_bars=int(max_bars), rearm=bool(rearm), participation=participation,
              limits=tuple(limits.kernel_args()), fill_on_close=bool(fill_on_close),
              slip_points=slip_ticks * float(spec.tick_size), cpc=cpc, cpct=cpct, impact=impact,
              margin=spec.margin_arg)
    return spec, costs, sizing, stops, limits, kw


def _cerebro(kw, initial_equity, participation, impact):
    """Cerebro with our broker, commission, slippage and filler."""
    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True)
    broker = _Broker(impact=impact, slip_points=kw["slip_points"])
    cerebro.setbroker(broker)
    broker.setcash(float(initial_equity))
    # backtrader rejects every order (status Margin) while cash is negative, exits included: the
    # account rules (blown account, margin per contract) are the strategy's, as in the simulator
    broker.set_checksubmit(False)
    broker.addcommissioninfo(FuturesCommInfo(per_contract=kw["cpc"], pct=kw["cpct"], mult=kw["multiplier"]))
    broker.set_coc(True)  # only orders tagged coc=True (close fills) use it
    if kw["slip_points"] > 0:
        broker.set_slippage_fixed(kw["slip_points"], slip_open=True, slip_limit=False, slip_match=True,
                                  slip_out=False)
    if participation is not None:
        broker.set_filler(_ParticipationFiller(participation.fraction))
    return cerebro


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

    positions = pd.Series(pos, index=index, name="position")
    equity = pd.Series(eq, index=index, name="equity")
    prev = np.concatenate([[float(initial_equity)], eq[:-1]])
    returns = pd.Series(eq / prev - 1.0, index=index, name="returns")
    ppy = periods_per_year(bars_for_ppy, calendar=calendar, bar_minutes=bar_minutes)
    closed = tr.loc[tr["closed"], "pnl"] if len(tr) else pd.Series([], dtype=float)
    metrics = summarize(returns=returns, equity=equity, trades=closed, positions=positions,
                        periods_per_year=ppy, risk_free=risk_free, initial_equity=float(initial_equity))
    account = account_facts(strat.blown_bar if strat.blown_bar < n else -1, index, tr, spec)
    metrics.update(account_metrics(account))
    void_if_blown(metrics)
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
        "sizing": asdict(sizing),
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
    contract, costs, sizing, stops, limits, initial_equity, fill_on_close, atr, sigma, calendar, bar_minutes, risk_free :
        As :func:`engines.simulate.simulate`.  ``sigma`` (per-bar return
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
    proba = raw if is_proba else np.full(n, np.nan)
    if is_proba:
        strat = ProbabilityThresholdStrategy() if strategy is None else strategy
        side_arr = np.asarray(strat.sides(raw, bars, calendar=calendar, bar_minutes=bar_minutes),
                              dtype=np.float64)
    else:
        side_arr = _sides_array(raw, index).astype(np.float64)
    atr_arr, sigma_arr = _vol_inputs(bars, atr, sigma, stops.needs_atr, stops.atr_window, kw["size_mode"])
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
