"""The model monitor: drift of features, predictions and calibration, adversarial validation, and live
results against the bands the walk-forward validation predicts.

:class:`MonitorReference` is what "normal" means for one bundle, fixed when it
is registered: a sample of its training window's feature rows, its
out-of-sample probabilities with their outcomes, and its out-of-sample
session returns and trade results. :class:`ModelMonitor` takes one bar at a
time (the model's feature vector, the traded probability, the close) and,
every ``every`` bars once ``window`` bars are in, compares the last
``window`` bars with the reference; each rule past its threshold raises an
:class:`~ml.monitoring.Alert` (once while it persists).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml.exceptions import ParameterError
from ml.monitoring._alerts import Alerts
from ml.monitoring._stats import adversarial_auc, bin_edges, ece, ks, psi, session_bands

__all__ = ["ModelMonitor", "MonitorReference", "MonitorThresholds", "forward_outcome", "monitor_bars"]


@dataclass(frozen=True)
class MonitorThresholds:
    """When the monitor alerts. Every field can be set in a TOML ``[monitor]`` table (``--monitor KEY=VALUE``).

    Drift limits are calibrated on the reference's own sessions (see :class:`MonitorReference`): a
    statistic drifts when it exceeds ``null_factor`` times the largest value any training session
    showed against the others, and at least the fixed floor given here.

    Parameters
    ----------
    window : int, optional
        Recent bars compared with the reference (default: one session, the median out-of-sample
        session length of the reference).
    every : int, default 60
        Bars between two checks once the window is full.
    null_factor : float, default 2
        How far past the training sessions' largest value a statistic must be.
    feature_psi : float, default 0.25
        Floor of a feature's PSI limit (0.25: the textbook "major shift", Siddiqi 2006).
    feature_ks : float, default 0.1
        Floor of a feature's Kolmogorov-Smirnov limit (both PSI and KS must be past their limits).
    min_features : int, default 2
        Drifted features needed for the ``feature_drift`` alert, at least.
    min_share : float, default 0.05
        Share of the model's features that must drift for the ``feature_drift`` alert (the larger
        of this and ``min_features``): on an ordinary day a few of many features do.
    prediction_psi : float, default 0.25
        Floor of the traded probability's PSI limit (against its out-of-sample distribution).
    adversarial_auc : float, default 0.75
        Floor of the adversarial classifier's AUC limit (training rows vs the window). When the
        training sessions themselves are told apart with AUC >= 0.99 (features that identify the
        day), the rule cannot say anything and is off, which the monitor states.
    adversarial_every : int, optional
        Bars between two adversarial checks (default: ``window``; it fits a classifier).
    persist : int, default 3
        Checks in a row a single-statistic rule (prediction PSI, Brier, ECE) must be past its
        limit before it alerts (the feature rule needs several features at once instead).
    brier_increase : float, default 0.05
        Rise of the window's Brier score over the out-of-sample one.
    ece : float, default 0.2
        Floor of the expected calibration error's limit (the ECE of one session's bars over 10
        bins is noisy: 0.1-0.17 on ordinary WDO days).
    band : float, default 0.05
        Quantile of the bootstrap band below which the live cumulative return (or hit rate) is abnormal.
    """

    window: int | None = None
    every: int = 60
    null_factor: float = 2.0
    feature_psi: float = 0.25
    feature_ks: float = 0.1
    min_features: int = 2
    min_share: float = 0.05
    prediction_psi: float = 0.25
    adversarial_auc: float = 0.75
    adversarial_every: int | None = None
    persist: int = 3
    brier_increase: float = 0.05
    ece: float = 0.2
    band: float = 0.05

    def __post_init__(self):
        for name in ("window", "every", "min_features", "adversarial_every", "persist"):
            v = getattr(self, name)
            if v is None and name in ("window", "adversarial_every"):
                continue
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ParameterError(f"`{name}` must be a whole number >= 1, got {v!r}.")
        for name in ("null_factor", "feature_psi", "feature_ks", "prediction_psi", "brier_increase", "ece"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and np.isfinite(v) and v > 0):
                raise ParameterError(f"`{name}` must be a positive number, got {v!r}.")
        if not 0.5 <= self.adversarial_auc < 1:
            raise ParameterError(f"`adversarial_auc` must be in [0.5, 1), got {self.adversarial_auc!r}.")
        if not 0 <= self.min_share <= 1:
            raise ParameterError(f"`min_share` must be in [0, 1], got {self.min_share!r}.")
        if not 0 < self.band < 0.5:
            raise ParameterError(f"`band` must be in (0, 0.5), got {self.band!r}.")

    @classmethod
    def from_dict(cls, d: dict | None) -> "MonitorThresholds":
        d = dict(d or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            from ml._checks import did_you_mean

            raise ParameterError(f"unknown monitor setting {unknown[0]!r}{did_you_mean(unknown[0], known)}; "
                                 f"known: {', '.join(sorted(known))}.")
        return cls(**d)


def forward_outcome(close: pd.Series, horizon: int) -> pd.Series:
    """1.0 when the close ``horizon`` bars later is above this bar's close, 0.0 when below, NaN when equal or
    not yet known: the outcome the calibration rules score the traded probability against."""
    c = close.to_numpy(dtype=np.float64)
    out = np.full(len(c), np.nan)
    if len(c) > horizon:
        out[:-horizon] = _up_down(c, horizon)
    return pd.Series(out, index=close.index, name="outcome")


def _up_down(c: np.ndarray, horizon: int) -> np.ndarray:
    """1.0 / 0.0 / NaN for close ``i + horizon`` above / below / equal to close ``i``, for every ``i`` it exists."""
    d = c[horizon:] - c[:len(c) - horizon]
    return np.where(d > 0, 1.0, np.where(d < 0, 0.0, np.nan))


@dataclass
class MonitorReference:
    """What the monitor compares with (see the module docstring).

    Parameters
    ----------
    features : DataFrame
        Feature rows of the training window (the model's columns; a sample is enough).
    feature_sessions : array-like of int
        The session of each row of ``features``.
    probability, outcome : array-like
        Out-of-sample traded probabilities and their :func:`forward_outcome`.
    oos_sessions : array-like of int
        The session of each out-of-sample row.
    session_returns : array-like
        Out-of-sample return of each session (the walk-forward backtest).
    trade_wins : array-like
        1 / 0 per out-of-sample trade (net P&L > 0).
    horizon : int
        Bars of the outcome.

    Notes
    -----
    Intraday features are not one distribution: a session's opening gap, day of
    week or 240-bar volatility is nearly constant inside the session, so any
    one session's window is far from the pooled training rows (on the bundled
    WDO sample, a plain PSI > 0.25 flags 36 of 87 features on an ordinary day,
    and an adversarial classifier tells any day apart with AUC 1). The drift
    rules are therefore calibrated on the reference itself: :meth:`null` holds,
    per statistic, the largest value between one training session and the
    other training sessions (leave one session out). A live window drifts when
    it is past that by the monitor's ``null_factor``: more unusual than any
    training day was.
    """

    features: pd.DataFrame
    feature_sessions: np.ndarray
    probability: np.ndarray
    outcome: np.ndarray
    oos_sessions: np.ndarray
    session_returns: np.ndarray
    trade_wins: np.ndarray
    horizon: int
    brier: float = field(init=False)
    ece: float = field(init=False)

    def __post_init__(self):
        self.features = self.features.reset_index(drop=True).astype(np.float64)
        for name in ("feature_sessions", "oos_sessions"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.int64))
        for name in ("probability", "outcome", "session_returns", "trade_wins"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        if len(self.feature_sessions) != len(self.features) or len(self.oos_sessions) != len(self.probability):
            raise ParameterError("`feature_sessions` and `oos_sessions` must give one session per row.")
        ok = np.isfinite(self.probability) & np.isfinite(self.outcome)
        self.brier = float(np.mean((self.probability[ok] - self.outcome[ok]) ** 2)) if ok.any() else float("nan")
        self.ece = ece(self.probability, self.outcome)
        self._null = None

    @property
    def bars_per_session(self) -> int:
        """Median out-of-sample bars per session (the default monitoring window)."""
        counts = np.bincount(self.oos_sessions - self.oos_sessions.min()) if len(self.oos_sessions) else [0]
        counts = np.asarray(counts)
        return int(np.median(counts[counts > 0])) if (counts > 0).any() else 0

    def null(self, adversarial: bool = True, random_state: int = 0) -> dict:
        """The largest value of each statistic between one reference session and the others (see Notes):
        ``psi`` and ``ks`` per feature (Series), ``prediction_psi``, ``ece`` and ``adversarial_auc``."""
        if self._null is not None and (not adversarial or "adversarial_auc" in self._null):
            return self._null
        X = self.features.to_numpy()
        fs = self.feature_sessions
        ids = np.unique(fs)
        out = {"sessions": int(len(ids))}
        if len(ids) < 2:
            raise ParameterError(f"the monitor's reference holds {len(ids)} training session(s); drift is measured "
                                 "against the training sessions' own spread, which needs at least 2.")
        psi_max = np.zeros(X.shape[1])
        ks_max = np.zeros(X.shape[1])
        for s in ids:
            one, rest = X[fs == s], X[fs != s]
            for j in range(X.shape[1]):
                psi_max[j] = max(psi_max[j], np.nan_to_num(psi(rest[:, j], one[:, j])))
                ks_max[j] = max(ks_max[j], np.nan_to_num(ks(rest[:, j], one[:, j])[0]))
        out["psi"] = pd.Series(psi_max, index=self.features.columns)
        out["ks"] = pd.Series(ks_max, index=self.features.columns)
        os_ = self.oos_sessions
        pred, cal = 0.0, 0.0
        for s in np.unique(os_):
            one = os_ == s
            pred = max(pred, np.nan_to_num(psi(self.probability[~one], self.probability[one])))
            if np.isfinite(self.outcome[one]).sum() >= 50:
                cal = max(cal, np.nan_to_num(ece(self.probability[one], self.outcome[one])))
        out["prediction_psi"] = float(pred)
        out["ece"] = float(cal)
        if adversarial:
            rng = np.random.default_rng(random_state)
            pick = rng.choice(ids, size=min(5, len(ids)), replace=False)
            out["adversarial_auc"] = float(max(np.nan_to_num(adversarial_auc(X[fs != s], X[fs == s],
                                                                             random_state=random_state))
                                               for s in pick))
        self._null = out
        return out

    @classmethod
    def from_walkforward(cls, features: pd.DataFrame, probability: pd.Series, close: pd.Series,
                         session_returns, trade_wins, horizon: int, *, calendar,
                         max_rows: int = 10000) -> "MonitorReference":
        """The reference of a walk-forward: ``features`` of the training window, out-of-sample
        ``probability`` and the ``close`` it is scored on, session returns and trade wins; sessions from
        ``calendar`` (a name or a calendar of ``ml.data``)."""
        from ml.data import get_calendar

        cal = get_calendar(calendar) if isinstance(calendar, str) else calendar
        step = max(1, int(np.ceil(len(features) / max_rows)))
        feats = features.iloc[::step]
        outcome = forward_outcome(close, horizon).reindex(probability.index)
        return cls(features=feats, feature_sessions=np.asarray(cal.sessions(feats.index).session),
                   probability=probability.to_numpy(), outcome=outcome.to_numpy(),
                   oos_sessions=np.asarray(cal.sessions(probability.index).session),
                   session_returns=np.asarray(session_returns, dtype=np.float64),
                   trade_wins=np.asarray(trade_wins, dtype=np.float64), horizon=int(horizon))

    def to_frames(self) -> dict:
        """Frames to store: ``features`` (with their ``session``), ``oos``, ``sessions``, ``trades``."""
        return {"features": self.features.assign(**{_SESSION: self.feature_sessions}),
                "oos": pd.DataFrame({"probability": self.probability, "outcome": self.outcome,
                                     "session": self.oos_sessions}),
                "sessions": pd.DataFrame({"return": self.session_returns}),
                "trades": pd.DataFrame({"win": self.trade_wins})}

    @classmethod
    def from_frames(cls, frames: dict, horizon: int) -> "MonitorReference":
        f = frames["features"]
        return cls(features=f.drop(columns=[_SESSION]), feature_sessions=f[_SESSION].to_numpy(),
                   probability=frames["oos"]["probability"].to_numpy(), outcome=frames["oos"]["outcome"].to_numpy(),
                   oos_sessions=frames["oos"]["session"].to_numpy(),
                   session_returns=frames["sessions"]["return"].to_numpy(),
                   trade_wins=frames["trades"]["win"].to_numpy(), horizon=int(horizon))


_SESSION = "__session__"


class ModelMonitor:
    """Watch one model bar by bar (see the module docstring).

    Parameters
    ----------
    reference : MonitorReference
    thresholds : MonitorThresholds, optional
    alerts : Alerts, optional
        Where alerts go (default: kept in :attr:`alerts` only).
    random_state : int, default 0
        Seed of the adversarial classifier.
    """

    def __init__(self, reference: MonitorReference, thresholds: MonitorThresholds | None = None,
                 alerts: Alerts | None = None, random_state: int = 0):
        self.reference = reference
        self.thresholds = thresholds or MonitorThresholds()
        self.alerts = alerts if alerts is not None else Alerts()
        self.random_state = random_state
        th = self.thresholds
        self.window = int(th.window or reference.bars_per_session)
        if self.window < 50:
            raise ParameterError(f"the monitoring window is {self.window} bars; at least 50 are needed (set "
                                 "`window` in the [monitor] settings).")
        self.adversarial_every = int(th.adversarial_every or self.window)
        ref = reference.features.to_numpy(dtype=np.float64)
        self.names = list(reference.features.columns)
        self._ref = ref
        self._edges = [bin_edges(ref[:, j]) for j in range(ref.shape[1])]
        self._p_edges = bin_edges(reference.probability)
        # limits: past the training sessions' own largest value (times null_factor), and the floors
        null = reference.null(random_state=random_state)
        f = th.null_factor
        self.limits = {"psi": np.maximum(th.feature_psi, f * null["psi"].to_numpy()),
                       "ks": np.maximum(th.feature_ks, f * null["ks"].to_numpy()),
                       "prediction_psi": max(th.prediction_psi, f * null["prediction_psi"]),
                       "ece": max(th.ece, f * null["ece"]),
                       "adversarial_auc": max(th.adversarial_auc, null["adversarial_auc"])}
        self.notes = [f"drift limits: {f:g} x the largest value between one of the reference's {null['sessions']} "
                      f"training sessions and the others, at least the floors; window {self.window} bars, "
                      f"checked every {th.every}"]
        if null["adversarial_auc"] >= 0.99:
            self.limits["adversarial_auc"] = None
            self.notes.append(f"adversarial validation is off: the model's features tell the training sessions "
                              f"apart (AUC {null['adversarial_auc']:.2f}), so a window told apart says nothing")
        self.min_drifted = max(th.min_features, int(np.ceil(th.min_share * len(self.names))))
        self.notes.append(f"feature drift: at least {self.min_drifted} of {len(self.names)} features past their "
                          "PSI and KS limits")
        self._x = deque(maxlen=self.window)
        self._p = deque(maxlen=self.window)
        self._close = deque(maxlen=self.window)
        self.n = 0
        self._streak: dict[str, int] = {}
        self.history: list[dict] = []     # one row per check

    def update(self, time, features, probability: float, close: float) -> list:
        """Take one bar: its time, the model's feature vector, the traded probability and the close.
        Returns the alerts this bar raised."""
        x = np.asarray(features, dtype=np.float64)
        if x.shape != (len(self.names),):
            raise ParameterError(f"`features` must hold the model's {len(self.names)} features, got shape {x.shape}.")
        self._x.append(x)
        self._p.append(float(probability))
        self._close.append(float(close))
        self.n += 1
        if self.n < self.window or (self.n - self.window) % self.thresholds.every:
            return []
        return self.check(time)

    def check(self, time) -> list:
        """Compare the window with the reference now; returns the alerts raised."""
        th = self.thresholds
        before = len(self.alerts.raised)
        X = np.array(self._x)
        p = np.array(self._p)
        row = {"time": str(time), "bars": self.n}
        lim = self.limits
        # features: PSI and KS of each; the alert needs min_features past both of their limits
        drifted = []
        for j, name in enumerate(self.names):
            v = psi(self._ref[:, j], X[:, j], edges=self._edges[j])
            k, _ = ks(self._ref[:, j], X[:, j])
            row[f"psi:{name}"] = v
            row[f"ks:{name}"] = k
            if v > lim["psi"][j] and k > lim["ks"][j]:
                drifted.append((v / lim["psi"][j], v, name))
        drifted.sort(reverse=True)
        row["features_drifted"] = len(drifted)
        self.alerts.check("feature_drift", "features", len(drifted), self.min_drifted - 0.5, time,
                          message=f"{len(drifted)} of {len(self.names)} features drifted past their limits: "
                                  + ", ".join(f"{n} PSI {v:.2f} ({r:.1f}x its limit)" for r, v, n in drifted[:5]))
        # predictions
        row["prediction_psi"] = psi(self.reference.probability, p, edges=self._p_edges)
        self._persistent("prediction_psi", "prediction", row["prediction_psi"], lim["prediction_psi"], time)
        # calibration: the outcome of the window's bars that are `horizon` bars old
        h = self.reference.horizon
        c = np.array(self._close)
        k = len(p) - h                          # window bars whose outcome is known
        if k > 0:
            pp = p[:k]
            y = _up_down(c, h)                    # the closes are the window's own: bar i against bar i + h
            ok = np.isfinite(pp) & np.isfinite(y)
            if ok.sum() >= 50:
                row["brier"] = float(np.mean((pp[ok] - y[ok]) ** 2))
                row["ece"] = ece(pp, y)
                self._persistent("brier_increase", "calibration", row["brier"] - self.reference.brier,
                                 th.brier_increase, time,
                                 message=f"Brier {row['brier']:.4f} vs {self.reference.brier:.4f} out of sample")
                self._persistent("ece", "calibration", row["ece"], lim["ece"], time)
        # adversarial validation, less often (it fits a classifier)
        if lim["adversarial_auc"] is not None and (self.n - self.window) % self.adversarial_every == 0:
            row["adversarial_auc"] = adversarial_auc(self._ref, X, random_state=self.random_state)
            self.alerts.check("adversarial_auc", "features", row["adversarial_auc"], lim["adversarial_auc"], time)
        self.history.append(row)
        return self.alerts.raised[before:]

    def _persistent(self, rule: str, subject: str, value: float, limit: float, time, message: str = "") -> None:
        """A single-statistic rule alerts once it has been past its limit on ``persist`` checks in a row: the
        limit comes from a handful of reference sessions, so one check past it is not yet a drift."""
        past = bool(np.isfinite(value) and value > limit)
        self._streak[rule] = self._streak.get(rule, 0) + 1 if past else 0
        shown = value if self._streak[rule] >= self.thresholds.persist else float("nan")
        if not past or self._streak[rule] >= self.thresholds.persist:
            self.alerts.check(rule, subject, shown, limit, time,
                              message=message or (f"{rule} of {subject} is {value:.4g}, above its limit {limit:.4g} "
                                                  f"on {self._streak[rule]} checks in a row" if past else ""))

    def drift_table(self) -> pd.DataFrame:
        """One row per check: time, PSI and KS per feature, prediction PSI, Brier, ECE, adversarial AUC."""
        return pd.DataFrame(self.history)

    # ------------------------------------------------------------------ results against the validation
    def performance(self, session_returns: pd.Series, trade_wins=None, time=None) -> dict:
        """Live cumulative return (and hit rate) against the walk-forward's bootstrap bands.

        ``session_returns``: the live return of each finished session, in order. Raises
        ``pnl_below_band`` when the cumulative return after ``n`` sessions is below the band's
        lower quantile for ``n`` sessions, and ``hit_rate_below_band`` likewise for the hit rate
        of the trades so far. Returns the figures with their bands.
        """
        th = self.thresholds
        r = np.asarray(session_returns, dtype=np.float64)
        out: dict = {"sessions": int(len(r))}
        when = time if time is not None else (session_returns.index[-1] if len(r) and
                                               hasattr(session_returns, "index") else "")
        if len(r) and len(self.reference.session_returns) >= 2:
            bands = session_bands(self.reference.session_returns, [len(r)], quantiles=(th.band, 1 - th.band),
                                  random_state=self.random_state)
            lo, hi = bands.iloc[0][f"q{th.band:g}"], bands.iloc[0][f"q{1 - th.band:g}"]
            cum = float(r.sum())
            out.update(cumulative_return=cum, band_low=float(lo), band_high=float(hi),
                       band_median=float(bands.iloc[0]["q0.5"]))
            self.alerts.check("pnl_below_band", "results", cum, lo, when, above=False,
                              message=f"cumulative return {cum:.4%} over {len(r)} session(s) is below the "
                                      f"{th.band:.0%} band {lo:.4%} of the walk-forward's out-of-sample sessions")
        wins = np.asarray(trade_wins if trade_wins is not None else [], dtype=np.float64)
        ref_w = self.reference.trade_wins
        if len(wins) and len(ref_w) >= 2:
            rng = np.random.default_rng(self.random_state)
            draws = ref_w[rng.integers(0, len(ref_w), size=(2000, len(wins)))].mean(axis=1)
            lo = float(np.quantile(draws, th.band))
            out.update(hit_rate=float(wins.mean()), hit_rate_band_low=lo,
                       hit_rate_reference=float(ref_w.mean()))
            self.alerts.check("hit_rate_below_band", "results", float(wins.mean()), lo, when, above=False,
                              message=f"hit rate {wins.mean():.1%} over {len(wins)} trade(s) is below the "
                                      f"{th.band:.0%} band {lo:.1%} of the out-of-sample trades")
        return out


def monitor_bars(bundle, bars: pd.DataFrame, thresholds: MonitorThresholds | None = None,
                 alerts: Alerts | None = None, *, random_state: int = 0) -> ModelMonitor:
    """Run the monitor of ``bundle`` (a :class:`~ml.registry.ModelBundle` with a reference) over ``bars`` bar
    by bar, as a live run feeds it (the batch features equal the streaming ones bit for bit), then check the
    bundle's backtest on them against the walk-forward's bands. Returns the monitor (its ``alerts``,
    ``history`` and ``performance_`` hold the results)."""
    from engines.metrics import daily_returns

    if bundle.reference is None:
        raise ParameterError("the bundle has no monitoring reference (registered before monitoring existed); "
                             "register it again with python -m runners.walkforward --register NAME.")
    X = bundle.features_of(bars)
    p = bundle.probability(bars, features=X)
    mon = ModelMonitor(bundle.reference, thresholds, alerts, random_state=random_state)
    close = bars["close"].to_numpy()
    prob = p.to_numpy()
    for i, (t, x) in enumerate(zip(bars.index, X.to_numpy())):
        mon.update(t, x, prob[i], close[i])
    res = bundle.backtest(bars, proba=p)
    closed = res.trades[res.trades["closed"]] if len(res.trades) else res.trades
    wins = (closed["net_pnl"] > 0).astype(float).to_numpy() if len(closed) else None
    mon.performance_ = mon.performance(daily_returns(res.returns, bundle.calendar), wins, time=bars.index[-1])
    return mon
