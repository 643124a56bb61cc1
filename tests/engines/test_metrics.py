"""Tests of the single metrics module (``engines.metrics``, ``engines._metrics_nb``).

Every metric is pinned on a tiny hand-computed example, and every metric rule
of PITFALLS.md (11, 12, 14-19) has its own test that fails under the wrong
convention.  Sharpe, Sortino, drawdown, volatility, CAGR and Calmar are
cross-checked against quantstats on session-aggregated (daily) returns of the
real WDO sample.
"""

from __future__ import annotations

import datetime as dt
import doctest
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import engines._metrics_nb as nb
import engines.metrics as metrics_module
from engines.metrics import (
    METRIC_KEYS,
    annualized_return,
    annualized_volatility,
    avg_loss,
    avg_win,
    calmar_ratio,
    daily_returns,
    drawdown_details,
    drawdown_series,
    equity_curve,
    expectancy,
    exposure,
    max_drawdown,
    max_drawdown_amount,
    n_trades,
    periods_per_year,
    profit_factor,
    recovery_factor,
    risk_free_per_period,
    sharpe_ratio,
    sortino_ratio,
    summarize,
    total_return,
    win_rate,
)
from ml.data import SessionCalendar
from ml.exceptions import DataQualityWarning, ParameterError

SP = "America/Sao_Paulo"
# One-minute bars a year on B3 for the WDO sample (2021-11 to 2022-01), from the exchange's
# calendar, counted by hand: 2021 has 247 sessions, 163 in US daylight saving time (09:00-18:00,
# 540 bars) and 84 at 09:00-18:30 (570), Ash Wednesday opening at 13:00 (240 fewer); 2022 has 250
# sessions, 164 and 86, Ash Wednesday on 2022-03-02.  The mean of the two years is used.
B3_2021 = 163 * 540 + 84 * 570 - 240
B3_2022 = 164 * 540 + 86 * 570 - 240
B3_1MIN = (B3_2021 + B3_2022) / 2  # 136,500
# the reference years 2022-2025: 2023 has 248 sessions (163 in US DST); from 2024-03-11 the
# dollar futures trade 09:00-18:30 all year: 2024 has 251 sessions, 2025 has 250, all of 570 minutes
# but Ash Wednesday (from 13:00)
B3_REF = (B3_2022 + 163 * 540 + 85 * 570 - 240 + 251 * 570 - 240 + 250 * 570 - 240) / 4
VBT_1MIN = 365 * 1440  # vectorbt's default year (365 days of 24 h) in 1-minute bars
QS_DEFAULT = 252  # quantstats' default `periods`


@pytest.fixture(scope="module")
def qs():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip("quantstats.stats")


@pytest.fixture(scope="module")
def wdo_bar_returns(wdo_bars):
    """Close-to-close 1-minute returns of the real WDO sample, within each contract
    (the first bar of each contract has no return: a roll is not a return)."""
    close = wdo_bars["close"]
    r = close.groupby(wdo_bars["symbol"], sort=False).pct_change().dropna()
    return r.rename("wdo")


@pytest.fixture(scope="module")
def wdo_daily(wdo_bar_returns):
    return daily_returns(wdo_bar_returns, "B3")


# =========================================================================== periods_per_year


def test_periods_per_year_from_the_session_calendar(wdo_bars, fil_bars):
    assert periods_per_year(wdo_bars) == B3_1MIN == 136_500.0
    assert periods_per_year(fil_bars) == VBT_1MIN == 525_600.0
    assert periods_per_year(calendar="B3", bar_minutes=5) == B3_REF / 5  # no bars: reference years
    assert periods_per_year(wdo_bars.index, calendar="B3") == B3_1MIN  # spacing inferred
    assert periods_per_year(wdo_bars["close"], calendar="B3") == B3_1MIN
    assert periods_per_year(wdo_bars, bar_minutes=15) == B3_1MIN / 15
    # Session (daily) returns: one period per session (the calendar's count).
    assert periods_per_year(wdo_bars, bar_minutes=1440) == (247 + 250) / 2
    assert periods_per_year(calendar="B3", bar_minutes=1440) == (250 + 248 + 251 + 250) / 4
    assert periods_per_year(calendar="24/7", bar_minutes=1440) == 365.0
    assert periods_per_year(calendar="B3", bar_minutes=570) == 249.75


def test_periods_per_year_rejects_bad_input(wdo_bars):
    with pytest.raises(ParameterError, match="`calendar` is required"):
        periods_per_year(wdo_bars.index)
    with pytest.raises(ParameterError, match="`bar_minutes`.*> 0"):
        periods_per_year(calendar="B3", bar_minutes=-1)
    with pytest.raises(ParameterError, match="`bar_minutes`.*> 0"):
        periods_per_year(calendar="B3", bar_minutes=0)
    with pytest.raises(ParameterError, match="`bar_minutes` must be at most one day"):
        periods_per_year(calendar="B3", bar_minutes=7 * 1440)
    with pytest.raises(ParameterError, match="`bar_minutes` is required"):
        periods_per_year(calendar="B3")
    with pytest.raises(ParameterError, match="`bar_minutes` cannot be inferred"):
        periods_per_year(wdo_bars.index[:1], calendar="B3")
    with pytest.raises(TypeError, match="`index_or_bars`"):
        periods_per_year([1, 2, 3], calendar="B3")
    with pytest.raises(TypeError, match="`bar_minutes`"):
        periods_per_year(calendar="B3", bar_minutes="1min")
    with pytest.raises(ParameterError, match="unknown calendar"):
        periods_per_year(calendar="B4", bar_minutes=1)


