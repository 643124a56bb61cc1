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
from ml.data._calendar import SessionCalendar, SessionInfo, bars_calendar
from ml.data._frame import bar_minutes_of
from ml.data._frame import check_bar_frame, check_bar_index
from ml.exceptions import BarDataError, DataQualityWarning, MissingOptionalColumnsWarning, ParameterError
from ml.features import _features_nb as nb

__all__ = ["FEATURE_GROUPS", "FeatureSpec", "build_features", "feature_catalog"]

_LN2 = np.log(2.0)


@dataclass(frozen=True)
class FeatureSpec:
    """Documentation of one feature: its name, group, inputs and meaning."""

    name: str
    group: str
    requires: tuple[str, ...]
    description: str


class _Ctx:
    """Arrays shared by the feature groups, computed once per call."""

    def __init__(self, bars: pd.DataFrame, cal: SessionCalendar, info: SessionInfo, bar_minutes: float):
        self.index = bars.index
        self.cal = cal
        self.info = info
        self.session = info.session
        self.o = bars["open"].to_numpy(np.float64)
        self.h = bars["high"].to_numpy(np.float64)
        self.l = bars["low"].to_numpy(np.float64)
        self.c = bars["close"].to_numpy(np.float64)
        self.v = bars["volume"].to_numpy(np.float64)
        self.cols = {k: bars[k].to_numpy(np.float64) for k in
                     ("trades", "buy_volume", "sell_volume", "vwap") if k in bars.columns}
        self.raw_c = _raw_close(bars)
        self.logc = np.log(self.c)
        self.r1 = _diff(self.logc, 1)
        self.bar_minutes = bar_minutes
        self._cache: dict = {}

    def cached(self, key, fn):
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def vol_cc(self, w):
        return self.cached(("vol_cc", w), lambda: np.sqrt(nb.rolling_var_nb(self.r1, w, 1)))

    def atr(self, n):
        def f():
            pc = _shift(self.c, 1)
            tr = np.fmax(self.h, pc) - np.fmin(self.l, pc)  # fmax/fmin: first bar uses h - l
            return nb.ewm_nb(tr, 1.0 / n, n), tr
        return self.cached(("atr", n), f)

    def ema(self, x_key, x, span):
        return self.cached(("ema", x_key, span), lambda: nb.ewm_nb(x, 2.0 / (span + 1.0), span))

    def session_vwap(self):
        def f():
            price = self.cols.get("vwap")
            typical = (self.h + self.l + self.c) / 3.0
            price = typical if price is None else np.where(np.isfinite(price), price, typical)
            pv = nb.session_cumsum_nb(price * self.v, self.session)
            cv = nb.session_cumsum_nb(self.v, self.session)
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


def _shift(x, k):
    out = np.full_like(x, np.nan)
    if k < len(x):
        out[k:] = x[:-k] if k > 0 else x
    return out


def _diff(x, k):
    return x - _shift(x, k)


def _div(a, b):
    with np.errstate(invalid="ignore", divide="ignore"):
        out = a / b
    out[~np.isfinite(out)] = np.nan
    return out


def _zscore(x, w):
    m = nb.rolling_sum_nb(x, w) / w
    s = np.sqrt(nb.rolling_var_nb(x, w, 1))
    return _div(x - m, s)


