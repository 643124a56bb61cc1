"""backtrader's broker as the project's costs: commission with the multiplier, slippage, margin, volume participation and square-root impact; the Cerebro they go into."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import backtrader as bt

from engines._sim_nb import _market_fill_nb
from ml.exceptions import ParameterError


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


def _cerebro(kw, initial_equity, participation, impact):
    """Cerebro with our broker, commission, slippage and filler."""
    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True)
    ex = kw["ex"]
    slip_points = ex.slippage_ticks * ex.tick_size
    broker = _Broker(impact=impact, slip_points=slip_points)
    cerebro.setbroker(broker)
    broker.setcash(float(initial_equity))
    # backtrader rejects every order (status Margin) while cash is negative, exits included: the
    # account rules (blown account, margin per contract) are the strategy's, as in the simulator
    broker.set_checksubmit(False)
    broker.addcommissioninfo(FuturesCommInfo(per_contract=ex.commission_per_contract, pct=ex.commission_pct,
                                             mult=ex.multiplier))
    broker.set_coc(True)  # only orders tagged coc=True (close fills) use it
    if slip_points > 0:
        broker.set_slippage_fixed(slip_points, slip_open=True, slip_limit=False, slip_match=True,
                                  slip_out=False)
    if participation is not None:
        broker.set_filler(_ParticipationFiller(participation.fraction))
    return cerebro