# =========================================================================== PITFALL 14


def test_pitfall14_intraday_annualisation_vs_vectorbt_and_quantstats_defaults(wdo_bar_returns):
    """1-minute B3 bars are annualised with sqrt(bars in a year of the calendar,
    136,500 for the sample's years).  vectorbt's 365-day year overstates that
    Sharpe about 2x (1.96x); quantstats' periods=252 on bar returns understates
    it about 23x (sqrt(136,500 / 252) = 23.27x)."""
    r = wdo_bar_returns
    ours = sharpe_ratio(r, B3_1MIN)
    per_period = r.mean() / r.std(ddof=1)
    assert ours == pytest.approx(per_period * math.sqrt(136_500), rel=1e-12)
    vbt_like = sharpe_ratio(r, VBT_1MIN)
    qs_like = sharpe_ratio(r, QS_DEFAULT)
    assert vbt_like / ours == pytest.approx(math.sqrt(525_600 / 136_500), rel=1e-12)
    assert vbt_like / ours == pytest.approx(1.962, abs=1e-3)
    assert ours / qs_like == pytest.approx(math.sqrt(136_500 / 252), rel=1e-12)
    assert ours / qs_like == pytest.approx(23.274, abs=1e-3)
    # The right bar-level annualisation agrees with the session-level one (252
    # sessions) to within sampling noise; the wrong ones are off by 2x and 23x.
    daily = sharpe_ratio(daily_returns(r, "B3"), 252)
    assert abs(ours - daily) < 0.1 < abs(vbt_like - daily)
    assert abs(qs_like) < abs(daily) / 20


# =========================================================================== return metrics, by hand


def test_sharpe_hand_computed():
    r = [0.01, -0.02, 0.03]
    mean = 0.02 / 3
    std = math.sqrt(((1 / 300) ** 2 + (8 / 300) ** 2 + (7 / 300) ** 2) / 2)  # ddof = 1
    assert sharpe_ratio(r, 252) == pytest.approx(mean / std * math.sqrt(252), rel=1e-12)
    assert sharpe_ratio(r, 252) == pytest.approx(4.205259864302774, rel=1e-12)
    assert sharpe_ratio(pd.Series(r), 4) == pytest.approx(mean / std * 2, rel=1e-12)


def test_sharpe_undefined_cases_are_nan():
    assert math.isnan(sharpe_ratio([0.01], 252))  # one period: no std
    assert math.isnan(sharpe_ratio([0.001] * 50, 252))  # constant: zero variance, not 1e15


def test_pitfall15_risk_free_converted_geometrically_and_lowers_sharpe():
    r = [0.01, -0.02, 0.03]
    rf_p = risk_free_per_period(0.05, 252)
    assert rf_p == pytest.approx(1.05 ** (1 / 252) - 1, rel=1e-12)
    assert (1 + rf_p) ** 252 == pytest.approx(1.05, rel=1e-12)  # compounds back to 5 %
    assert rf_p != pytest.approx(0.05 / 252, rel=1e-3)  # not the linear rf / N
    mean = 0.02 / 3 - rf_p
    std = math.sqrt(((1 / 300) ** 2 + (8 / 300) ** 2 + (7 / 300) ** 2) / 2)  # unchanged by a shift
    with_rf = sharpe_ratio(r, 252, risk_free=0.05)
    assert with_rf == pytest.approx(mean / std * math.sqrt(252), rel=1e-12)
    assert with_rf < sharpe_ratio(r, 252)
    assert sortino_ratio(r, 252, risk_free=0.05) < sortino_ratio(r, 252)
    with pytest.raises(ParameterError, match="`risk_free`"):
        sharpe_ratio(r, 252, risk_free=-1.0)
    with pytest.raises(TypeError, match="`risk_free`"):
        sharpe_ratio(r, 252, risk_free="5%")


def test_sortino_hand_computed():
    r = [0.02, -0.01, 0.03, -0.02]
    # mean = 0.005; downside = sqrt((0.01^2 + 0.02^2) / 4) = sqrt(0.000125)
    assert sortino_ratio(r, 4) == pytest.approx(0.005 / math.sqrt(0.000125) * 2, rel=1e-12)
    assert sortino_ratio(r, 4) == pytest.approx(2 / math.sqrt(5), rel=1e-12)
    # With a per-period target of 1 %: excess [0.01, -0.02, 0.02, -0.03], mean -0.005.
    expected = -0.005 / math.sqrt((0.02**2 + 0.03**2) / 4) * 2
    assert sortino_ratio(r, 4, target=0.01) == pytest.approx(expected, rel=1e-12)
    assert sortino_ratio(r, 4, target=0.01) == pytest.approx(-0.5547001962, rel=1e-9)


def test_pitfall17_sortino_downside_over_all_periods_constant_losses_finite():
    """Constant losses: the downside deviation over all periods is c, the ratio
    -sqrt(N); the wrong 'std of the losses' is 0 and the ratio infinite."""
    r = np.full(10, -0.01)
    assert sortino_ratio(r, 252) == pytest.approx(-math.sqrt(252), rel=1e-12)
    assert math.isfinite(sortino_ratio(r, 252))
    # The wrong denominator (std of the losing periods) is 0 up to rounding,
    # which makes the ratio infinite or absurd (~1e16).
    wrong_den = np.std(r[r < 0], ddof=1)
    assert wrong_den < 1e-15
    assert wrong_den == 0 or abs(r.mean() / wrong_den) > 1e12
    # Mixed case: all-period semideviation differs from the std of the losses.
    mixed = np.array([0.02, -0.01, 0.03, -0.02])
    wrong = mixed.mean() / np.std(mixed[mixed < 0], ddof=1) * 2
    assert sortino_ratio(mixed, 4) == pytest.approx(0.894427191, rel=1e-9)
    assert wrong == pytest.approx(1.414213562, rel=1e-9)