def _log(x):
    with np.errstate(invalid="ignore", divide="ignore"):
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
    out = {f"ret_{h}": _diff(x.logc, h) for h in _RET_H}
    out["ret_bar"] = x.logc - np.log(x.o)
    v60 = x.vol_cc(60)
    for h in (5, 15, 60):
        out[f"mom_z_{h}"] = _div(out[f"ret_{h}"], v60 * np.sqrt(h))
    for n in (10, 30, 120):
        out[f"ema_dist_{n}"] = x.logc - np.log(x.ema("c", x.c, n))
    macd = _div(x.ema("c", x.c, 12) - x.ema("c", x.c, 26), x.c)
    out["macd"] = macd
    out["macd_hist"] = macd - nb.ewm_nb(macd, 2.0 / 10.0, 9)
    d = _diff(x.c, 1)
    up, dn = np.where(d > 0, d, 0.0), np.where(d < 0, -d, 0.0)
    up[0] = dn[0] = np.nan
    for n in (14, 60):
        g, lo = nb.ewm_nb(up, 1.0 / n, n), nb.ewm_nb(dn, 1.0 / n, n)
        out[f"rsi_{n}"] = np.where(g + lo > 0, 100.0 * _div(g, g + lo), 50.0)
        out[f"rsi_{n}"][np.isnan(g)] = np.nan
    hh, ll = nb.rolling_max_nb(x.h, 14), nb.rolling_min_nb(x.l, 14)
    out["stoch_k_14"] = np.where(hh > ll, _div(x.c - ll, hh - ll), 0.5)
    out["stoch_k_14"][np.isnan(hh)] = np.nan
    absmove = np.abs(x.r1)
    for w in (30, 120):
        out[f"eff_ratio_{w}"] = _div(np.abs(_diff(x.logc, w)), nb.rolling_sum_nb(absmove, w))
    sopen = nb.session_first_nb(x.o, x.session)
    out["ret_session"] = x.logc - np.log(sopen)
    _, _, pc = nb.prev_session_nb(x.h, x.l, x.c, x.session)
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
    oc = np.log(x.o) - _shift(x.logc, 1)  # open vs previous close
    for w in (15, 60):
        out[f"vol_park_{w}"] = np.sqrt(nb.rolling_sum_nb(park, w) / w)
        out[f"vol_gk_{w}"] = np.sqrt(np.maximum(nb.rolling_sum_nb(gk, w) / w, 0.0))
        rs_var = nb.rolling_sum_nb(rs, w) / w
        out[f"vol_rs_{w}"] = np.sqrt(np.maximum(rs_var, 0.0))
        k = 0.34 / (1.34 + (w + 1.0) / (w - 1.0))
        yz = nb.rolling_var_nb(oc, w, 1) + k * nb.rolling_var_nb(co, w, 1) + (1.0 - k) * rs_var
        out[f"vol_yz_{w}"] = np.sqrt(np.maximum(yz, 0.0))
    out["vol_ratio_15_240"] = _div(out["vol_cc_15"], out["vol_cc_240"])
    r_in = nb.session_lag_nb(x.logc, x.session, 1)
    r_in = x.logc - r_in  # NaN on the session's first bar: the gap is not intraday volatility
    r2 = np.where(np.isfinite(r_in), r_in * r_in, 0.0)
    n_in = nb.session_cumsum_nb(np.isfinite(r_in).astype(np.float64), x.session)
    out["vol_session"] = np.sqrt(_div(nb.session_cumsum_nb(r2, x.session), n_in))
    v60 = out["vol_cc_60"]
    out["vol_regime_60_1000"] = _div(v60, nb.rolling_sum_nb(v60, 1000) / 1000.0)
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
        hh, ll = nb.rolling_max_nb(x.h, w), nb.rolling_min_nb(x.l, w)
        pos = np.where(hh > ll, _div(x.c - ll, hh - ll), 0.5)
        pos[np.isnan(hh)] = np.nan
        out[f"range_pos_{w}"] = pos
    sma = nb.rolling_sum_nb(x.c, 20) / 20.0
    sd = np.sqrt(nb.rolling_var_nb(x.c, 20, 0))
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
        out[f"volume_z_{w}"] = _zscore(x.v, w)
    slot = np.floor(x.info.minutes_since_open / x.bar_minutes).astype(np.int64)
    longest = float(np.nanmax(x.info.session_minutes)) if len(x.info.session_minutes) else 0.0
    n_slots = int(np.ceil(longest / x.bar_minutes)) + 1
    slot[(slot >= n_slots) | ~np.isfinite(x.info.minutes_since_open)] = -1
    tod_mean = nb.same_slot_mean_nb(x.v, slot, x.session, n_slots, 20)
    out["volume_rel_tod"] = _div(x.v, tod_mean)
    out["volume_ratio_5_60"] = _div(nb.rolling_sum_nb(x.v, 5) / 5.0, nb.rolling_sum_nb(x.v, 60) / 60.0)
    out["volume_session_log"] = np.log1p(nb.session_cumsum_nb(x.v, x.session))
    sv = np.sign(x.r1) * x.v
    out["signed_volume_30"] = _div(nb.rolling_sum_nb(sv, 30), nb.rolling_sum_nb(x.v, 30))
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
        out[f"of_imbalance_{w}"] = _div(nb.rolling_sum_nb(delta, w), nb.rolling_sum_nb(x.v, w))
    out["of_imbalance_ema_10"] = nb.ewm_nb(out["of_imbalance"], 2.0 / 11.0, 10)
    cd = nb.session_cumsum_nb(delta, x.session)
    out["of_cum_delta_session"] = cd
    out["of_cum_delta_session_norm"] = _div(cd, nb.session_cumsum_nb(x.v, x.session))
    out["of_delta_z_60"] = _zscore(delta, 60)
    cov = nb.rolling_cov_nb(delta, x.r1, 30, 1)
    sd = np.sqrt(nb.rolling_var_nb(delta, 30, 1) * nb.rolling_var_nb(x.r1, 30, 1))
    out["of_delta_ret_corr_30"] = _div(cov, sd)
    out["of_vpin_50"] = _div(nb.rolling_sum_nb(np.abs(delta), 50), nb.rolling_sum_nb(x.v, 50))
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
    rv = _div(nb.rolling_sum_nb(price * x.v, 60), nb.rolling_sum_nb(x.v, 60))
    out["vwap_dist_60"] = x.logc - _log(rv)
    out["vwap_session_slope_15"] = _log(sv) - _log(nb.session_lag_nb(sv, x.session, 15))
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
        "trades_z_60": _zscore(t, 60),
        "trade_size": size,
        "trade_size_z_60": _zscore(size, 60),
        "trade_intensity_60": _div(t, nb.rolling_sum_nb(t, 60) / 60.0),
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
    dp = _diff(x.c, 1)
    cov = nb.rolling_cov_nb(dp, _shift(dp, 1), 60, 1)
    out = {"roll_spread_60": 2.0 * np.sqrt(np.maximum(-cov, 0.0)) / x.c}
    out["roll_spread_60"][np.isnan(cov)] = np.nan
    dollar = x.raw_c * x.v  # traded prices: adjusted levels would depend on later rolls
    for w in (30, 120):
        out[f"amihud_{w}"] = 1e6 * _div(nb.rolling_sum_nb(np.abs(x.r1), w), nb.rolling_sum_nb(dollar, w))
    if "buy_volume" in x.cols and "sell_volume" in x.cols:
        sv = x.cols["buy_volume"] - x.cols["sell_volume"]
    else:
        sv = np.sign(x.r1) * x.v
    out["kyle_lambda_60"] = _div(nb.rolling_cov_nb(x.r1, sv, 60, 1), nb.rolling_var_nb(sv, 60, 1))
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
    local = x.index.tz_convert(x.cal.tz)
    mod = (local.hour * 60 + local.minute + local.second / 60.0).to_numpy(np.float64)
    ang = 2.0 * np.pi * mod / 1440.0
    return {
        "minutes_since_open": x.info.minutes_since_open.astype(np.float64),
        "minutes_to_close": x.info.minutes_to_close.astype(np.float64),
        "session_progress": x.info.minutes_since_open / x.info.session_minutes,
        "tod_sin": np.sin(ang),
        "tod_cos": np.cos(ang),
        "day_of_week": local.day_of_week.to_numpy(np.float64),
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
        out[f"skew_{w}"] = nb.rolling_moment_nb(x.r1, w, 3)
        out[f"kurt_{w}"] = nb.rolling_moment_nb(x.r1, w, 4)
        lag = _shift(x.r1, 1)
        cov = nb.rolling_cov_nb(x.r1, lag, w, 1)
        out[f"autocorr_1_{w}"] = _div(cov, np.sqrt(nb.rolling_var_nb(x.r1, w, 1) * nb.rolling_var_nb(lag, w, 1)))
    var1 = nb.rolling_var_nb(x.r1, 240, 1)
    out["var_ratio_5_240"] = _div(nb.rolling_var_nb(_diff(x.logc, 5), 240, 1), 5.0 * var1)
    ks = np.array([1.0, 2.0, 4.0, 8.0])
    logk = np.log(ks)
    lv = np.vstack([_log(nb.rolling_var_nb(_diff(x.logc, int(k)), 240, 1)) for k in ks])
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
    sh = nb.session_cummax_nb(x.h, x.session)
    sl = nb.session_cummin_nb(x.l, x.session)
    ph, pl, pc = nb.prev_session_nb(x.h, x.l, x.c, x.session)
    oh, ol = nb.opening_range_nb(x.h, x.l, x.session, x.info.minutes_since_open, x.bar_minutes, 30.0)
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
    if groups is None:
        groups = list(_GROUPS)
    elif isinstance(groups, str):
        groups = [groups]
    for g in groups:
        if g not in _GROUPS:
            raise ParameterError(f"unknown feature group {g!r} in `groups`; groups: {', '.join(_GROUPS)}."
                                 f"{did_you_mean(g, _GROUPS)}")
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
    info = cal.sessions(bars.index)
    if bar_minutes is None:
        bar_minutes = bar_minutes_of(bars)
    elif not (isinstance(bar_minutes, (int, float)) and bar_minutes > 0):
        raise ParameterError(f"`bar_minutes` must be a number > 0, got {bar_minutes!r}.")
    ctx = _Ctx(bars, cal, info, float(bar_minutes))
    todo = []
    skipped: list[str] = []
    for g in groups:
        fn, specs = _GROUPS[g]
        avail = [s for s in specs if all(r in ctx.cols for r in s.requires)]
        skipped += [s.name for s in specs if s not in avail]
        if avail:
            todo.append((fn, avail))
    names = [s.name for _, avail in todo for s in avail]
    # One (n_features, n_bars) block, handed to pandas without a copy.
    block = np.empty((len(names), len(bars)), dtype=np.float64)
    k = 0
    with np.errstate(invalid="ignore", divide="ignore"):
        for fn, avail in todo:
            res = fn(ctx)
            for s in avail:
                nb.copy_finite_nb(np.asarray(res[s.name], dtype=np.float64), block[k])
                k += 1
    if skipped:
        need = sorted({r for _, specs in _GROUPS.values() for s in specs if s.name in skipped for r in s.requires})
        warnings.warn(
            f"skipped {len(skipped)} feature(s) needing missing column(s) {', '.join(need)}: "
            f"{', '.join(skipped)}.", MissingOptionalColumnsWarning, stacklevel=2)
    out = pd.DataFrame(block.T, index=bars.index, columns=pd.Index(names), copy=False)
    out.attrs["skipped_features"] = skipped
    out.attrs["calendar"] = cal.name
    return out
