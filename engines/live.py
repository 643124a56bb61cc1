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
- :meth:`LiveDecider.stale` tells whether the feed has been silent for ``stale_bars``
  bar lengths of wall-clock time (the caller checks it between bars and sends no order).

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

__all__ = ["Decision", "LiveDecider"]


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


class LiveDecider:
    """Decide bar by bar with a :class:`~ml.registry.ModelBundle`, as its batch backtest does.

    Parameters
    ----------
    bundle : ModelBundle
    stale_bars : float, default 3
        :meth:`stale` is True once no bar arrived for this many bar lengths.
    speed : float, default 1
        Replay speed the wall clock runs at (0: as fast as possible, no staleness).
    """

    def __init__(self, bundle, *, stale_bars: float = 3.0, speed: float = 1.0):
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
        self.side = 0
        self.held = 0
        self.killed = False
        self.last_time = None
        self.last_arrival = None
        self.log: list[Decision] = []
        self.alerts: dict[str, int] = {}

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

    # ------------------------------------------------------------------ decisions
    def warm_up(self, history: pd.DataFrame) -> pd.DataFrame:
        """Feed ``history`` (no decisions logged): the features' state and the rule's state at its end.

        The rule's state (side, bars held) is what its batch run over the history leaves."""
        from strategies._signals_nb import threshold_step_nb

        self.bundle.check_bars(history)
        feats = self.features.update(history)
        p = self._probabilities(feats)
        btc = self._bars_to_close(history.index)
        lt, st, mh, fb, short, _ = self._args
        for i in range(len(history)):
            self.side, self.held = threshold_step_nb(p[i], lt, st, mh, btc[i], fb, short, True, self.side, self.held)
        self.last_time = history.index[-1]
        return feats

    def on_bar(self, bar: pd.DataFrame, arrival: float | None = None) -> Decision | None:
        """The decision of one new bar (a one-row frame with the bundle's columns); None if refused."""
        from strategies._signals_nb import threshold_step_nb

        arrival = time.time() if arrival is None else arrival
        t = bar.index[0]
        if self.last_time is not None and not t > self.last_time:
            self.alert("bar out of order")
            return None
        if len(self.log) == 0 and self.features.n_bars == 0:
            self.bundle.check_bars(bar)
        try:
            feats = self.features.update(bar)
        except BarDataError:
            self.alert("bar refused")
            raise
        x = feats[self.bundle.features].to_numpy(dtype=np.float64)
        p = float(self._probabilities(feats)[0])
        btc = float(self._bars_to_close(bar.index)[0])
        lt, st, mh, fb, short, _ = self._args
        alert = ""
        if not (math.isfinite(p) and 0.0 <= p <= 1.0):
            alert = self.alert("invalid probability: no new order")
            if not math.isnan(p):
                p = math.nan
            # the previous side is kept: no order either way (the rule's state does not move)
        else:
            self.side, self.held = threshold_step_nb(p, lt, st, mh, btc, fb, short, True, self.side, self.held)
        side = self.side
        if self.killed:
            alert = alert or self.alert("kill switch")
            side = 0
            self.side, self.held = 0, 0
        decided = time.time()
        d = Decision(time=t, arrival=arrival, decided=decided,
                     features_hash=hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()[:16],
                     probability=p, side=int(side), alert=alert, latency_ms=(decided - arrival) * 1e3)
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
    def _probabilities(self, feats: pd.DataFrame) -> np.ndarray:
        from ml.training import traded_probability

        proba = self.bundle.model.predict_proba(feats[self.bundle.features])
        return traded_probability(proba, self.bundle.classes)

    def _bars_to_close(self, index: pd.DatetimeIndex) -> np.ndarray:
        from strategies import session_facts

        return session_facts(index, calendar=self.calendar, bar_minutes=self.bar_minutes).bars_to_close