def test_sortino_without_losses_is_inf_and_flat_is_nan():
    assert sortino_ratio([0.01, 0.02], 252) == math.inf
    assert math.isnan(sortino_ratio([0.0, 0.0], 252))


def test_total_and_annualized_return_hand_computed():
    assert total_return([0.10, 0.10]) == pytest.approx(0.21, rel=1e-12)
    assert annualized_return([0.10, 0.10], 4) == pytest.approx(1.21**2 - 1, rel=1e-12)  # 2 of 4
    assert annualized_return([0.10, 0.10], 2) == pytest.approx(0.21, rel=1e-12)  # one year
    assert annualized_return([0.21], 0.5) == pytest.approx(1.21**0.5 - 1, rel=1e-12)
    assert annualized_return([-1.0, 0.5], 252) == -1.0  # wiped out


def test_annualized_volatility_hand_computed():
    assert annualized_volatility([0.01, -0.01], 4) == pytest.approx(math.sqrt(0.0002) * 2, rel=1e-12)
    assert math.isnan(annualized_volatility([0.01], 4))


def test_pitfall12_intraday_returns_compound():
    """+5 % then -5 % is -0.25 %, not 0."""
    assert total_return([0.05, -0.05]) == pytest.approx(-0.0025, abs=1e-15)
    idx = pd.DatetimeIndex(["2025-02-03 10:00", "2025-02-03 10:01"], tz=SP)
    d = daily_returns(pd.Series([0.05, -0.05], idx), "B3")
    assert len(d) == 1
    assert d.iloc[0] == pytest.approx(-0.0025, abs=1e-15)
    assert pd.Series([0.05, -0.05]).sum() == 0.0  # the wrong (summed) answer


# =========================================================================== drawdown


def test_max_drawdown_hand_computed():
    r = [0.10, -0.20, 0.05, 0.30]  # equity 1.1, 0.88, 0.924, 1.2012
    assert max_drawdown(r) == pytest.approx(0.88 / 1.1 - 1, rel=1e-12) == pytest.approx(-0.2)
    assert drawdown_series(r).round(12).tolist() == [0.0, -0.2, -0.16, 0.0]
    assert max_drawdown([0.01, 0.02]) == 0.0
    assert max_drawdown(equity=[100.0, 120.0, 90.0, 130.0]) == pytest.approx(-0.25)
    assert max_drawdown_amount(equity=[100.0, 120.0, 90.0, 130.0]) == -30.0
    assert equity_curve([0.10, -0.10], 100.0).tolist() == pytest.approx([110.0, 99.0])


def test_pitfall16_first_period_loss_counts_in_max_drawdown():
    r = pd.Series([-0.10, 0.05])
    assert max_drawdown(r) == pytest.approx(-0.10, rel=1e-12)
    # Wrong convention: running peak starting at the first period's equity.
    eq = (1 + r).cumprod()
    assert (eq / eq.cummax() - 1).min() == 0.0
    # Equity curves: the initial equity is the first peak when given ...
    assert max_drawdown(equity=[90.0, 94.5], initial_equity=100.0) == pytest.approx(-0.10)
    assert max_drawdown_amount(equity=[90.0, 94.5], initial_equity=100.0) == pytest.approx(-10.0)
    # ... and without it the curve's first value is read as the starting equity.
    assert max_drawdown(equity=[100.0, 90.0, 94.5]) == pytest.approx(-0.10)
    assert max_drawdown(equity=[90.0, 94.5]) == 0.0


def test_drawdown_details_episodes():
    idx = pd.date_range("2025-01-06", periods=5, freq="D")
    r = pd.Series([-0.10, 0.20, -0.05, -0.10, 0.01], idx)
    # equity 0.9, 1.08, 1.026, 0.9234, 0.932634
    d = drawdown_details(r)
    assert list(d.columns) == ["peak", "trough", "recovery", "depth", "amount", "duration",
                               "recovered"]
    assert len(d) == 2
    worst, first = d.iloc[0], d.iloc[1]
    assert worst["peak"] == idx[1] and worst["trough"] == idx[3] and worst["recovery"] is None
    assert worst["depth"] == pytest.approx(0.9234 / 1.08 - 1, rel=1e-12)
    assert worst["amount"] == pytest.approx(0.9234 - 1.08, rel=1e-12)
    assert worst["duration"] == 3 and not worst["recovered"]
    assert first["peak"] is None  # the initial equity
    assert first["trough"] == idx[0] and first["recovery"] == idx[1]
    assert first["depth"] == pytest.approx(-0.10) and first["duration"] == 2 and first["recovered"]
    assert d["depth"].min() == pytest.approx(max_drawdown(r), rel=1e-12)
    assert drawdown_details([0.01, 0.02]).empty


