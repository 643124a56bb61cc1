"""The live path in backtrader: a queue feed any client can push bars into, a replay of a file into it,
the strategy that trades a model bundle in any Cerebro, and the helper that sets up the Cerebro.

- :class:`QueueFeed`: a live backtrader feed fed from a thread-safe ``queue.Queue``; a broker's
  or websocket client's thread calls :meth:`QueueFeed.push` (or puts ``(time, values)`` items),
  and ``None`` (:meth:`QueueFeed.end`) ends the feed.
- :func:`replay_feed`: a :class:`QueueFeed` a background thread fills from a bar file or frame
  at a chosen speed (0: as fast as possible).
- :class:`BundleFollower`: the :class:`~engines.bt.SideFollower` rules (fills, costs, stops,
  limits, the session backstop) driven by :class:`engines.live.LiveDecider` on each new bar.
  Every column the bundle's features need is checked when the strategy starts.
- :func:`bundle_cerebro`: a Cerebro with the project's broker, costs and the strategy for a
  bundle and a feed; :func:`run_bundle_live` runs it and returns the usual ``SimResult``.
"""

from __future__ import annotations

import math
import queue
import threading
import time

import backtrader as bt
import numpy as np
import pandas as pd

from engines.bt._live import ProbabilityFollower
from ml.exceptions import ParameterError

__all__ = ["BundleFollower", "QueueFeed", "bundle_cerebro", "replay_feed", "run_bundle_live"]

_EXTRA = ("trades", "buy_volume", "sell_volume", "vwap")


class QueueFeed(bt.feed.DataBase):
    """A live feed: bars arrive on a thread-safe queue as ``(time, values)`` items.

    ``time``: the bar's open time, tz-aware; ``values``: a mapping with
    ``open, high, low, close, volume`` and any of ``trades, buy_volume,
    sell_volume, vwap`` (declare the ones the stream carries in ``columns``).
    ``None`` ends the feed.  Times are stored as UTC (``tz="UTC"``), so the
    strategies read them in the calendar's zone (:func:`engines.bt.feed_times_are_utc`).
    """

    lines = _EXTRA
    params = (("queue", None), ("columns", ()), ("qcheck", 0.5), ("tz", "UTC"), ("timeout", None))

    def __init__(self):
        super().__init__()
        self.q = self.p.queue if self.p.queue is not None else queue.Queue()
        bad = [c for c in self.p.columns if c not in _EXTRA]
        if bad:
            raise ParameterError(f"QueueFeed columns {bad} are not bar columns it carries; choose among {_EXTRA}.")
        self._ended = False
        self._waited = 0.0

    def push(self, t, values) -> None:
        """Put one bar on the queue (thread-safe)."""
        self.q.put((pd.Timestamp(t), dict(values)))

    def end(self) -> None:
        """End the feed after the bars already queued (``close`` is the close price line)."""
        self.q.put(None)

    def islive(self):
        return True

    def haslivedata(self):
        return not self.q.empty()

    def start(self):
        super().start()
        self.put_notification(self.LIVE)

    def _load(self):
        if self._ended:
            return False
        try:
            item = self.q.get(timeout=max(self._qcheck, 0.01))
        except queue.Empty:
            self._waited += max(self._qcheck, 0.01)
            if self.p.timeout is not None and self._waited >= self.p.timeout:
                self._ended = True
                return False
            return None          # no bar now: the feed is not over
        self._waited = 0.0
        if item is None:
            self._ended = True
            return False
        t, values = item
        t = pd.Timestamp(t)
        if t.tzinfo is None:
            raise ParameterError(f"QueueFeed bar time {t} has no time zone; push tz-aware times.")
        self.lines.datetime[0] = bt.date2num(t.tz_convert("UTC").tz_localize(None).to_pydatetime())
        for k in ("open", "high", "low", "close", "volume"):
            getattr(self.lines, k)[0] = float(values[k])
        for k in _EXTRA:
            getattr(self.lines, k)[0] = float(values[k]) if k in values else math.nan
        self.lines.openinterest[0] = 0.0
        return True


def replay_feed(bars: pd.DataFrame, *, speed: float = 0.0, bar_minutes: float | None = None) -> QueueFeed:
    """A :class:`QueueFeed` that a daemon thread fills with ``bars`` at ``speed`` times their pace.

    ``speed`` 0 (default): as fast as the strategy takes them.  The thread
    ends the feed after the last bar.
    """
    from ml.data import bar_minutes_of

    if speed < 0:
        raise ParameterError(f"`speed` must be >= 0 (0: as fast as possible), got {speed!r}.")
    cols = [c for c in _EXTRA if c in bars.columns]
    q: queue.Queue = queue.Queue(maxsize=0 if speed else 256)
    feed = QueueFeed(queue=q, columns=tuple(cols))
    pace = 0.0 if not speed else float(bar_minutes or bar_minutes_of(bars)) * 60.0 / float(speed)
    names = ["open", "high", "low", "close", "volume", *cols]
    vals = bars[names].to_numpy(dtype=np.float64)
    index = bars.index

    def pump():
        t0 = time.time()
        for i in range(len(index)):
            if pace:
                wait = t0 + i * pace - time.time()
                if wait > 0:
                    time.sleep(wait)
            q.put((index[i], dict(zip(names, vals[i]))))
        q.put(None)

    threading.Thread(target=pump, name="replay-feed", daemon=True).start()
    return feed


