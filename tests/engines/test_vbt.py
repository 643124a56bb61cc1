"""The vectorbt inspection tier reproduces the simulator: same fills, same equity.

On the real WDO sample (first 5,000 bars of the continuous contract) a
ProbabilityThresholdStrategy driven by a deterministic pseudo-probability (a
causal rolling z-score of returns squashed to (0, 1); no model) is simulated
with :func:`engines.simulate.simulate`, rebuilt with
:func:`engines.vbt.to_vectorbt_portfolio`, and both must show the same fills
(times, sizes, prices), the same trades and the same equity (1e-6 relative),
with costs on and off.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("vectorbt")

from engines.simulate import Costs, Sizing, Stops, simulate  # noqa: E402
from engines.vbt import VectorbtRun, to_vectorbt_portfolio  # noqa: E402
from ml.data import continuous_contract  # noqa: E402
from ml.exceptions import ParameterError  # noqa: E402
from risk import DailyLimits  # noqa: E402
from strategies import ProbabilityThresholdStrategy  # noqa: E402
from tests.conftest import as_wdo

SP = "America/Sao_Paulo"


@pytest.fixture(scope="module")
def wdo5000(wdo_bars):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return continuous_contract(wdo_bars).iloc[:5000]


def pseudo_probability(bars, window=30):
    r = np.log(bars["close"]).diff()
    z = r.rolling(window).sum() / (r.rolling(4 * window).std() * math.sqrt(window))
    return 1.0 / (1.0 + np.exp(-z))


def sim_fills(res):
    """The simulator's orders, legs of one (bar, slot) merged as vectorbt holds them."""
    o = res.orders.assign(slot=res.orders["slot"].astype(str))
    g = o.groupby(["bar", "slot"], sort=False).agg(size=("size", "sum"), price=("price", "first"),
                                                   commission=("commission", "sum")).reset_index()
    return g[g["size"] != 0].reset_index(drop=True)


