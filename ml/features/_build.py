"""Causal intraday features in named groups.

Every feature at bar ``t`` is a function of bars ``<= t`` only (the bar's own
close included: a decision taken with it fills at bar ``t + 1``'s open, see
PITFALLS.md #1).  Windows are counted in bars; session-based features restart
on every session of the bars' calendar.  Prices enter as log ratios or in ATR
units, so features are comparable across instruments and price levels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml._checks import did_you_mean
from ml.data._calendar import SessionCalendar, bars_calendar
from ml.data._frame import bar_minutes_of
from ml.data._frame import check_bar_frame, check_bar_index
from ml.exceptions import BarDataError, DataQualityWarning, MissingOptionalColumnsWarning, ParameterError
from ml.features import _features_nb as nb

__all__ = ["FEATURE_GROUPS", "FeatureSpec", "StreamingFeatures", "build_features", "feature_catalog"]

_LN2 = np.log(2.0)


@dataclass(frozen=True)
class FeatureSpec:
    """Documentation of one feature: its name, group, inputs and meaning."""

    name: str
    group: str
    requires: tuple[str, ...]
    description: str


class _Ctx:
    """Arrays shared by the feature groups, computed once per call, and the stateful operations.

    Every operation that reads earlier bars (shifts, rolling windows, averages,
    session scans) is a method here running a resumable kernel of
    :mod:`ml.features._features_nb` whose state lives in ``store``: a fresh
    dict computes the bars from scratch (:func:`build_features`); the dict of
    a :class:`StreamingFeatures` carries each operation's state from one chunk
    of bars to the next, so a chunk's features equal those of one call on all
    the bars.  Operations are keyed by the order in which the groups call
    them (the same on every chunk; a mismatch raises).
    """

    def __init__(self, arrays: dict, index, cal: SessionCalendar, info, bar_minutes: float,
                 store: dict | None = None, local=None):
        self.index = index
        self.cal = cal
        self.info = info      # start, minutes_since_open, minutes_to_close, session_minutes per bar
        # a session id that holds across chunks: the session's scheduled open (UTC ns)
        self.session = np.asarray(info.start, dtype=np.int64)
        self.n = len(arrays["close"])
        self.store = {} if store is None else store
        self.fresh = not self.store     # these bars start the series
        self._calls = 0
        self._local = local   # (local minute of day, weekday) when the caller has them
        self.o = arrays["open"]
        self.h = arrays["high"]
        self.l = arrays["low"]
        self.c = arrays["close"]
        self.v = arrays["volume"]
        self.cols = {k: arrays[k] for k in _OPTIONAL if k in arrays}
        self.raw_c = arrays.get("raw_close", self.c)
        self.logc = np.log(self.c)
        self.bar_minutes = bar_minutes
        self._cache: dict = {}
        self.r1 = self.diff(self.logc, 1)

    # -- state of one operation, by call order
    def _state(self, kind, params, make):
        key = self._calls
        self._calls += 1
        st = self.store.get(key)
        if st is None:
            st = self.store[key] = (kind, params, make())
        elif st[0] != kind or st[1] != params:
            raise RuntimeError(f"feature state {key} was {st[0]}{st[1]}, now {kind}{params}: the groups must call "
                               "their operations in the same order on every chunk")
        return st[2]

    # -- operations reading earlier bars
    def shift(self, x, k):
        """``x`` ``k`` bars earlier (NaN before the first).

        State: the last ``k`` values, either as an array (chunks) or as a ring
        in which bar ``t`` (counted from the series' start) sits at ``t % k``
        (one bar at a time, the live path), and the bars seen.
        """
        st = self._state("shift", (k,), lambda: {"tail": np.empty(0), "ring": None, "seen": 0})
        seen = st["seen"]
        if self.n == 1 and k > 0:
            ring = st["ring"]
            if ring is None:   # from the tail array: its values are bars seen - m .. seen - 1
                ring = st["ring"] = np.full(k, np.nan)
                tail = st["tail"]
                for j, v in enumerate(tail):
                    ring[(seen - len(tail) + j) % k] = v
            v = float(x[0])
            out = np.array([ring[seen % k] if seen >= k else np.nan])
            ring[seen % k] = v
            st["seen"] = seen + 1
            return out
        if st["ring"] is not None:   # back to the tail array
            m = min(seen, k)
            st["tail"] = np.array([st["ring"][t % k] for t in range(seen - m, seen)], dtype=np.float64)
            st["ring"] = None
        full = np.concatenate([st["tail"], np.asarray(x, dtype=np.float64)])
        idx = np.arange(self.n) + (len(full) - self.n - k)   # position in `full` of the bar k earlier
        out = np.where(idx >= 0, full[np.maximum(idx, 0)], np.nan) if len(full) else np.empty(0)
        st["tail"] = full[max(0, len(full) - k):] if k > 0 else full[:0]
        st["seen"] = seen + self.n
        return out

    def diff(self, x, k):
        return x - self.shift(x, k)

    def rsum(self, x, w):
        fs, ist, buf = self._state("rsum", (w,), lambda: (np.zeros(1), np.zeros(2, np.int64), np.empty(w)))
        out = np.empty(self.n)
        nb.rolling_sum_st_nb(np.ascontiguousarray(x, dtype=np.float64), w, fs, ist, buf, out)
        return out

    def rvar(self, x, w, ddof):
        fs, ist, buf = self._state("rvar", (w, ddof), lambda: (np.zeros(3), np.zeros(3, np.int64), np.empty(w)))
        out = np.empty(self.n)
        nb.rolling_var_st_nb(np.ascontiguousarray(x, dtype=np.float64), w, ddof, fs, ist, buf, out)
        return out

    def rmoment(self, x, w, which):
        fs, ist, buf = self._state("rmoment", (w, which),
                                   lambda: (np.zeros(5), np.zeros(3, np.int64), np.empty(w)))
        sums = np.empty((4, self.n))
        nb.rolling_power_sums_st_nb(np.ascontiguousarray(x, dtype=np.float64), w, 4, fs, ist, buf, sums)
        return nb.moments_from_sums_nb(sums, w, which)

    def rcov(self, x, y, w, ddof):
        fs, ist, bx, by = self._state("rcov", (w, ddof), lambda: (np.zeros(5), np.zeros(3, np.int64),
                                                                   np.empty(w), np.empty(w)))
        out = np.empty(self.n)
        nb.rolling_cov_st_nb(np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(y, dtype=np.float64),
                             w, ddof, fs, ist, bx, by, out)
        return out

    def _extreme(self, x, w, sign, kind):
        ist, buf, dq = self._state(kind, (w,), lambda: (np.array([0, -1, 0, 0], np.int64), np.empty(w),
                                                        np.zeros(w + 1, np.int64)))
        out = np.empty(self.n)
        nb.rolling_extreme_st_nb(np.ascontiguousarray(x, dtype=np.float64), w, sign, ist, buf, dq, out)
        return out

    def rmax(self, x, w):
        return self._extreme(x, w, 1.0, "rmax")

    def rmin(self, x, w):
        return self._extreme(x, w, -1.0, "rmin")

    def ewm(self, x, alpha, minp):
        fs, ist = self._state("ewm", (alpha, minp), lambda: (np.full(1, np.nan), np.zeros(1, np.int64)))
        out = np.empty(self.n)
        nb.ewm_st_nb(np.ascontiguousarray(x, dtype=np.float64), alpha, minp, fs, ist, out)
        return out

    def _scan(self, x, kind):
        fs, ist = self._state("scan", (kind,), lambda: (np.zeros(1), np.zeros(2, np.int64)))
        out = np.empty(self.n)
        nb.session_scan_st_nb(np.ascontiguousarray(x, dtype=np.float64), self.session, kind, fs, ist, out)
        return out

    def scumsum(self, x):
        """Cumulative sum that restarts on every session; non-finite values count as 0."""
        return self._scan(x, 0)

    def scummax(self, x):
        return self._scan(x, 1)

    def scummin(self, x):
        return self._scan(x, 2)

    def sfirst(self, x):
        """Value on the session's first bar, repeated on its later bars."""
        return self._scan(x, 3)

    def slag(self, x, k):
        """``x`` ``k`` bars earlier when that bar is in the same session, else NaN."""
        ist, bx, bs = self._state("slag", (k,), lambda: (np.zeros(1, np.int64), np.empty(k),
                                                         np.zeros(k, np.int64)))
        out = np.empty(self.n)
        nb.session_lag_st_nb(np.ascontiguousarray(x, dtype=np.float64), self.session, k, ist, bx, bs, out)
        return out

    def prev_session(self):
        """High, low and last close of the previous session present in the data."""
        def f():
            fs, ist = self._state("prev_session", (), lambda: (np.full(6, np.nan), np.zeros(2, np.int64)))
            ph, pl, pc = np.empty(self.n), np.empty(self.n), np.empty(self.n)
            nb.prev_session_st_nb(self.h, self.l, self.c, self.session, fs, ist, ph, pl, pc)
            return ph, pl, pc
        return self.cached("prev_session", f)

    def opening_range(self, range_minutes):
        fs, ist = self._state("opening_range", (range_minutes,), lambda: (np.full(2, np.nan),
                                                                          np.zeros(2, np.int64)))
        oh, ol = np.empty(self.n), np.empty(self.n)
        nb.opening_range_st_nb(self.h, self.l, self.session, np.asarray(self.info.minutes_since_open, np.float64),
                               self.bar_minutes, range_minutes, fs, ist, oh, ol)
        return oh, ol

    def same_slot_mean(self, x, slot, n_slots, k):
        cap = max(4 * n_slots, 64)
        ring, count, pv, ps, ist = self._state("same_slot_mean", (n_slots, k), lambda: (
            np.full((n_slots, k), np.nan), np.zeros(n_slots, np.int64), np.empty(cap), np.zeros(cap, np.int64),
            np.zeros(3, np.int64)))
        out = np.empty(self.n)
        nb.same_slot_mean_st_nb(np.ascontiguousarray(x, dtype=np.float64), slot, self.session, k, ring, count, pv, ps,
                                ist, out)
        if ist[2] >= cap:
            raise BarDataError(f"a session holds more than {cap} bars with an intraday slot: the bars are not "
                               f"{self.bar_minutes:g}-minute bars; pass the right bar_minutes.")
        return out

    def zscore(self, x, w):
        m = self.rsum(x, w) / w
        s = np.sqrt(self.rvar(x, w, 1))
        return _div(x - m, s)

    def local_time(self):
        """``(minute of the local day, weekday)`` of each bar in the calendar's time zone."""
        if self._local is None:
            local = self.index.tz_convert(self.cal.tz)
            mod = (local.hour * 60 + local.minute + local.second / 60.0).to_numpy(np.float64)
            self._local = (mod, local.day_of_week.to_numpy(np.float64))
        return self._local

    # -- shared derived arrays
    def cached(self, key, fn):
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def vol_cc(self, w):
        return self.cached(("vol_cc", w), lambda: np.sqrt(self.rvar(self.r1, w, 1)))

    def atr(self, n):
        def f():
            pc = self.shift(self.c, 1)
            tr = np.fmax(self.h, pc) - np.fmin(self.l, pc)  # fmax/fmin: first bar uses h - l
            return self.ewm(tr, 1.0 / n, n), tr
        return self.cached(("atr", n), f)

    def ema(self, x_key, x, span):
        return self.cached(("ema", x_key, span), lambda: self.ewm(x, 2.0 / (span + 1.0), span))

    def session_vwap(self):
        def f():
            price = self.cols.get("vwap")
            typical = (self.h + self.l + self.c) / 3.0
            price = typical if price is None else np.where(np.isfinite(price), price, typical)
            pv = self.scumsum(price * self.v)
            cv = self.scumsum(self.v)
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(cv > 0, pv / cv, np.nan)
        return self.cached("svwap", f)


def _raw_close(bars: pd.DataFrame) -> np.ndarray:
    """Close in traded prices: a back-adjusted continuous series
    (:func:`ml.data.continuous_contract`) scales earlier bars by factors of
    rolls that happen later, which log ratios ignore but price levels do not."""
    c = bars["close"].to_numpy(np.float64)
    if "adjustment" not in bars.columns:
        return c
    adjust = (getattr(bars, "attrs", {}) or {}).get("continuous", {}).get("adjust", "ratio")
    a = bars["adjustment"].to_numpy(np.float64)
    return c - a if adjust == "difference" else c / a


def _div(a, b):
    """``a / b`` with every non-finite result NaN (the groups run under ``np.errstate(all ignored)``)."""
    out = a / b
    out[~np.isfinite(out)] = np.nan
    return out


def _log(x):
    out = np.log(x)
    out[~np.isfinite(out)] = np.nan
    return out


# --------------------------------------------------------------------------- groups
# Each group: a function ctx -> {name: array} and its specs, declared together.

_GROUPS: dict = {}


def _group(name, specs):
    def deco(fn):
        _GROUPS[name] = (fn, [FeatureSpec(n, name, tuple(req), d) for n, req, d in specs])
        return fn
    return deco


_RET_H = (1, 2, 5, 15, 30, 60, 120)


@_group("momentum", [
    *[(f"ret_{h}", (), f"log return over the last {h} bar(s): ln(close_t / close_t-{h})") for h in _RET_H],
    ("ret_bar", (), "bar body: ln(close / open)"),
    *[(f"mom_z_{h}", (), f"ret_{h} / (vol_cc_60 * sqrt({h})): momentum in volatility units") for h in (5, 15, 60)],
    *[(f"ema_dist_{n}", (), f"ln(close / EMA(close, span {n}))") for n in (10, 30, 120)],
    ("macd", (), "(EMA12 - EMA26) of close, divided by close"),
    ("macd_hist", (), "macd minus its EMA9 (signal line)"),
    ("rsi_14", (), "Wilder RSI over 14 bars, 0..100 (smoothing seeded with the first move, not a 14-bar "
                   "average as in Wilder's book; the difference decays geometrically)"),
    ("rsi_60", (), "Wilder RSI over 60 bars, 0..100"),
    ("stoch_k_14", (), "stochastic %K: (close - min low 14) / (max high 14 - min low 14)"),
    ("eff_ratio_30", (), "Kaufman efficiency ratio over 30 bars: |net move| / sum |moves|"),
    ("eff_ratio_120", (), "Kaufman efficiency ratio over 120 bars"),
    ("ret_session", (), "ln(close / session's first open): return since the session opened"),
    ("gap_session", (), "ln(session's first open / previous session's last close): opening gap"),
])
def _momentum(x: _Ctx):
    out = {f"ret_{h}": x.diff(x.logc, h) for h in _RET_H}
    out["ret_bar"] = x.logc - np.log(x.o)
    v60 = x.vol_cc(60)
    for h in (5, 15, 60):
        out[f"mom_z_{h}"] = _div(out[f"ret_{h}"], v60 * np.sqrt(h))
    for n in (10, 30, 120):
        out[f"ema_dist_{n}"] = x.logc - np.log(x.ema("c", x.c, n))
    macd = _div(x.ema("c", x.c, 12) - x.ema("c", x.c, 26), x.c)
    out["macd"] = macd
    out["macd_hist"] = macd - x.ewm(macd, 2.0 / 10.0, 9)
    d = x.diff(x.c, 1)
    up, dn = np.where(d > 0, d, 0.0), np.where(d < 0, -d, 0.0)
    if x.fresh:   # the series' first bar has no move (not the first bar of a later chunk)
        up[0] = dn[0] = np.nan
    for n in (14, 60):
        g, lo = x.ewm(up, 1.0 / n, n), x.ewm(dn, 1.0 / n, n)
        out[f"rsi_{n}"] = np.where(g + lo > 0, 100.0 * _div(g, g + lo), 50.0)
        out[f"rsi_{n}"][np.isnan(g)] = np.nan
    hh, ll = x.rmax(x.h, 14), x.rmin(x.l, 14)
    out["stoch_k_14"] = np.where(hh > ll, _div(x.c - ll, hh - ll), 0.5)
    out["stoch_k_14"][np.isnan(hh)] = np.nan
    absmove = np.abs(x.r1)
    for w in (30, 120):
        out[f"eff_ratio_{w}"] = _div(np.abs(x.diff(x.logc, w)), x.rsum(absmove, w))
    sopen = x.sfirst(x.o)
    out["ret_session"] = x.logc - np.log(sopen)
    _, _, pc = x.prev_session()
    out["gap_session"] = np.log(sopen) - _log(pc)
    return out


@_group("volatility", [
    *[(f"vol_cc_{w}", (), f"close-to-close volatility: std of 1-bar log returns over {w} bars") for w in (15, 60, 240)],
    *[(f"vol_park_{w}", (), f"Parkinson volatility over {w} bars: sqrt(mean(ln(H/L)^2) / (4 ln 2))") for w in (15, 60)],
    *[(f"vol_gk_{w}", (), f"Garman-Klass volatility over {w} bars") for w in (15, 60)],
    *[(f"vol_rs_{w}", (), f"Rogers-Satchell volatility over {w} bars (drift-independent)") for w in (15, 60)],
    *[(f"vol_yz_{w}", (), f"Yang-Zhang volatility over {w} bars (open gap + close + RS, k weighting)") for w in (15, 60)],
    ("vol_ratio_15_240", (), "vol_cc_15 / vol_cc_240: short- vs long-run volatility"),
    ("vol_session", (), "realised volatility since the session opened: sqrt(sum r^2 / bars)"),
    ("vol_regime_60_1000", (), "vol_cc_60 / its 1000-bar mean: volatility regime"),
])
def _volatility(x: _Ctx):
    out = {f"vol_cc_{w}": x.vol_cc(w) for w in (15, 60, 240)}
    hl = np.log(x.h / x.l)
    co = np.log(x.c / x.o)
    park = hl * hl / (4.0 * _LN2)
    gk = 0.5 * hl * hl - (2.0 * _LN2 - 1.0) * co * co
    rs = np.log(x.h / x.c) * np.log(x.h / x.o) + np.log(x.l / x.c) * np.log(x.l / x.o)
    oc = np.log(x.o) - x.shift(x.logc, 1)  # open vs previous close
    for w in (15, 60):
        out[f"vol_park_{w}"] = np.sqrt(x.rsum(park, w) / w)
        out[f"vol_gk_{w}"] = np.sqrt(np.maximum(x.rsum(gk, w) / w, 0.0))
        rs_var = x.rsum(rs, w) / w
        out[f"vol_rs_{w}"] = np.sqrt(np.maximum(rs_var, 0.0))
        k = 0.34 / (1.34 + (w + 1.0) / (w - 1.0))
        yz = x.rvar(oc, w, 1) + k * x.rvar(co, w, 1) + (1.0 - k) * rs_var
        out[f"vol_yz_{w}"] = np.sqrt(np.maximum(yz, 0.0))
    out["vol_ratio_15_240"] = _div(out["vol_cc_15"], out["vol_cc_240"])
    r_in = x.slag(x.logc, 1)
    r_in = x.logc - r_in  # NaN on the session's first bar: the gap is not intraday volatility
    r2 = np.where(np.isfinite(r_in), r_in * r_in, 0.0)
    n_in = x.scumsum(np.isfinite(r_in).astype(np.float64))
    out["vol_session"] = np.sqrt(_div(x.scumsum(r2), n_in))
    v60 = out["vol_cc_60"]
    out["vol_regime_60_1000"] = _div(v60, x.rsum(v60, 1000) / 1000.0)
    return out


@_group("range", [
    ("atr_14", (), "Wilder ATR over 14 bars / close"),
    ("atr_60", (), "Wilder ATR over 60 bars / close"),
    ("tr_atr_ratio", (), "true range / ATR14: bar expansion"),
    ("range_bar", (), "ln(high / low) of the bar"),
    ("clv", (), "close location value: (close - low) / (high - low), 0.5 on flat bars"),
    ("upper_wick", (), "(high - max(open, close)) / (high - low)"),
    ("lower_wick", (), "(min(open, close) - low) / (high - low)"),
    ("range_pos_60", (), "(close - min low 60) / (max high 60 - min low 60)"),
    ("range_pos_240", (), "(close - min low 240) / (max high 240 - min low 240)"),
    ("bb_pctb_20", (), "Bollinger %b: (close - (SMA20 - 2 sd)) / (4 sd)"),
    ("bb_width_20", (), "Bollinger band width: 4 sd / SMA20"),
])
def _range(x: _Ctx):
    out = {}
    atr14, tr = x.atr(14)
    out["atr_14"] = atr14 / x.c
    out["atr_60"] = x.atr(60)[0] / x.c
    out["tr_atr_ratio"] = _div(tr, atr14)
    rng = x.h - x.l
    out["range_bar"] = np.log(x.h / x.l)
    flat = rng <= 0
    out["clv"] = np.where(flat, 0.5, _div(x.c - x.l, rng))
    out["upper_wick"] = np.where(flat, 0.0, _div(x.h - np.maximum(x.o, x.c), rng))
    out["lower_wick"] = np.where(flat, 0.0, _div(np.minimum(x.o, x.c) - x.l, rng))
    for w in (60, 240):
        hh, ll = x.rmax(x.h, w), x.rmin(x.l, w)
        pos = np.where(hh > ll, _div(x.c - ll, hh - ll), 0.5)
        pos[np.isnan(hh)] = np.nan
        out[f"range_pos_{w}"] = pos
    sma = x.rsum(x.c, 20) / 20.0
    sd = np.sqrt(x.rvar(x.c, 20, 0))
    out["bb_pctb_20"] = np.where(sd > 0, _div(x.c - (sma - 2 * sd), 4 * sd), 0.5)
    out["bb_pctb_20"][np.isnan(sma)] = np.nan
    out["bb_width_20"] = _div(4 * sd, sma)
    return out


@_group("volume", [
    ("log_volume", (), "ln(1 + volume)"),
    ("volume_z_30", (), "z-score of volume over 30 bars"),
    ("volume_z_120", (), "z-score of volume over 120 bars"),
    ("volume_rel_tod", (), "volume / mean volume at the same time of day over the previous 20 sessions"),
    ("volume_ratio_5_60", (), "mean volume over 5 bars / mean over 60 bars"),
    ("volume_session_log", (), "ln(1 + volume traded so far in the session)"),
    ("signed_volume_30", (), "sum(sign(ret) * volume) / sum(volume) over 30 bars (OBV slope)"),
])
def _volume(x: _Ctx):
    out = {"log_volume": np.log1p(x.v)}
    for w in (30, 120):
        out[f"volume_z_{w}"] = x.zscore(x.v, w)
    # a slot per bar of a day; a bar past its own session's last slot (or with no session) has none
    since = np.asarray(x.info.minutes_since_open, dtype=np.float64)
    slot = np.where(np.isfinite(since), np.floor(since / x.bar_minutes), -1.0).astype(np.int64)
    own = np.ceil(np.asarray(x.info.session_minutes, dtype=np.float64) / x.bar_minutes) + 1
    slot[~(slot < own)] = -1
    n_slots = int(np.ceil(1440.0 / x.bar_minutes)) + 1
    tod_mean = x.same_slot_mean(x.v, slot, n_slots, 20)
    out["volume_rel_tod"] = _div(x.v, tod_mean)
    out["volume_ratio_5_60"] = _div(x.rsum(x.v, 5) / 5.0, x.rsum(x.v, 60) / 60.0)
    out["volume_session_log"] = np.log1p(x.scumsum(x.v))
    sv = np.sign(x.r1) * x.v
    out["signed_volume_30"] = _div(x.rsum(sv, 30), x.rsum(x.v, 30))
    return out


_OF = ("buy_volume", "sell_volume")


@_group("order_flow", [
    ("of_imbalance", _OF, "(buy - sell) / volume of the bar (aggressor imbalance)"),
    ("of_imbalance_5", _OF, "sum(buy - sell) / sum(volume) over 5 bars"),
    ("of_imbalance_30", _OF, "sum(buy - sell) / sum(volume) over 30 bars"),
    ("of_imbalance_ema_10", _OF, "EMA(10) of the bar imbalance"),
    ("of_cum_delta_session", _OF, "cumulative delta (buy - sell) since the session opened"),
    ("of_cum_delta_session_norm", _OF, "session cumulative delta / session volume"),
    ("of_delta_z_60", _OF, "z-score of the bar delta over 60 bars"),
    ("of_delta_ret_corr_30", _OF, "correlation of bar delta and bar return over 30 bars"),
    ("of_vpin_50", _OF, "VPIN-like toxicity: sum |buy - sell| / sum volume over 50 bars"),
])
def _order_flow(x: _Ctx):
    b, s = x.cols["buy_volume"], x.cols["sell_volume"]
    delta = b - s
    out = {"of_imbalance": _div(delta, x.v)}
    for w in (5, 30):
        out[f"of_imbalance_{w}"] = _div(x.rsum(delta, w), x.rsum(x.v, w))
    out["of_imbalance_ema_10"] = x.ewm(out["of_imbalance"], 2.0 / 11.0, 10)
    cd = x.scumsum(delta)
    out["of_cum_delta_session"] = cd
    out["of_cum_delta_session_norm"] = _div(cd, x.scumsum(x.v))
    out["of_delta_z_60"] = x.zscore(delta, 60)
    cov = x.rcov(delta, x.r1, 30, 1)
    sd = np.sqrt(x.rvar(delta, 30, 1) * x.rvar(x.r1, 30, 1))
    out["of_delta_ret_corr_30"] = _div(cov, sd)
    out["of_vpin_50"] = _div(x.rsum(np.abs(delta), 50), x.rsum(x.v, 50))
    return out


@_group("vwap", [
    ("vwap_dist_bar", ("vwap",), "ln(close / bar VWAP)"),
    ("vwap_dist_session", (), "ln(close / session VWAP); session VWAP from bar VWAP, or typical price if absent"),
    ("vwap_dist_session_atr", (), "(close - session VWAP) / ATR14"),
    ("vwap_dist_60", (), "ln(close / rolling 60-bar VWAP)"),
    ("vwap_session_slope_15", (), "ln(session VWAP / its value 15 bars earlier in the same session)"),
])
def _vwap(x: _Ctx):
    out = {}
    if "vwap" in x.cols:
        out["vwap_dist_bar"] = x.logc - _log(x.cols["vwap"])
    sv = x.session_vwap()
    out["vwap_dist_session"] = x.logc - _log(sv)
    out["vwap_dist_session_atr"] = _div(x.c - sv, x.atr(14)[0])
    typical = (x.h + x.l + x.c) / 3.0
    price = x.cols.get("vwap", typical)
    price = np.where(np.isfinite(price), price, typical)
    rv = _div(x.rsum(price * x.v, 60), x.rsum(x.v, 60))
    out["vwap_dist_60"] = x.logc - _log(rv)
    out["vwap_session_slope_15"] = _log(sv) - _log(x.slag(sv, 15))
    return out


@_group("trades", [
    ("trades_log", ("trades",), "ln(1 + number of trades)"),
    ("trades_z_60", ("trades",), "z-score of trades over 60 bars"),
    ("trade_size", ("trades",), "average trade size: volume / trades"),
    ("trade_size_z_60", ("trades",), "z-score of average trade size over 60 bars"),
    ("trade_intensity_60", ("trades",), "trades / mean trades over 60 bars"),
])
def _trades(x: _Ctx):
    t = x.cols["trades"]
    size = _div(x.v, t)
    return {
        "trades_log": np.log1p(t),
        "trades_z_60": x.zscore(t, 60),
        "trade_size": size,
        "trade_size_z_60": x.zscore(size, 60),
        "trade_intensity_60": _div(t, x.rsum(t, 60) / 60.0),
    }


@_group("microstructure", [
    ("roll_spread_60", (), "Roll (1984) effective spread over 60 bars: 2 sqrt(max(-cov(dp_t, dp_t-1), 0)) / close"),
    ("amihud_30", (), "Amihud illiquidity over 30 bars: sum |ret| / sum(close * volume), x 1e6 "
                      "(close as traded, not back-adjusted)"),
    ("amihud_120", (), "Amihud illiquidity over 120 bars, x 1e6"),
    ("kyle_lambda_60", (), "Kyle lambda proxy over 60 bars: cov(ret, signed volume) / var(signed volume); "
                           "signed by buy - sell when present, else by sign(ret)"),
])
def _micro(x: _Ctx):
    dp = x.diff(x.c, 1)
    cov = x.rcov(dp, x.shift(dp, 1), 60, 1)
    out = {"roll_spread_60": 2.0 * np.sqrt(np.maximum(-cov, 0.0)) / x.c}
    out["roll_spread_60"][np.isnan(cov)] = np.nan
    dollar = x.raw_c * x.v  # traded prices: adjusted levels would depend on later rolls
    for w in (30, 120):
        out[f"amihud_{w}"] = 1e6 * _div(x.rsum(np.abs(x.r1), w), x.rsum(dollar, w))
    if "buy_volume" in x.cols and "sell_volume" in x.cols:
        sv = x.cols["buy_volume"] - x.cols["sell_volume"]
    else:
        sv = np.sign(x.r1) * x.v
    out["kyle_lambda_60"] = _div(x.rcov(x.r1, sv, 60, 1), x.rvar(sv, 60, 1))
    return out


@_group("time", [
    ("minutes_since_open", (), "minutes from the session open to the bar's open time"),
    ("minutes_to_close", (), "minutes from the bar's open time to the session close"),
    ("session_progress", (), "minutes_since_open / the session's scheduled length"),
    ("tod_sin", (), "sin(2 pi * local minute of day / 1440)"),
    ("tod_cos", (), "cos(2 pi * local minute of day / 1440)"),
    ("day_of_week", (), "local day of week, Monday = 0"),
])
def _time(x: _Ctx):
    mod, dow = x.local_time()
    ang = 2.0 * np.pi * mod / 1440.0
    return {
        "minutes_since_open": x.info.minutes_since_open.astype(np.float64),
        "minutes_to_close": x.info.minutes_to_close.astype(np.float64),
        "session_progress": x.info.minutes_since_open / x.info.session_minutes,
        "tod_sin": np.sin(ang),
        "tod_cos": np.cos(ang),
        "day_of_week": dow,
    }


@_group("stats", [
    ("skew_60", (), "skewness of 1-bar log returns over 60 bars"),
    ("skew_240", (), "skewness of 1-bar log returns over 240 bars"),
    ("kurt_60", (), "excess kurtosis of 1-bar log returns over 60 bars"),
    ("kurt_240", (), "excess kurtosis of 1-bar log returns over 240 bars"),
    ("autocorr_1_60", (), "lag-1 autocorrelation of 1-bar returns over 60 bars"),
    ("autocorr_1_240", (), "lag-1 autocorrelation of 1-bar returns over 240 bars"),
    ("var_ratio_5_240", (), "variance ratio var(5-bar returns) / (5 var(1-bar returns)) over 240 bars"),
    ("hurst_240", (), "Hurst exponent over 240 bars from the scaling of var(k-bar returns), k = 1, 2, 4, 8"),
])
def _stats(x: _Ctx):
    out = {}
    for w in (60, 240):
        out[f"skew_{w}"] = x.rmoment(x.r1, w, 3)
        out[f"kurt_{w}"] = x.rmoment(x.r1, w, 4)
        lag = x.shift(x.r1, 1)
        cov = x.rcov(x.r1, lag, w, 1)
        out[f"autocorr_1_{w}"] = _div(cov, np.sqrt(x.rvar(x.r1, w, 1) * x.rvar(lag, w, 1)))
    var1 = x.rvar(x.r1, 240, 1)
    out["var_ratio_5_240"] = _div(x.rvar(x.diff(x.logc, 5), 240, 1), 5.0 * var1)
    ks = np.array([1.0, 2.0, 4.0, 8.0])
    logk = np.log(ks)
    lv = np.vstack([_log(x.rvar(x.diff(x.logc, int(k)), 240, 1)) for k in ks])
    lk = logk - logk.mean()
    slope = (lk[:, None] * (lv - lv.mean(axis=0))).sum(axis=0) / (lk * lk).sum()
    out["hurst_240"] = slope / 2.0
    return out


@_group("levels", [
    ("dist_session_high", (), "ln(close / session high so far)"),
    ("dist_session_low", (), "ln(close / session low so far)"),
    ("session_range_pos", (), "(close - session low) / (session high - session low), 0.5 on a flat session"),
    ("dist_prev_high", (), "ln(close / previous session's high)"),
    ("dist_prev_low", (), "ln(close / previous session's low)"),
    ("dist_prev_close", (), "ln(close / previous session's last close)"),
    ("prev_range", (), "ln(previous session high / low)"),
    ("dist_or_high_30", (), "ln(close / high of the session's first 30 minutes), from the bar completing it"),
    ("dist_or_low_30", (), "ln(close / low of the session's first 30 minutes)"),
])
def _levels(x: _Ctx):
    sh = x.scummax(x.h)
    sl = x.scummin(x.l)
    ph, pl, pc = x.prev_session()
    oh, ol = x.opening_range(30.0)
    return {
        "dist_session_high": x.logc - np.log(sh),
        "dist_session_low": x.logc - np.log(sl),
        "session_range_pos": np.where(sh > sl, _div(x.c - sl, sh - sl), 0.5),
        "dist_prev_high": x.logc - _log(ph),
        "dist_prev_low": x.logc - _log(pl),
        "dist_prev_close": x.logc - _log(pc),
        "prev_range": _log(ph) - _log(pl),
        "dist_or_high_30": x.logc - _log(oh),
        "dist_or_low_30": x.logc - _log(ol),
    }


#: Group name -> feature names, in output order.
FEATURE_GROUPS: dict[str, list[str]] = {g: [s.name for s in specs] for g, (_, specs) in _GROUPS.items()}


def feature_catalog() -> pd.DataFrame:
    """Every feature with its group, required optional columns and description."""
    rows = [(s.name, s.group, ", ".join(s.requires), s.description)
            for _, specs in _GROUPS.values() for s in specs]
    return pd.DataFrame(rows, columns=["name", "group", "requires", "description"]).set_index("name")


def _check_bars(bars) -> None:
    check_bar_frame(bars, sorted_unique=False)
    idx = bars.index
    if not (idx.is_monotonic_increasing and idx.is_unique) and "symbol" in bars.columns:
        n_symbols = bars["symbol"].nunique()
        if n_symbols > 1:
            raise BarDataError(
                f"`bars` hold {n_symbols} symbols at the same times; build features per "
                "symbol (load_bars(..., symbol=...)) or make one series with ml.data.continuous_contract.")
    check_bar_index(idx, name="bars.index")


def _check_groups(groups) -> list:
    """The feature groups asked for (default all), each checked by name."""
    if groups is None:
        groups = list(_GROUPS)
    elif isinstance(groups, str):
        groups = [groups]
    for g in groups:
        if g not in _GROUPS:
            raise ParameterError(f"unknown feature group {g!r} in `groups`; groups: {', '.join(_GROUPS)}."
                                 f"{did_you_mean(g, _GROUPS)}")
    return list(groups)


def build_features(bars: pd.DataFrame, groups=None, *, calendar=None, bar_minutes=None) -> pd.DataFrame:
    """Compute the causal feature set for one instrument's bars.

    Parameters
    ----------
    bars : DataFrame
        Bars of one instrument (or one continuous contract), as returned by
        :func:`ml.data.load_bars`: tz-aware increasing index, columns
        ``open, high, low, close, volume`` and any of ``trades, buy_volume,
        sell_volume, vwap``.
    groups : list of str, optional
        Feature groups to compute (default: all of :data:`FEATURE_GROUPS`).
    calendar : str or SessionCalendar, optional
        Session calendar; default the one recorded by ``load_bars`` or
        inferred from the symbol.
    bar_minutes : float, optional
        Bar length in minutes (1 for 1-minute bars); default from
        :func:`bar_minutes_of`.  Used to place bars in intraday slots.

    Returns
    -------
    DataFrame of shape (n_bars, n_features)
        float64 columns, same index as ``bars``.  Warm-up rows of rolling
        windows are NaN (never back-filled).  Features whose optional input
        columns are missing are skipped with a
        :class:`~ml.exceptions.MissingOptionalColumnsWarning` naming them; the
        frame's ``attrs["skipped_features"]`` lists them too.

    Notes
    -----
    Causality: the value at row ``t`` depends only on rows ``<= t``.  This is
    proven by ``tests/ml/features/test_causality.py`` (perturb every row after
    a random ``T``; rows ``<= T`` stay bit-identical) and can be checked for
    any user feature function with :func:`ml.features.check_causality`.
    ``feature_catalog()`` documents every feature.
    """
    _check_bars(bars)
    groups = _check_groups(groups)
    if "symbol" in bars.columns and "contract" not in bars.columns and bars["symbol"].nunique() > 1:
        warnings.warn(
            f"`bars` hold {bars['symbol'].nunique()} contracts in sequence "
            f"({', '.join(map(str, pd.unique(bars['symbol'])[:5]))}); returns across a roll include the price "
            "jump between contracts. Use ml.data.continuous_contract(bars) first.",
            DataQualityWarning, stacklevel=2)
    if (getattr(bars, "attrs", {}) or {}).get("continuous", {}).get("adjust") == "difference":
        warnings.warn(
            "`bars` are difference-adjusted: log returns and ratios of additively shifted prices change "
            "whenever a later roll is added, so features before a roll depend on it; use "
            "continuous_contract(..., adjust='ratio') for features.", DataQualityWarning, stacklevel=2)
    cal = bars_calendar(bars, calendar)
    if bar_minutes is None:
        bar_minutes = bar_minutes_of(bars)
    elif not (isinstance(bar_minutes, (int, float)) and bar_minutes > 0):
        raise ParameterError(f"`bar_minutes` must be a number > 0, got {bar_minutes!r}.")
    out, skipped = _compute(bars, groups, cal, float(bar_minutes), None)
    if skipped:
        need = sorted({r for _, specs in _GROUPS.values() for s in specs if s.name in skipped for r in s.requires})
        warnings.warn(
            f"skipped {len(skipped)} feature(s) needing missing column(s) {', '.join(need)}: "
            f"{', '.join(skipped)}.", MissingOptionalColumnsWarning, stacklevel=2)
    return out


_OPTIONAL = ("trades", "buy_volume", "sell_volume", "vwap")


@dataclass(frozen=True)
class _BarInfo:
    """The session facts the groups read (a :class:`~ml.data.SessionInfo` subset), for the live path."""

    start: np.ndarray
    minutes_since_open: np.ndarray
    minutes_to_close: np.ndarray
    session_minutes: np.ndarray


def _arrays(bars: pd.DataFrame) -> dict:
    """The columns the groups read, as float64 arrays (and the close as traded)."""
    out = {k: bars[k].to_numpy(np.float64) for k in ("open", "high", "low", "close", "volume")}
    out.update({k: bars[k].to_numpy(np.float64) for k in _OPTIONAL if k in bars.columns})
    out["raw_close"] = _raw_close(bars)
    return out


def _compute(bars, groups, cal, bar_minutes: float, store: dict | None):
    """The features of ``groups`` on ``bars`` (checked), and the names skipped for want of a column;
    ``store``: the operations' state to resume from (None: from scratch)."""
    block, names, skipped = _compute_arrays(_arrays(bars), bars.index, groups, cal, bar_minutes, store,
                                            cal.sessions(bars.index))
    out = pd.DataFrame(block.T, index=bars.index, columns=pd.Index(names), copy=False)
    out.attrs["skipped_features"] = skipped
    out.attrs["calendar"] = cal.name
    return out, skipped


def _compute_arrays(arrays, index, groups, cal, bar_minutes, store, info, local=None):
    """``(block of shape (n_features, n_bars), names, skipped names)`` from the bars' arrays."""
    ctx = _Ctx(arrays, index, cal, info, bar_minutes, store, local)
    todo = []
    skipped: list[str] = []
    for g in groups:
        fn, specs = _GROUPS[g]
        ok = [all(r in ctx.cols for r in s.requires) for s in specs]
        avail = [s for s, good in zip(specs, ok) if good]
        skipped += [s.name for s, good in zip(specs, ok) if not good]
        if avail:
            todo.append((fn, avail))
    names = [s.name for _, avail in todo for s in avail]
    # One (n_features, n_bars) block, handed to pandas without a copy.
    block = np.empty((len(names), ctx.n), dtype=np.float64)
    k = 0
    with np.errstate(all="ignore"):
        for fn, avail in todo:
            res = fn(ctx)
            if ctx.n == 1:   # one bar (the live path): plain assignments, non-finite made NaN below
                for s in avail:
                    block[k, 0] = res[s.name][0]
                    k += 1
            else:
                for s in avail:
                    nb.copy_finite_nb(np.asarray(res[s.name], dtype=np.float64), block[k])
                    k += 1
    if ctx.n == 1:
        block[~np.isfinite(block)] = np.nan
    return block, names, skipped


class StreamingFeatures:
    """:func:`build_features`, one new bar (or chunk of bars) at a time, from the state of the last one.

    Every operation that reads earlier bars (windows, averages, session scans,
    shifts) keeps its state between updates instead of reading the history
    again, so an update costs the same whatever the history's length.  The
    features of each bar equal those of :func:`build_features` on all the bars
    up to it (the same kernels run: :class:`_Ctx`); the tests hold every feature
    of the bundled samples to that, bar by bar.

    Parameters
    ----------
    groups : list of str, optional
        Feature groups (default: all of :data:`FEATURE_GROUPS`).
    calendar : str or SessionCalendar
        The session calendar (it gives the sessions and the time features).
    bar_minutes : float
        Bar length in minutes.

    Examples
    --------
    >>> sf = StreamingFeatures(["momentum"], calendar="B3", bar_minutes=1)   # doctest: +SKIP
    >>> sf.update(history)          # warm-up: the features of the history   # doctest: +SKIP
    >>> row = sf.update(new_bar)    # one row: the new bar's features        # doctest: +SKIP

    Notes
    -----
    Per update, every operation is O(1) in the history but two: the same-slot
    mean of ``volume_rel_tod`` averages the last 20 sessions at that slot (20
    values), and a window's exact re-summation every ``w`` bars (which keeps
    rounding from drifting, as the batch kernels do) costs ``w`` additions once
    per ``w`` bars.  The session facts (calendar) are computed per update.
    """

    def __init__(self, groups=None, *, calendar, bar_minutes: float):
        from ml.data import get_calendar

        groups = _check_groups(groups)
        if not (isinstance(bar_minutes, (int, float)) and bar_minutes > 0):
            raise ParameterError(f"`bar_minutes` must be a number > 0, got {bar_minutes!r}.")
        self.groups = list(groups)
        self.calendar = calendar if isinstance(calendar, SessionCalendar) else get_calendar(calendar)
        self.bar_minutes = float(bar_minutes)
        self._store: dict = {}
        self._columns = None     # the optional columns of the first update: every later one needs them
        self._grid: dict = {}
        self.names: list = []
        self.last_time = None
        self.n_bars = 0

    def _check_next(self, t) -> None:
        if self.last_time is not None and not t > self.last_time:
            raise BarDataError(f"bar {t} does not follow the last bar streamed ({self.last_time}): updates take new "
                               "bars in time order, each once.")

    def update(self, bars: pd.DataFrame) -> pd.DataFrame:
        """The features of ``bars``, which must follow the bars of the previous updates."""
        check_bar_frame(bars, sorted_unique=True)
        self._check_next(bars.index[0])
        cols = {c for c in ("trades", "buy_volume", "sell_volume", "vwap") if c in bars.columns}
        if self._columns is None:
            self._columns = cols
        elif cols != self._columns:
            missing = sorted(self._columns - cols)
            raise BarDataError(f"bars at {bars.index[0]} lack {missing} (earlier updates had them, and the features "
                               "built from them need them on every bar)" if missing else
                               f"bars at {bars.index[0]} bring new columns {sorted(cols - self._columns)} that the "
                               "first update lacked; stream the same columns throughout")
        out, _ = _compute(bars, self.groups, self.calendar, self.bar_minutes, self._store)
        self.names = list(out.columns)
        self.last_time = bars.index[-1]
        self.n_bars += len(bars)
        return out

    def update_bar(self, time, values) -> np.ndarray:
        """The features of one new bar, without pandas: the live path.

        ``time``: the bar's open time (tz-aware); ``values``: a mapping with
        ``open, high, low, close, volume`` and the optional columns of the
        first update.  Returns a float64 vector in :attr:`names` order, equal
        to :meth:`update` on a one-row frame of the same bar.  The session facts
        come from a per-day grid of bar times computed once a day.
        """
        t = pd.Timestamp(time)
        if t.tzinfo is None:
            raise BarDataError(f"bar time {t} has no time zone; pass a tz-aware timestamp.")
        self._check_next(t)
        cols = {c for c in _OPTIONAL if c in values}
        if self._columns is None:
            self._columns = cols
        elif not self._columns <= cols:
            raise BarDataError(f"bar at {t} lacks {sorted(self._columns - cols)} (earlier updates had them, and the "
                               "features built from them need them on every bar)")
        start, since, to_close, length, mod, dow = self.session_facts(t)
        arrays = {k: np.array([float(values[k])]) for k in ("open", "high", "low", "close", "volume",
                                                             *sorted(self._columns))}
        info = _BarInfo(np.array([start], np.int64), np.array([since]), np.array([to_close]), np.array([length]))
        block, names, _ = _compute_arrays(arrays, None, self.groups, self.calendar, self.bar_minutes, self._store,
                                          info, local=(np.array([mod]), np.array([dow])))
        self.names = names
        self.last_time = t
        self.n_bars += 1
        return block[:, 0]

    def session_facts(self, time) -> tuple:
        """``(session open in UTC ns, minutes since open, minutes to close, session minutes, local minute of
        day, weekday)`` of a bar time, from a grid of a day of bar times (computed once a day)."""
        t = pd.Timestamp(time)
        got = self._grid.get(t.value)
        if got is None:
            idx = pd.date_range(t, periods=int(1440 / self.bar_minutes) + 1,
                                freq=pd.Timedelta(minutes=self.bar_minutes))
            info = self.calendar.sessions(idx)
            local = idx.tz_convert(self.calendar.tz)
            mod = (local.hour * 60 + local.minute + local.second / 60.0).to_numpy(np.float64)
            self._grid = dict(zip(idx.as_unit("ns").asi8.tolist(), zip(
                np.asarray(info.start, np.int64).tolist(), np.asarray(info.minutes_since_open, float).tolist(),
                np.asarray(info.minutes_to_close, float).tolist(), np.asarray(info.session_minutes, float).tolist(),
                mod.tolist(), local.day_of_week.to_numpy(np.float64).tolist())))
            got = self._grid[t.value]
        return got