def test_calmar_hand_computed_and_same_window():
    # annualised: (0.9 * 1.2) ** (2 / 2) - 1 = 0.08; max drawdown -10 %
    assert calmar_ratio([-0.10, 0.20], 2) == pytest.approx(0.8, rel=1e-12)
    rng = np.random.default_rng(0)
    r = rng.normal(0.0005, 0.01, 500)
    assert calmar_ratio(r, 252) == pytest.approx(
        annualized_return(r, 252) / abs(max_drawdown(r)), rel=1e-12)
    # Window matters: the drawdown is that of the returns passed, not of a longer history.
    assert calmar_ratio(r[250:], 252) == pytest.approx(
        annualized_return(r[250:], 252) / abs(max_drawdown(r[250:])), rel=1e-12)
    assert calmar_ratio([0.01, 0.02], 252) == math.inf


# =========================================================================== sessions (PITFALL 11, 12)


def test_pitfall11_daily_aggregation_by_local_session_not_utc_day():
    """A 24/7 market whose days are local Sao Paulo days: bars at 20:00 and
    22:00 local (23:00 and 01:00 UTC) belong to the same session, although they
    fall on different UTC calendar days."""
    cal = SessionCalendar("SP24", SP, None, None, weekdays=tuple(range(7)), sessions_per_year=365)
    idx = pd.DatetimeIndex(["2024-03-04 20:00", "2024-03-04 22:00", "2024-03-05 10:00"], tz=SP)
    r = pd.Series([0.01, 0.02, 0.03], idx)
    d = daily_returns(r, cal)
    assert list(d.index) == [pd.Timestamp("2024-03-04"), pd.Timestamp("2024-03-05")]
    assert d.tolist() == pytest.approx([1.01 * 1.02 - 1, 0.03], rel=1e-12)
    assert d.attrs["n_bars"] == [2, 1]
    # The wrong answer, grouping by UTC day, splits the first session.
    by_utc = (1 + r.tz_convert("UTC")).groupby(r.index.tz_convert("UTC").date).prod() - 1
    assert by_utc.tolist() == pytest.approx([0.01, 1.02 * 1.03 - 1], rel=1e-12)
    # Index: tz-naive midnight local trading dates.
    assert d.index.tz is None and d.index.name == "session_date"


def test_daily_aggregation_session_crossing_midnight():
    """A Globex-like session 17:00-16:00 Chicago is named after the day it closes:
    Sunday 17:00 and Monday 09:00 are Monday's session."""
    cal = SessionCalendar("GLOBEX", "America/Chicago", dt.time(17, 0), dt.time(16, 0))
    idx = pd.DatetimeIndex(["2024-03-03 17:00", "2024-03-04 09:00", "2024-03-04 17:00"],
                           tz="America/Chicago").tz_convert("UTC")
    d = daily_returns(pd.Series([0.10, -0.10, 0.05], idx), cal)
    assert list(d.index) == [pd.Timestamp("2024-03-04"), pd.Timestamp("2024-03-05")]
    assert d.tolist() == pytest.approx([1.1 * 0.9 - 1, 0.05], rel=1e-12)


def test_pitfall12_overnight_gap_belongs_to_first_bar_of_next_session():
    """Close-to-close bar returns already put the gap into the next session's
    first bar; session returns are then close-to-close session returns."""
    idx = pd.DatetimeIndex(["2025-02-03 10:00", "2025-02-03 10:01",
                            "2025-02-04 10:00", "2025-02-04 10:01"], tz=SP)
    close = pd.Series([100.0, 101.0, 105.0, 104.0], idx)  # gap up 101 -> 105 overnight
    r = close.pct_change().iloc[1:]
    d = daily_returns(r, "B3")
    assert d.tolist() == pytest.approx([101 / 100 - 1, 104 / 101 - 1], rel=1e-12)


def test_daily_returns_on_real_b3_sessions(wdo_bars, wdo_bar_returns, wdo_daily):
    """48 B3 sessions; each session return is the close-to-close ratio of its contract."""
    assert len(wdo_daily) == 48
    assert sum(wdo_daily.attrs["n_bars"]) == len(wdo_bar_returns)
    assert wdo_daily.attrs["calendar"] == "B3"
    one = wdo_bars[wdo_bars["symbol"] == "WDOZ21"]["close"]
    last = one.groupby(one.index.date).last()
    day = pd.Timestamp(last.index[5])
    assert wdo_daily.loc[day] == pytest.approx(last.iloc[5] / last.iloc[4] - 1, rel=1e-9)
    assert total_return(wdo_daily) == pytest.approx(total_return(wdo_bar_returns), rel=1e-9)


def _bars(days, tz, start="09:00", n=570, freq="1min"):
    parts = [pd.date_range(f"{day} {start}", periods=n, freq=freq, tz=tz) for day in days]
    return parts[0].append(parts[1:])