class BundleFollower(ProbabilityFollower):
    """Trade a :class:`~ml.registry.ModelBundle` in any Cerebro, on any feed, bar by bar.

    Each new bar goes to an :class:`engines.live.LiveDecider` (streaming
    features, the model on the new row, the strategy's rule, the safety
    rules); its side is traded with the rules of
    :class:`~engines.bt.SideFollower` (next-open fills, costs, stops, limits,
    the session backstop on the calendar's last bar of a session).  ATR and
    sigma come from past bars as in :class:`ProbabilityFollower`.  When it
    starts, the feed must carry a line for every column the bundle's features
    need, else it raises naming them.  Set it up with :func:`bundle_cerebro`
    (the broker and its costs come from the bundle).
    """

    params = (("bundle", None),)

    def __init__(self):
        from engines.live import LiveDecider

        if self.p.bundle is None:
            raise ParameterError("BundleFollower needs bundle= (a ModelBundle from ModelRegistry.load_bundle).")
        missing = [c for c in self.p.bundle.required_columns
                   if c not in ("open", "high", "low", "close", "volume") and not _feed_has(self.data, c)]
        if missing:
            raise ParameterError(f"the feed carries no {missing} line, which the bundle's features need; feed "
                                 f"bars with those columns (e.g. QueueFeed(columns={tuple(missing)!r})).")
        from engines.bt._broker import _Broker

        # in a Cerebro set up otherwise the run would be silently wrong: no fill at the next open
        # without cheat_on_open, no costs with backtrader's own broker
        if not self.cerebro.p.cheat_on_open or not isinstance(self.cerebro.broker, _Broker):
            raise ParameterError("BundleFollower needs the project's broker and cheat_on_open=True (fills at the "
                                 "next open with the bundle's costs); build the Cerebro with "
                                 "engines.bt.bundle_cerebro(bundle, feed).")
        super().__init__()
        self.decider = LiveDecider(self.p.bundle, speed=0)
        self._extra = [c for c in _EXTRA if _feed_has(self.data, c)]
        self.decisions = self.decider.log

    def _bar_inputs(self, i):
        ts, bar, sess, btc, atr, sigma = self._record_bar(i)
        d = self.data
        values = {"open": bar[1], "high": bar[2], "low": bar[3], "close": bar[4], "volume": bar[5]}
        for k in self._extra:
            values[k] = float(getattr(d.lines, k)[0])
        t0 = time.perf_counter()
        dec = self.decider.on_values(ts, values)
        self.predict_latency.append(time.perf_counter() - t0)
        side = self.decider.side if dec is None else dec.side
        self.proba.append(math.nan if dec is None else dec.probability)
        self.btc.append(btc)
        self.sessions_all.append(sess)
        return side, atr, sigma, btc <= 0.0


def _feed_has(data, column) -> bool:
    """Whether a feed has a line named ``column`` (and, for a PandasData, the column behind it)."""
    if column not in data.lines.getlinealiases():
        return False
    dn = getattr(data.p, "dataname", None)
    if isinstance(dn, pd.DataFrame):
        return column in dn.columns
    cols = getattr(data.p, "columns", None)
    return cols is None or column in cols


def bundle_cerebro(bundle, feed, *, initial_equity: float = 100_000.0):
    """A Cerebro with the project's broker (the bundle's costs, slippage, margin rule) and
    :class:`BundleFollower` on ``feed``: add nothing else, then ``cerebro.run()``."""
    from engines.bt._broker import _cerebro
    from engines.contexts import exec_context, rules_context

    c = bundle.configs()
    kw = {"ex": exec_context(c["contract"], c["costs"], initial_equity, False),
          "ru": rules_context(c["sizing"], c["stops"], c["limits"])}
    cerebro = _cerebro(kw, initial_equity, None, None)
    cerebro.adddata(feed)
    cerebro.addstrategy(BundleFollower, bundle=bundle, calendar=bundle.calendar, bar_minutes=bundle.bar_minutes,
                        atr_window=c["stops"].atr_window, lookback=1, rule=bundle.strategy_object(), **kw)
    return cerebro


def run_bundle_live(bundle, feed, *, initial_equity: float = 100_000.0, risk_free: float = 0.0):
    """Run :func:`bundle_cerebro` to the end of ``feed``; the result as :func:`engines.bt.run_backtrader`'s."""
    from engines.bt._run import _result

    cerebro = bundle_cerebro(bundle, feed, initial_equity=initial_equity)
    strat = cerebro.run()[0]
    index = strat._index(0)
    if not len(index):
        raise ParameterError("the feed delivered no bars.")
    c = bundle.configs()
    res = _result(strat, index, np.asarray(strat.hist["close"], dtype=float), index, calendar=bundle.calendar,
                  bar_minutes=bundle.bar_minutes, risk_free=risk_free, initial_equity=initial_equity,
                  spec=c["contract"], costs=c["costs"], sizing=c["sizing"], stops=c["stops"], limits=c["limits"],
                  participation=None, impact=None, fill_on_close=False,
                  meta_extra={"sides_precomputed": False, "from_probabilities": True,
                              "decisions": strat.decider.decisions(), "alerts": dict(strat.decider.alerts)})
    return res
