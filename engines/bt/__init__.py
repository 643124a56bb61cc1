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

The package has one module per job: ``_broker`` (commission with the
multiplier, slippage, margin, participation, impact and the Cerebro),
``_strategy`` (the historical :class:`SideFollower` and its feed), ``_live``
(:class:`ProbabilityFollower` and :func:`run_backtrader_live`) and ``_run``
(:func:`run_backtrader` and the run as a ``SimResult``).

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

from engines.bt._broker import MARGIN_PER_CONTRACT, FuturesCommInfo, Participation, SquareRootImpact
from engines.bt._feeds import BundleFollower, QueueFeed, bundle_cerebro, replay_feed, run_bundle_live
from engines.bt._live import ProbabilityFollower, feed_times_are_utc, model_predictor, run_backtrader_live
from engines.bt._net import BarClient, BarServer
from engines.bt._run import BtResult, run_backtrader
from engines.bt._strategy import SideFeed, SideFollower

__all__ = [
    "MARGIN_PER_CONTRACT",
    "BarClient",
    "BarServer",
    "BtResult",
    "BundleFollower",
    "FuturesCommInfo",
    "Participation",
    "ProbabilityFollower",
    "QueueFeed",
    "SideFeed",
    "SideFollower",
    "SquareRootImpact",
    "feed_times_are_utc",
    "bundle_cerebro",
    "model_predictor",
    "replay_feed",
    "run_backtrader",
    "run_backtrader_live",
    "run_bundle_live",
]