def test_pitfall11_dst_neither_adds_nor_drops_sessions():
    # Sao Paulo started DST on 2018-11-04 (UTC-3 -> UTC-2): sessions of fixed local hours keep
    # 570 bars (2018-11-02 was a holiday on B3, so a weekday calendar without holidays is used).
    fixed = SessionCalendar("B3_FIXED", SP, dt.time(9, 0), dt.time(18, 30))
    idx = _bars(["2018-11-01", "2018-11-02", "2018-11-05", "2018-11-06"], SP)
    assert {str(t.utcoffset()) for t in idx} == {"-1 day, 21:00:00", "-1 day, 22:00:00"}
    r = pd.Series(0.0001, index=idx.tz_convert("UTC"))
    d = daily_returns(r, fixed)
    assert len(d) == 4 and d.attrs["n_bars"] == [570] * 4
    assert d.iloc[0] == pytest.approx(1.0001**570 - 1, rel=1e-12)
    # New York, 24 h local days: 23-hour and 25-hour days are still one session each.
    ny = SessionCalendar("NY24", "America/New_York", None, None, weekdays=tuple(range(7)),
                         sessions_per_year=365)
    for first, counts in (("2024-03-09", [24, 23, 24]), ("2024-11-02", [24, 25, 24])):
        start = pd.Timestamp(first, tz="America/New_York").tz_convert("UTC")
        hours = pd.date_range(start, periods=sum(counts), freq="h")
        d = daily_returns(pd.Series(0.001, index=hours), ny)
        assert len(d) == 3
        assert d.attrs["n_bars"] == counts
    # Sao Paulo 24 h days across the 2018-11-04 change (local midnight skipped).
    sp24 = SessionCalendar("SP24", SP, None, None, weekdays=tuple(range(7)), sessions_per_year=365)
    start = pd.Timestamp("2018-11-03", tz=SP).tz_convert("UTC")
    hours = pd.date_range(start, periods=24 + 23 + 24, freq="h")
    d = daily_returns(pd.Series(0.001, index=hours), sp24)
    assert len(d) == 3 and d.attrs["n_bars"] == [24, 23, 24]


def test_daily_returns_validation():
    idx = pd.DatetimeIndex(["2025-02-03 10:00", "2025-02-03 10:01"])
    with pytest.raises(ParameterError, match="timezone-aware"):
        daily_returns(pd.Series([0.01, 0.02], idx), "B3")
    with pytest.raises(TypeError, match="`returns` must be a pandas Series"):
        daily_returns([0.01, 0.02], "B3")
    with pytest.raises(TypeError, match="DatetimeIndex"):
        daily_returns(pd.Series([0.01, 0.02]), "B3")
    with pytest.raises(ParameterError, match="`calendar` is required"):
        daily_returns(pd.Series([0.01, 0.02], idx.tz_localize(SP)), None)
    with pytest.raises(ParameterError, match="empty"):
        daily_returns(pd.Series([], index=pd.DatetimeIndex([], tz=SP), dtype=float), "B3")


# =========================================================================== quantstats cross-check


def test_cross_check_with_quantstats_on_session_returns(qs, wdo_daily):
    """Where conventions agree, our numbers equal quantstats' on daily returns."""
    d = wdo_daily
    for rf in (0.0, 0.1075):
        assert sharpe_ratio(d, 252, rf) == pytest.approx(qs.sharpe(d, rf=rf, periods=252), rel=1e-10)
        assert sortino_ratio(d, 252, rf) == pytest.approx(qs.sortino(d, rf=rf, periods=252),
                                                          rel=1e-10)
    assert max_drawdown(d) == pytest.approx(qs.max_drawdown(d), rel=1e-12)
    assert annualized_volatility(d, 252) == pytest.approx(qs.volatility(d, periods=252), rel=1e-12)
    assert annualized_return(d, 252) == pytest.approx(qs.cagr(d, periods=252), rel=1e-10)
    assert calmar_ratio(d, 252) == pytest.approx(qs.calmar(d, periods=252), rel=1e-10)
    assert total_return(d) == pytest.approx(qs.comp(d), rel=1e-12)


def test_quantstats_first_period_loss_agrees(qs):
    d = pd.Series([-0.10, 0.05, 0.02], pd.date_range("2025-01-06", periods=3, freq="B"))
    assert max_drawdown(d) == pytest.approx(qs.max_drawdown(d), rel=1e-12) == pytest.approx(-0.1)


def test_intentional_differences_from_quantstats(qs):
    """Documented differences: Sortino without a losing period is inf here, NaN in
    quantstats; win rate / profit factor here are per trade, there per period."""
    d = pd.Series([0.01, 0.02, 0.005], pd.date_range("2025-01-06", periods=3, freq="B"))
    assert sortino_ratio(d, 252) == math.inf
    assert math.isnan(qs.sortino(d, periods=252))


# =========================================================================== trades (PITFALL 18)


def _trades(pnl):
    entry = pd.date_range("2025-02-03 10:00", periods=len(pnl), freq="10min", tz=SP)
    return pd.DataFrame({"entry_time": entry, "exit_time": entry + pd.Timedelta("5min"),
                         "pnl": pnl})


def test_trade_metrics_hand_computed():
    t = _trades([100.0, -50.0, 30.0, 0.0])
    assert n_trades(t) == 4
    assert win_rate(t) == 0.5  # 2 wins of 4 trades; the break-even is not a win
    assert profit_factor(t) == pytest.approx(130 / 50, rel=1e-12)
    assert expectancy(t) == pytest.approx(80 / 4, rel=1e-12)
    assert avg_win(t) == 65.0
    assert avg_loss(t) == -50.0
    assert expectancy(t) == pytest.approx(
        win_rate(t) * avg_win(t) + 0.25 * avg_loss(t) + 0.25 * 0.0, rel=1e-12)
    assert win_rate(t["pnl"]) == 0.5  # a Series of PnL works too


def test_pitfall18_profit_factor_and_win_rate_per_trade_not_per_period():
    """Trade A: bar PnLs +10, +10, +10, -40 (net -10); trade B: +5.  Per trade:
    1 win of 2, PF 5/10.  Per period it would be 4 wins of 5, PF 35/40."""
    bar_pnl = np.array([10.0, 10.0, 10.0, -40.0, 5.0])
    trades = _trades([bar_pnl[:4].sum(), bar_pnl[4:].sum()])
    assert win_rate(trades) == 0.5
    assert profit_factor(trades) == pytest.approx(0.5, rel=1e-12)
    assert (bar_pnl > 0).mean() == 0.8  # the per-period (wrong here) answer
    assert bar_pnl[bar_pnl > 0].sum() / -bar_pnl[bar_pnl < 0].sum() == 0.875