def assert_same_run(res, vrun: VectorbtRun):
    # fills: times, sizes, prices, fees
    mine = sim_fills(res)
    theirs = vrun.fills()
    assert len(mine) == len(theirs) > 0
    np.testing.assert_array_equal(mine["bar"].to_numpy(), theirs["bar"].to_numpy())
    assert mine["slot"].tolist() == theirs["slot"].tolist()
    np.testing.assert_allclose(theirs["size"], mine["size"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(theirs["price"], mine["price"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(theirs["fees"], mine["commission"], rtol=1e-9, atol=1e-9)
    # trades
    vt, st = vrun.trades(), res.trades
    assert len(vt) == len(st)
    np.testing.assert_array_equal(vt["entry_idx"], st["entry_idx"])
    np.testing.assert_array_equal(vt["exit_idx"], st["exit_idx"])
    np.testing.assert_array_equal(vt["side"], st["side"])
    np.testing.assert_allclose(vt["qty"], st["qty"], atol=1e-9)
    np.testing.assert_allclose(vt["net_pnl"], st["net_pnl"], rtol=1e-9, atol=1e-6)
    np.testing.assert_array_equal(vt["closed"], st["closed"])
    # equity at every bar's close, and the final equity within 1e-6 relative
    eq = vrun.equity()
    np.testing.assert_allclose(eq.to_numpy(), res.equity.to_numpy(), rtol=1e-9)
    assert abs(eq.iloc[-1] / res.equity.iloc[-1] - 1) < 1e-6


CONFIGS = {
    "no_costs": dict(),
    "costs": dict(costs=Costs(commission_per_contract=1.5, commission_pct=0.0001, slippage_ticks=1)),
    "stops_limits_fraction": dict(
        costs=Costs(commission_per_contract=1.5, commission_pct=0.0001, slippage_ticks=1),
        stops=Stops(sl_atr=2, tp_atr=3, trail_atr=2.5, max_bars=30),
        limits=DailyLimits(max_daily_loss=1000.0, max_trades_per_day=10),
        sizing=Sizing("fixed_fraction", fraction=0.01)),
    "fill_on_close_stops": dict(fill_on_close=True, costs=Costs(1.5, 0.0001, 1),
                                stops=Stops(sl_atr=2, tp_atr=3, max_bars=30)),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_vectorbt_reproduces_the_simulator_on_wdo(wdo5000, name):
    bars = wdo5000
    strat = ProbabilityThresholdStrategy(0.7, 0.3, min_holding=5,
                                         flat_bars_before_close=0 if "close" in name else 1)
    sides = strat.sides(pseudo_probability(bars), bars)
    res = simulate(bars, sides, **CONFIGS[name])
    assert len(res.trades) >= 20
    vrun = to_vectorbt_portfolio(bars, res)
    assert_same_run(res, vrun)
    if name == "no_costs":
        assert res.trades["costs"].sum() == 0
        assert vrun.cash_buffer == 0.0
        # without a buffer the portfolio value on the close rows is the equity itself
        close_rows = np.flatnonzero(vrun.rows["slot"].to_numpy() == "close")
        np.testing.assert_allclose(np.asarray(vrun.portfolio.value())[close_rows], res.equity, rtol=1e-12)
    if name == "stops_limits_fraction":
        assert {"stop", "take"} <= set(res.trades["exit_reason"].astype(str))
        assert vrun.cash_buffer > 0  # dozens of contracts: more notional than equity


def test_hand_case_with_stop_reversal_session_exit_and_open_end():
    # bar 1 entry long 100 (stop 95), stopped inside bar 2 at 95 -> 94.5 with a tick of slippage;
    # short from bar 4, reversed to long at bar 6, closed by the session backstop on bar 7 (18:29);
    # long again in the next session, open at the end.
    rows = [(100, 101, 99, 100), (100, 101, 99, 100), (99, 100, 94, 96), (96, 97, 95, 96),
            (96, 97, 95, 96), (95, 96, 94, 95), (97, 98, 96, 97), (98, 99, 97, 98)]
    idx = pd.date_range("2025-02-03 18:22", periods=8, freq="1min", tz=SP)
    day2 = pd.date_range("2025-02-04 09:00", periods=3, freq="1min", tz=SP)
    o, h, l, c = (np.array(x, float) for x in zip(*(rows + [(100, 101, 99, 100)] * 3)))
    bars = as_wdo(pd.DataFrame({"open": o, "high": h, "low": l, "close": c}, index=idx.append(day2)))
    sides = [1, 1, 0, -1, -1, 1, 1, 1, 0, 1, 1]  # flat at 09:00 re-arms the long
    res = simulate(bars, sides, calendar="B3", stops=Stops(sl_atr=1), atr=[5.0] * 11,
                   costs=Costs(commission_per_contract=1.5, slippage_ticks=1))
    reasons = res.trades["exit_reason"].astype(str).tolist()
    assert reasons == ["stop", "signal", "session", "end"]
    assert res.trades["exit_price"].iloc[0] == 94.5
    vrun = to_vectorbt_portfolio(bars, res)
    assert_same_run(res, vrun)
    assert vrun.rows["slot"].tolist().count("intrabar") == 1


def test_orders_frame_input_and_errors(wdo5000):
    bars = wdo5000.iloc[:600]
    sides = ProbabilityThresholdStrategy(0.7, 0.3, min_holding=5).sides(pseudo_probability(bars), bars)
    res = simulate(bars, sides, costs=Costs(commission_per_contract=1.5))
    vrun = to_vectorbt_portfolio(bars, res.orders[["bar", "slot", "size", "price"]],
                                 initial_equity=100_000.0, multiplier=10.0, commission_per_contract=1.5)
    np.testing.assert_allclose(vrun.equity(), res.equity, rtol=1e-9)
    with pytest.raises(ParameterError, match="`initial_equity` and `multiplier` are required"):
        to_vectorbt_portfolio(bars, res.orders)
    with pytest.raises(ParameterError, match="missing column"):
        to_vectorbt_portfolio(bars, res.orders.drop(columns="price"), initial_equity=1e5, multiplier=10)
    with pytest.raises(ParameterError, match="pass the bars the run was simulated on"):
        to_vectorbt_portfolio(bars.iloc[:100], res)
    with pytest.raises(TypeError):
        to_vectorbt_portfolio(bars, [1, 2, 3])
