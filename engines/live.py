"""Decisions on a live or replayed feed, one bar at a time, with the bundle a user validated.

:class:`LiveDecider` turns each new bar into the decision the batch backtest
(:meth:`ml.registry.ModelBundle.backtest`) takes on the same bar:

1. the bundle's features, updated from their state (:class:`ml.features.StreamingFeatures`,
   equal to the batch features bit for bit);
2. the model's traded probability (:func:`ml.training.traded_probability`);
3. the strategy's rule, one step (:func:`strategies._signals_nb.threshold_step_nb`,
   the kernel of the batch sides), with the bars left in the session from the calendar.

Safety rules, each logged on the decision (``alert``) and counted:

- a bar whose time does not follow the last one is refused (no decision, no order);
- a probability that is NaN, infinite or outside [0, 1] places no new order: the
  previous side is kept;
- :meth:`LiveDecider.kill` (the kill switch) makes every later decision flat;
- a bar that arrives after the feed was silent for ``stale_bars`` bar lengths of
  wall-clock time (at the replay ``speed``) places no new order (with ``flatten_on_stale``
  it closes the position instead); :meth:`LiveDecider.stale` tells the caller between bars;
- the order-rate cap (``max_orders`` orders per ``order_window`` minutes of bar time) refuses
  an order that would open or reverse a position past the cap; closing is always allowed.

The decision log (:attr:`LiveDecider.log`, :meth:`LiveDecider.decisions`) holds per
bar: bar time, arrival and decision times, a hash of the feature vector, the
probability, the side, the alert and the latency, enough to replay any decision.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.exceptions import BarDataError, ParameterError
from strategies._base import bars_to_close
from strategies._signals_nb import threshold_step_nb

__all__ = ["Decision", "LiveDecider", "time_decisions"]


@dataclass
class Decision:
    """One bar's decision."""

    time: pd.Timestamp          #: the bar's open time
    arrival: float              #: when the bar reached the decider (time.time(), seconds)
    decided: float              #: when the decision was taken (time.time())
    features_hash: str          #: first 16 hex digits of the SHA-256 of the feature vector (float64 bytes)
    probability: float          #: the traded probability of an up move
    side: int                   #: the desired side after this bar: +1, 0, -1 (filled at the next open)
    alert: str                  #: "" or why a safety rule acted
    latency_ms: float           #: arrival to decision
    close: float = float("nan")  #: the bar's close (the dashboard's provisional equity)