def test_trade_metrics_are_net_of_costs():
    gross = np.array([3.0, 20.0])
    costs = np.array([5.0, 5.0])  # both legs
    t = _trades(gross - costs)  # pnl is net: the first trade is a loss
    assert win_rate(t) == 0.5
    assert profit_factor(t) == pytest.approx(15 / 2, rel=1e-12)


def test_trade_metrics_edge_cases():
    assert profit_factor(_trades([10.0, 5.0])) == math.inf  # no losses
    empty = _trades([])
    assert n_trades(empty) == 0
    for f in (win_rate, profit_factor, expectancy, avg_win, avg_loss):
        assert math.isnan(f(empty))
    assert math.isnan(profit_factor(_trades([0.0, 0.0])))  # only break-evens
    assert math.isnan(avg_loss(_trades([1.0])))


def test_trade_metrics_validation():
    with pytest.raises(ParameterError, match="'pnl' column.*Did you mean 'PnL'"):
        win_rate(pd.DataFrame({"PnL": [1.0]}))
    with pytest.raises(TypeError, match="`trades`"):
        win_rate([1.0, -1.0])
    bad = _trades([1.0, 2.0])
    bad.loc[1, "exit_time"] = bad.loc[1, "entry_time"] - pd.Timedelta("1min")
    with pytest.raises(ParameterError, match="row 1.*exits before it enters"):
        profit_factor(bad)
    with pytest.raises(ParameterError, match=r"`trades\['pnl'\]` has 1 NaN.*position 1"):
        profit_factor(_trades([1.0, np.nan]))
    with pytest.raises(TypeError, match="numeric"):
        win_rate(pd.DataFrame({"pnl": ["a", "b"]}))


def test_pitfall18_recovery_factor_same_units():
    """R$ 2,000 net profit, R$ 1,000 max drawdown (R$ 101,000 -> 100,000): 2.0.
    Net profit in currency over the fractional drawdown would be ~202,000."""
    eq = [100_000.0, 101_000.0, 100_000.0, 102_000.0]
    assert recovery_factor(equity=eq) == pytest.approx(2.0, rel=1e-12)
    assert 2_000 / abs(max_drawdown(equity=eq)) == pytest.approx(202_000, rel=1e-9)
    # With the initial equity before the first mark, a first-period loss counts.
    assert recovery_factor(equity=[99_000.0, 102_000.0], initial_equity=100_000.0) == 2.0
    # Closed-trade curve (cumulative net PnL from 0): 1000, -1000, 2000 -> 2000 / 2000.
    assert recovery_factor(trades=_trades([1000.0, -2000.0, 3000.0])) == pytest.approx(1.0)
    assert recovery_factor(trades=_trades([-500.0, 1500.0])) == pytest.approx(2.0)
    # Returns: curve 1.1, 0.88, 1.32 in units of the initial equity -> 0.32 / 0.22.
    assert recovery_factor([0.1, -0.2, 0.5]) == pytest.approx(0.32 / 0.22, rel=1e-12)
    assert recovery_factor([0.1, -0.2, 0.5], initial_equity=50_000.0) == pytest.approx(
        0.32 / 0.22, rel=1e-12)
    assert recovery_factor([0.01, 0.02]) == math.inf
    assert math.isnan(recovery_factor(trades=_trades([])))
    with pytest.raises(ParameterError, match="exactly one"):
        recovery_factor([0.1], equity=[1.0, 1.1])


def test_exposure_hand_computed():
    assert exposure([0, 1, 1, -2, 0]) == 0.6
    assert exposure(pd.Series([False, True, True, False])) == 0.5
    assert exposure(np.zeros(3)) == 0.0
    with pytest.raises(ParameterError, match="`positions` has 1 NaN"):
        exposure([0.0, np.nan, 1.0])
    with pytest.raises(ParameterError, match="`positions` is empty"):
        exposure([])


# =========================================================================== NaN (PITFALL 19)


def test_pitfall19_nan_returns_raise_with_timestamp():
    idx = pd.date_range("2025-02-03 10:00", periods=4, freq="1min", tz=SP)
    r = pd.Series([0.01, np.nan, -0.02, 0.03], idx)
    for f in (lambda x: sharpe_ratio(x, 252), lambda x: sortino_ratio(x, 252), total_return,
              max_drawdown, lambda x: calmar_ratio(x, 252), lambda x: annualized_return(x, 252),
              lambda x: annualized_volatility(x, 252), lambda x: daily_returns(x, "B3"),
              lambda x: summarize(x, periods_per_year=252)):
        with pytest.raises(ParameterError, match=r"`returns` has 1 NaN.*position 1.*10:01:00"):
            f(r)
    # Read as 0 it would be a different (wrong) number.
    assert sharpe_ratio(r.fillna(0.0), 252) != pytest.approx(sharpe_ratio(r.dropna(), 252))


