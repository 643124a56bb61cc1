"""The historical strategy: :class:`SideFollower` trades the precomputed sides of a :class:`SideFeed` with the simulator's rules, event by event."""

from __future__ import annotations

import math
import time

import backtrader as bt
import numpy as np

from engines._sim_nb import EXIT_STOP, _leg_cost_nb
from engines.bt._broker import _close_fill_price, _ParticipationFiller
from engines.contexts import ExecContext, RulesContext
from ml.exceptions import ParameterError
from risk._decision_nb import EXIT_BLOWN, EXIT_LIMIT, EXIT_SESSION, EXIT_SIGNAL, EXIT_TIME, decide_nb
from risk._sizing_nb import SIZE_KELLY, size_for_mode_nb

#: Reason codes of :func:`risk._decision_nb.decide_nb` -> the names of the trades table.
_REASON_NAMES = {EXIT_SIGNAL: "signal", EXIT_TIME: "time", EXIT_LIMIT: "limit", EXIT_SESSION: "session",
                 EXIT_BLOWN: "blown"}
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
        ("ex", None),            # engines.contexts.ExecContext: contract, costs, capital, fill timing
        ("ru", None),            # engines.contexts.RulesContext: sizing, stops, daily limits
        ("participation", None), ("n_bars", None), ("impact", None),
    )

    def __init__(self):
        if not isinstance(self.p.ex, ExecContext) or not isinstance(self.p.ru, RulesContext):
            raise ParameterError(f"{type(self).__name__} needs ex=ExecContext and ru=RulesContext (build them with "
                                 "engines.contexts.exec_context / rules_context); run_backtrader passes them.")
        self.slip_points = self.p.ex.slippage_ticks * self.p.ex.tick_size
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

    def _bar_proba(self):
        """Probability of an up move decided with this bar's data (Kelly sizing; NaN when not given)."""
        return float(self.data.proba[0])

    def _size(self, eq, atr, sigma, side):
        p = self.p
        up = self._bar_proba() if p.ru.size_mode == SIZE_KELLY else math.nan
        return size_for_mode_nb(p.ru.size_mode, p.ru.size_value, eq, self.data.close[0], p.ex.multiplier,
                                p.ru.sl_mult, atr, sigma, up if side > 0 else 1.0 - up, p.ru.payoff_ratio,
                                p.ru.size_cap, p.ex.lot_size, p.ex.min_qty, p.ru.max_position, p.ex.allow_fractional)

    def _close_fill(self, size, sigma):
        """Price and equity effect of a fill of signed ``size`` at this bar's close.

        The broker executes such a (cheat-on-close) order during the next bar's
        cycle with :func:`_close_fill_price` on this bar: the same numbers.
        """
        d = self.data
        px = _close_fill_price(1.0 if size > 0 else -1.0, d.close[0], d.low[0], d.high[0],
                               self.slip_points, self.p.impact, size, sigma, d.volume[0])
        comm = float(_leg_cost_nb(abs(size), px, self.p.ex.multiplier, self.p.ex.commission_per_contract, self.p.ex.commission_pct))
        return px, size * self.p.ex.multiplier * (d.close[0] - px) - comm

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
        if pe is not None and not p.ex.fill_on_close:
            side, qty, atr, exit_size = pe
            eq = self.equity[-1]
            if exit_size != 0.0:  # the exit leg at this open comes first (as in the simulator)
                px = _close_fill_price(float(np.sign(exit_size)), d.open[0], d.low[0], d.high[0],
                                       self.slip_points, p.impact, exit_size, self.broker.sigma_prev, d.volume[0])
                eq += exit_size * p.ex.multiplier * (d.close[-1] - px) \
                    - _leg_cost_nb(abs(exit_size), px, p.ex.multiplier, p.ex.commission_per_contract, p.ex.commission_pct)
            if p.ex.margin > 0.0 and eq < p.ex.margin * qty:
                self.refused_by_margin += 1
            elif not can_open_nb(self.lim, sess, eq, 0.0, side * qty, p.ru.max_loss, p.ru.max_loss_frac, p.ru.max_trades, p.ru.max_position):
                self.refused_by_limits += 1
            else:  # sent now, behind the exit: cheat-on-open fills it at this open
                self.market_orders.append((self.buy if side > 0 else self.sell)(
                    size=qty, kind="entry", reason="entry", coc=False, fill_bar=i))
                if p.ru.sl_mult > 0.0 or p.ru.tp_mult > 0.0 or p.ru.trail_mult > 0.0:
                    stop, take = atr_stop_levels_nb(d.open[0], side, atr, p.ru.sl_mult, p.ru.tp_mult)
                    self.levels = [stop, take, p.ru.trail_mult * atr if p.ru.trail_mult > 0.0 else math.nan, side]
        self._place_bracket(i)

    def next(self):
        i = self._i()
        p = self.p
        if p.n_bars is not None and i >= p.n_bars:
            return
        t0 = time.perf_counter()
        d = self.data
        coc = bool(p.ex.fill_on_close)
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
            if p.ru.rearm:
                self.blocked = self.forced_side
            self.forced_side = 0
        exiting = any(o.alive() and o.info.get("forced") for o in self.market_orders)
        time_up = cs != 0 and not exiting and time_stop_nb(i - self.sig, p.ru.max_bars)
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
            if p.ru.rearm:
                self.blocked = cs
            cs, time_up, backstop = 0, False, True

        halted = loss_limit_hit_nb(self.lim, sess, eq, p.ru.max_loss, p.ru.max_loss_frac)
        # the account (as the simulator): blown at or below zero equity, or below the margin held
        one_lot = p.ex.min_qty if p.ex.min_qty > 0.0 else p.ex.lot_size
        if self.blown_bar < 0 and (eq <= 0.0 or (p.ex.margin > 0.0 and eq < p.ex.margin * (abs(pos) if cs != 0
                                                                                    else one_lot))):
            self.blown_bar = i
        desired, code, self.blocked = decide_nb(int(desired), int(cs), int(self.blocked), bool(p.ru.rearm),
                                                bool(time_up), bool(halted), bool(coc and last),
                                                self.blown_bar >= 0)
        reason = _REASON_NAMES[code]
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
                if (p.ru.sl_mult > 0.0 or p.ru.tp_mult > 0.0 or p.ru.trail_mult > 0.0) and not (atr > 0.0):
                    self.skipped_no_atr += 1
                else:
                    q = float(self._size(dec_eq, atr, sigma, desired))
                    if not q > 0.0:
                        self.skipped_zero_size += 1
                    elif coc and p.ex.margin > 0.0 and eq < p.ex.margin * q:
                        self.refused_by_margin += 1
                    elif coc and not can_open_nb(self.lim, sess, eq, 0.0, desired * q, p.ru.max_loss,
                                                 p.ru.max_loss_frac, p.ru.max_trades, p.ru.max_position):
                        self.refused_by_limits += 1
                    elif coc:
                        self.market_orders.append((self.buy if desired > 0 else self.sell)(
                            size=q, kind="entry", reason="entry", coc=True, late=True))
                        self.sig = i
                        _, deq = self._close_fill(desired * q, sigma)
                        eq += deq
                        late_pos += desired * q
                        after_fill_update_nb(self.lim, sess, eq, 0.0, desired * q)
                        # the account rule on the equity marked right after an entry at the close
                        if self.blown_bar < 0 and (eq <= 0.0 or (p.ex.margin > 0.0 and eq < p.ex.margin * q)):
                            self.blown_bar = i
                        if p.ru.sl_mult > 0.0 or p.ru.tp_mult > 0.0 or p.ru.trail_mult > 0.0:
                            stop, take = atr_stop_levels_nb(d.close[0], desired, atr, p.ru.sl_mult, p.ru.tp_mult)
                            self.levels = [stop, take, p.ru.trail_mult * atr if p.ru.trail_mult > 0.0 else math.nan,
                                           desired]
                    else:  # sent at the next open, once the daily limits allow it there
                        self.pending_entry = (desired, q, atr, exit_size)
                        self.sig = i
        self.equity.append(eq)
        self.position_arr.append(pos + late_pos)
        self.sessions.append(sess)
        self.sigmas.append(sigma)
        self.latency.append(time.perf_counter() - t0)