class LiveDecider:
    """Decide bar by bar with a :class:`~ml.registry.ModelBundle`, as its batch backtest does.

    Parameters
    ----------
    bundle : ModelBundle
    stale_bars : float, default 3
        :meth:`stale` is True once no bar arrived for this many bar lengths.
    speed : float, default 1
        Replay speed the wall clock runs at (0: as fast as possible, no staleness).
    flatten_on_stale : bool, default False
        On the first bar after a stale feed, close the position (otherwise keep it).
    max_orders : int or None, default None
        Order-rate cap: at most this many side changes that open or reverse a position within
        ``order_window`` minutes of bar time (None: no cap). A change that would exceed it is
        refused (a reversal becomes a close); closing a position is never refused.
    order_window : float, default 60
        The cap's window in minutes.
    """

    def __init__(self, bundle, *, stale_bars: float = 3.0, speed: float = 1.0,
                 flatten_on_stale: bool = False, max_orders: int | None = None,
                 order_window: float = 60.0):
        from ml.data import get_calendar
        from ml.features import StreamingFeatures
        from strategies import ProbabilityThresholdStrategy

        strategy = bundle.strategy_object()
        if not isinstance(strategy, ProbabilityThresholdStrategy):
            raise ParameterError("LiveDecider runs ProbabilityThresholdStrategy bundles.")
        self.bundle = bundle
        self.calendar = get_calendar(bundle.calendar)
        self.bar_minutes = float(bundle.bar_minutes)
        self.features = StreamingFeatures(bundle.feature_groups, calendar=self.calendar,
                                          bar_minutes=self.bar_minutes)
        self._args = strategy.kernel_args()   # (long, short, min_holding, flat bars before close, short ok, meta)
        self.stale_bars = float(stale_bars)
        self.speed = float(speed)
        self.flatten_on_stale = bool(flatten_on_stale)
        if max_orders is not None and int(max_orders) < 1:
            raise ParameterError(f"max_orders must be at least 1 (or None for no cap), got {max_orders}.")
        if not order_window > 0:
            raise ParameterError(f"order_window must be positive minutes, got {order_window}.")
        self.max_orders = None if max_orders is None else int(max_orders)
        self.order_window = pd.Timedelta(minutes=float(order_window))
        self._opened: list[pd.Timestamp] = []           # bar times of the orders that opened exposure
        self.side = 0
        self.held = 0
        self.killed = False
        self.last_time = None
        self.last_arrival = None
        self.log: list[Decision] = []
        self.alerts: dict[str, int] = {}
        self._idx = None                                  # the model's features in the stream's vector
        self._columns = pd.Index(bundle.features)
        self._required = bundle.required_columns
        params = bundle.model.get_params() if hasattr(bundle.model, "get_params") else {}
        self._window = int(params.get("window", 1) or 1)   # sequence models read the last rows
        self._rows: list = []
        self.last_frame = None
        self.last_x = None

    # ------------------------------------------------------------------ safety
    def kill(self) -> None:
        """The kill switch: every later decision is flat."""
        self.killed = True

    def stale(self, now: float | None = None) -> bool:
        """Whether no bar arrived for ``stale_bars`` bar lengths (of replay time at ``speed``)."""
        if self.last_arrival is None or self.speed <= 0:
            return False
        now = time.time() if now is None else now
        return (now - self.last_arrival) * self.speed > self.stale_bars * self.bar_minutes * 60.0

    def alert(self, what: str) -> str:
        """Count and return an alert (the decision log and run.json report the counts)."""
        self.alerts[what] = self.alerts.get(what, 0) + 1
        return what

    def restore(self, log: pd.DataFrame) -> None:
        """Take up the state a decision log (:meth:`decisions` of an earlier run, after :meth:`warm_up` on its
        bars) leaves: the last side, the kill switch, and the opening orders still inside the order-rate
        cap's window (a restart must not reopen the cap)."""
        if not len(log):
            return
        if log["alert"].astype(str).str.contains("kill switch").any():
            self.kill()
        sides = log["side"].to_numpy(dtype=np.int64)
        self.side = int(sides[-1])
        prev = np.r_[0, sides[:-1]]
        opened = log.index[(sides != 0) & (sides != prev)]
        self._opened = [t for t in opened if t > log.index[-1] - self.order_window]

    # ------------------------------------------------------------------ decisions
    def warm_up(self, history: pd.DataFrame) -> pd.DataFrame:
        """Feed ``history`` (no decisions logged): the features' state and the rule's state at its end.

        The rule's state (side, bars held) is what its batch run over the history leaves; its sides
        there are :attr:`warm_sides`."""
        self.bundle.check_bars(history)
        feats = self.features.update(history)
        if self._window > 1:
            self._rows = list(feats[self.bundle.features].to_numpy(dtype=np.float64)[-(self._window - 1):])
        p = self._probabilities(feats)
        btc = self._bars_to_close(history.index)
        lt, st, mh, fb, short, _ = self._args
        sides = np.empty(len(history), dtype=np.int64)
        for i in range(len(history)):
            self.side, self.held = threshold_step_nb(p[i], lt, st, mh, btc[i], fb, short, True, self.side, self.held)
            sides[i] = self.side
        self.warm_sides = pd.Series(sides, index=history.index, name="side")   # what the rule decided there
        self.warm_probability = pd.Series(p, index=history.index, name="probability")
        self.warm_features = feats[self.bundle.features]
        self.last_time = history.index[-1]
        return feats

    def on_bar(self, bar: pd.DataFrame, arrival: float | None = None) -> Decision | None:
        """The decision of one new bar given as a one-row frame (see :meth:`on_values`)."""
        arrival = time.time() if arrival is None else arrival
        row = bar.iloc[0]
        return self.on_values(bar.index[0], {k: row[k] for k in bar.columns if k != "symbol"}, arrival)

    def on_values(self, t, values, arrival: float | None = None) -> Decision | None:
        """The decision of one new bar: its open time and a mapping of its values (open, high, low,
        close, volume and the columns the bundle's features need); None when the bar is refused."""
        arrival = time.time() if arrival is None else arrival
        t = pd.Timestamp(t)
        if self.last_time is not None and not t > self.last_time:
            self.alert("bar out of order")
            return None
        missing = [c for c in self._required if c not in values]
        if missing:
            self.alert("bar refused")
            raise BarDataError(f"the bar at {t} lacks {missing}, which the bundle's features need.")
        row = self.features.update_bar(t, values)
        if self._idx is None:
            pos = {n: i for i, n in enumerate(self.features.names)}
            self._idx = np.array([pos[f] for f in self.bundle.features], dtype=np.int64)
        x = row[self._idx]
        self.last_x = x                                   # the model's feature vector (for the monitor)
        p = float(self._probability_row(x))
        btc = float(bars_to_close(self.features.session_facts(t)[2], self.bar_minutes))
        lt, st, mh, fb, short, _ = self._args
        alert = ""
        if self.stale(now=arrival):
            # the feed was silent for stale_bars bar lengths: this late bar places no new order
            if self.flatten_on_stale and self.side != 0:
                alert = self.alert("stale feed: flattened")
                self.side, self.held = 0, 0
            else:
                alert = self.alert("stale feed: no new order")
        elif not (math.isfinite(p) and 0.0 <= p <= 1.0):
            alert = self.alert("invalid probability: no new order")
            if not math.isnan(p):
                p = math.nan
            # the previous side is kept: no order either way (the rule's state does not move)
        else:
            before = self.side
            self.side, self.held = threshold_step_nb(p, lt, st, mh, btc, fb, short, True, self.side, self.held)
            if self.max_orders is not None and self.side != 0 and self.side != before:
                alert = self._rate_cap(t)
        side = self.side
        if self.killed:
            alert = alert or self.alert("kill switch")
            side = 0
            self.side, self.held = 0, 0
        decided = time.time()
        d = Decision(time=t, arrival=arrival, decided=decided,
                     features_hash=hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()[:16],
                     probability=p, side=int(side), alert=alert, latency_ms=(decided - arrival) * 1e3,
                     close=float(values["close"]))
        self.log.append(d)
        self.last_time = t
        self.last_arrival = arrival
        return d

    def decisions(self) -> pd.DataFrame:
        """The decision log as a frame indexed by bar time."""
        rows = [d.__dict__ for d in self.log]
        out = pd.DataFrame(rows, columns=list(Decision.__dataclass_fields__))
        return out.set_index("time")

    # ------------------------------------------------------------------ helpers
    def _rate_cap(self, t: pd.Timestamp) -> str:
        """Apply the order-rate cap to a side change that opens exposure at bar ``t``."""
        self._opened = [u for u in self._opened if u > t - self.order_window]
        if len(self._opened) < self.max_orders:
            self._opened.append(t)
            return ""
        # past the cap: no new exposure; a reversal closes instead, an entry from flat stays flat
        self.side, self.held = 0, 0
        return self.alert("order-rate cap: no new order")

    def _probability_row(self, x: np.ndarray) -> float:
        """The traded probability of one feature vector (the model reads a one-row frame, as fitted;
        a sequence model the last ``window`` rows)."""
        from ml.training import traded_probability

        if self._window > 1:
            self._rows.append(np.asarray(x, dtype=np.float64))
            del self._rows[:-self._window]
            frame = pd.DataFrame(np.vstack(self._rows), columns=self._columns)
        else:
            frame = pd.DataFrame(x[None, :], columns=self._columns)
        self.last_frame = frame
        p = self.bundle.model.predict_proba(frame)[-1:]
        return float(traded_probability(p, self.bundle.classes)[0])

    def _probabilities(self, feats: pd.DataFrame) -> np.ndarray:
        from ml.training import traded_probability

        proba = self.bundle.model.predict_proba(feats[self.bundle.features])
        return traded_probability(proba, self.bundle.classes)

    def _bars_to_close(self, index: pd.DatetimeIndex) -> np.ndarray:
        from strategies import session_facts

        return session_facts(index, calendar=self.calendar, bar_minutes=self.bar_minutes).bars_to_close