def test_pitfall19_nan_drop_is_explicit_and_counted():
    idx = pd.date_range("2025-02-03 10:00", periods=4, freq="1min", tz=SP)
    r = pd.Series([0.01, np.nan, -0.02, np.nan], idx)
    with pytest.warns(DataQualityWarning, match="dropped 2 NaN"):
        s = sharpe_ratio(r, 252, nan="drop")
    assert s == sharpe_ratio(r.dropna(), 252)
    with pytest.warns(DataQualityWarning, match="dropped 2 NaN"):
        d = daily_returns(r, "B3", nan="drop")
    assert d.attrs["nan_dropped"] == 2
    assert d.iloc[0] == pytest.approx(1.01 * 0.98 - 1, rel=1e-12)
    with pytest.raises(ParameterError, match="`nan` must be 'raise' or 'drop'"):
        sharpe_ratio(r, 252, nan="zero")
    with pytest.raises(ParameterError, match="only NaN"), pytest.warns(DataQualityWarning):
        sharpe_ratio([np.nan, np.nan], 252, nan="drop")
    with pytest.raises(ParameterError, match="infinite"):
        sharpe_ratio([0.01, np.inf], 252)


# =========================================================================== validation


@pytest.mark.parametrize("func", [sharpe_ratio, sortino_ratio, annualized_return,
                                  annualized_volatility, calmar_ratio])
def test_return_metric_validation(func):
    with pytest.raises(ParameterError, match="`periods_per_year`.*> 0"):
        func([0.01, 0.02], -252)
    with pytest.raises(ParameterError, match="`periods_per_year`.*> 0"):
        func([0.01, 0.02], 0)
    with pytest.raises(TypeError, match="`periods_per_year` is required"):
        func([0.01, 0.02], None)
    with pytest.raises(TypeError, match="`periods_per_year`"):
        func([0.01, 0.02], True)
    with pytest.raises(ParameterError, match="`returns` is empty"):
        func([], 252)
    with pytest.raises(TypeError, match="`returns` must be one series"):
        func(pd.DataFrame({"a": [0.01], "b": [0.02]}), 252)
    with pytest.raises(TypeError, match="`returns` must be a pandas Series or a 1-D array"):
        func("0.01", 252)
    with pytest.raises(TypeError, match="`returns` must be numeric"):
        func(pd.Series([True, False]), 252)
    with pytest.raises(TypeError, match="`returns` must be 1-D"):
        func(np.zeros((2, 2)), 252)


def test_input_dtypes():
    """Nullable floats are numbers (pd.NA is a NaN and raises); dates, strings and
    booleans are not returns."""
    assert sharpe_ratio(pd.Series([0.01, -0.02, 0.03], dtype="Float64"), 252) == pytest.approx(
        sharpe_ratio([0.01, -0.02, 0.03], 252), rel=1e-15)
    assert total_return(np.array([0.05, -0.05], dtype=object)) == pytest.approx(-0.0025)
    with pytest.raises(ParameterError, match="`returns` has 1 NaN.*position 1"):
        sharpe_ratio(pd.Series([0.01, None, 0.02], dtype="Float64"), 252)
    for bad in (pd.Series(pd.to_datetime(["2020-01-01", "2020-01-02"])), pd.Series(["0.1", "0.2"]),
                np.array([True, 1.0], dtype=object), pd.Series([1 + 1j, 2j])):
        with pytest.raises(TypeError, match="`returns` must be numeric"):
            sharpe_ratio(bad, 252)
    with pytest.raises(ParameterError, match="`positions` has 1 NaN"):
        exposure(pd.Series([True, None, False], dtype="boolean"))
    assert exposure(pd.Series([True, False], dtype="boolean")) == 0.5


def test_drawdown_validation():
    with pytest.raises(ParameterError, match="exactly one of `returns` and `equity`"):
        max_drawdown()
    with pytest.raises(ParameterError, match="positive starting equity"):
        max_drawdown(equity=[0.0, 1.0])
    with pytest.raises(TypeError, match="`initial_equity`"):
        max_drawdown(equity=[1.0, 2.0], initial_equity="100")
    with pytest.raises(ParameterError, match="`equity` is empty"):
        max_drawdown(equity=[])


# =========================================================================== summarize


def test_summarize_common_format_hand_computed():
    r = [0.10, -0.20, 0.05]  # equity 1.1, 0.88, 0.924
    t = _trades([100.0, -50.0, 30.0])
    m = summarize(r, trades=t, positions=[0, 1, 1, 0], periods_per_year=3)
    assert tuple(m) == METRIC_KEYS
    assert m["total_return"] == pytest.approx(0.924 - 1, rel=1e-12)
    assert m["annualized_return"] == pytest.approx(0.924 - 1, rel=1e-12)  # exactly one year
    assert m["max_drawdown"] == pytest.approx(-0.2, rel=1e-12)
    assert m["calmar"] == pytest.approx(-0.076 / 0.2, rel=1e-12)
    assert m["recovery_factor"] == pytest.approx(-0.076 / 0.22, rel=1e-12)
    assert m["sharpe"] == pytest.approx(sharpe_ratio(r, 3), rel=1e-15)
    assert m["sortino"] == pytest.approx(sortino_ratio(r, 3), rel=1e-15)
    assert m["annualized_volatility"] == pytest.approx(np.std(r, ddof=1) * math.sqrt(3), rel=1e-12)
    assert (m["n_trades"], m["win_rate"], m["exposure"]) == (3, pytest.approx(2 / 3), 0.5)
    assert m["profit_factor"] == pytest.approx(2.6) and m["expectancy"] == pytest.approx(80 / 3)
    assert type(m["n_trades"]) is int
    assert all(type(v) is float for k, v in m.items() if k != "n_trades")
    json.loads(json.dumps(m))  # JSON-safe (NaN / Infinity as Python's json writes them)


