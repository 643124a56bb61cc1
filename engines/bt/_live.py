"""The live strategy: :class:`ProbabilityFollower` infers the probability in ``next()`` from past bars of any feed; :func:`run_backtrader_live` runs it."""

from __future__ import annotations

import math
import numbers
import time

import backtrader as bt
import numpy as np
import pandas as pd

from engines.bt._broker import Participation, SquareRootImpact, _cerebro
from engines.bt._run import BtResult, _check_options, _latency_ms, _result
from engines.bt._strategy import SideFollower
from engines.simulate import (
    Costs,
    Sizing,
    Stops,
)
from ml.exceptions import ParameterError
from risk.limits import DailyLimits
from risk.sizing import ContractSpec
from ml.data import bars_calendar, get_calendar, get_instrument
from strategies import BaseStrategy, ProbabilityThresholdStrategy, SessionFacts, session_facts
from strategies._base import _up_probability


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

    def _bar_proba(self):
        return float(self.proba[-1]) if self.proba else math.nan

    def _record_bar(self, i):
        """Keep bar ``i`` in the history; ``(time, bar, session, bars to close, ATR, sigma)`` from past bars."""
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
        return ts, bar, sess, btc, atr, sigma

    def _bar_inputs(self, i):
        ts, bar, sess, btc, atr, sigma = self._record_bar(i)
        h = self.hist
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