def time_decisions(bundle, bars: pd.DataFrame, n: int = 1000) -> dict:
    """Latency of ``n`` consecutive live decisions on the last ``n`` bars of ``bars``, end to end.

    The bars before them warm the decider up (features and rule state, as a
    live session started from history would).  Each decision is timed from the
    bar's arrival (its values handed over) to the decision taken: streaming
    features, the model, the strategy's rule and the safety checks.  Also timed
    apart, on the same bars: the model's ``predict_proba`` alone on each
    feature vector (the reference the end-to-end figure is compared with).

    Returns ``decisions``, ``p50_ms``, ``p99_ms``, ``max_ms``, ``bars_per_second``,
    ``model_p50_ms``, ``model_p99_ms``, ``features`` and ``feature_groups``.
    """
    n = int(min(n, len(bars) - 1))
    if n <= 0:
        return {"decisions": 0, "note": "too few bars"}
    dec = LiveDecider(bundle, speed=0)
    dec.warm_up(bars.iloc[:len(bars) - n])
    cols = [c for c in bars.columns if c in ("open", "high", "low", "close", "volume", "trades", "buy_volume",
                                             "sell_volume", "vwap")]
    vals = bars[cols].to_numpy(dtype=np.float64)
    idx = bars.index
    lat = np.empty(n)
    frames = []
    for k, i in enumerate(range(len(bars) - n, len(bars))):
        values = dict(zip(cols, vals[i]))
        t0 = time.perf_counter()
        dec.on_values(idx[i], values, arrival=time.time())
        lat[k] = time.perf_counter() - t0
        if k >= n - 200:
            frames.append(dec.last_frame)
    # the model alone, on the frames the last decisions handed it
    model_t = np.empty(len(frames))
    for k, frame in enumerate(frames):
        t0 = time.perf_counter()
        bundle.model.predict_proba(frame)
        model_t[k] = time.perf_counter() - t0
    ms = lat * 1e3
    return {"decisions": int(n), "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max()),
            "bars_per_second": float(n / lat.sum()),
            "model_p50_ms": float(np.percentile(model_t * 1e3, 50)),
            "model_p99_ms": float(np.percentile(model_t * 1e3, 99)),
            "features": len(bundle.features), "feature_groups": bundle.feature_groups,
            "alerts": dict(dec.alerts),
            "measures": "bar arrival to decision: streaming features, model.predict_proba on the new row, "
                        "the strategy's rule and the safety checks (engines.live.LiveDecider)"}