def test_summarize_from_equity_and_missing_parts_are_nan():
    eq = pd.Series([100_000.0, 101_000.0, 100_000.0, 102_000.0])
    m = summarize(equity=eq, periods_per_year=252)
    assert m["total_return"] == pytest.approx(0.02, rel=1e-12)
    assert m["max_drawdown"] == pytest.approx(-1 / 101, rel=1e-12)
    assert m["recovery_factor"] == pytest.approx(2.0, rel=1e-12)  # currency / currency
    assert math.isnan(m["win_rate"]) and math.isnan(m["exposure"]) and math.isnan(m["n_trades"])
    m0 = summarize(equity=[99_000.0, 102_000.0], initial_equity=100_000.0, periods_per_year=252)
    assert m0["max_drawdown"] == pytest.approx(-0.01, rel=1e-12)  # first period counts
    only_trades = summarize(trades=_trades([1.0, -1.0]), periods_per_year=None)
    assert only_trades["n_trades"] == 2 and math.isnan(only_trades["sharpe"])
    with pytest.raises(TypeError, match="`periods_per_year` is required"):
        summarize([0.01, 0.02], periods_per_year=None)


def test_summarize_nan_drop_warns_once():
    r = [0.01, np.nan, 0.02]
    with pytest.warns(DataQualityWarning) as rec:
        summarize(r, periods_per_year=252, nan="drop")
    assert len([w for w in rec if issubclass(w.category, DataQualityWarning)]) == 1


def test_summarize_on_real_bars_matches_single_functions(wdo_bars, wdo_bar_returns):
    ppy = periods_per_year(wdo_bars)
    m = summarize(wdo_bar_returns, periods_per_year=ppy, risk_free=0.1075)
    assert m["sharpe"] == sharpe_ratio(wdo_bar_returns, ppy, 0.1075)
    assert m["sortino"] == sortino_ratio(wdo_bar_returns, ppy, 0.1075)
    assert m["max_drawdown"] == max_drawdown(wdo_bar_returns)
    assert m["calmar"] == calmar_ratio(wdo_bar_returns, ppy)


# =========================================================================== kernels vs plain formulas


def _py(kernel):
    """The kernel's plain-Python twin (itself when NUMBA_DISABLE_JIT=1)."""
    return getattr(kernel, "py_func", kernel)


def _plain(r, ppy, rf):
    """Textbook numpy formulas, written independently of the kernels."""
    n = len(r)
    ex = r - rf
    eq = np.concatenate(([1.0], np.cumprod(1 + r)))
    dd = eq / np.maximum.accumulate(eq) - 1
    down = np.sqrt(np.mean(np.minimum(ex, 0) ** 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = ex.mean() / np.std(ex, ddof=1) * np.sqrt(ppy)
    return {
        "total": np.prod(1 + r) - 1,
        "vol": np.std(r, ddof=1) * np.sqrt(ppy) if n > 1 else np.nan,
        "sharpe": sharpe,
        "sortino": ex.mean() / down * np.sqrt(ppy) if down > 0 else None,
        "mdd": dd.min(),
    }


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(2, 40), elements=st.floats(-0.5, 0.5, width=64)),
       st.floats(1, 200_000), st.floats(0, 0.2))
def test_kernels_match_plain_formulas_and_python_twins(r, ppy, rf_annual):
    rf = (1 + rf_annual) ** (1 / ppy) - 1
    p = _plain(r, ppy, rf)
    k = nb.return_metrics_nb(r, ppy, rf)
    twin = _py(nb.return_metrics_nb)(r, ppy, rf)
    np.testing.assert_allclose(k, twin, rtol=1e-12, atol=1e-14, equal_nan=True)
    assert k[nb.RM_TOTAL] == pytest.approx(p["total"], rel=1e-9, abs=1e-12)
    assert k[nb.RM_MAX_DD] == pytest.approx(p["mdd"], rel=1e-9, abs=1e-12)
    if np.ptp(r) > 1e-9:
        assert k[nb.RM_ANN_VOL] == pytest.approx(p["vol"], rel=1e-9)
        assert k[nb.RM_SHARPE] == pytest.approx(p["sharpe"], rel=1e-8, abs=1e-9)
    if p["sortino"] is not None:
        assert k[nb.RM_SORTINO] == pytest.approx(p["sortino"], rel=1e-8, abs=1e-9)
    for kern, args in ((nb.drawdown_nb, (r,)), (nb.max_drawdown_amount_nb, (1 + r, 1.0)),
                       (nb.calmar_ratio_nb, (r, ppy))):
        np.testing.assert_allclose(kern(*args), _py(kern)(*args), rtol=1e-12, equal_nan=True)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, st.integers(1, 30), elements=st.floats(-0.3, 0.3, width=64)))
def test_drawdown_invariants(r):
    mdd = max_drawdown(r)
    assert -1.0 <= mdd <= 0.0
    assert mdd == pytest.approx(drawdown_series(r).min(), abs=1e-12)
    if r[0] < 0:  # a first-period loss is always a drawdown
        assert mdd <= r[0] + 1e-15
    if mdd == 0.0 or mdd < -1e-9:  # a drawdown of a few ulps is not scale-free (it rounds differently)
        assert recovery_factor(r) == pytest.approx(
            recovery_factor(r, initial_equity=1234.5), rel=1e-9, nan_ok=True)


def test_doctests():
    for module in (metrics_module, nb):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, f"{result.failed} doctest(s) failed in {module.__name__}"
