"""The fused sweep kernel (``engines._sweep_nb.sweep_fast_nb``) against the general one and the simulator.

:func:`engines.sweep.sweep` takes the fused one-pass kernel when a grid needs
no stops, no equity-based sizing, no daily limits and no margin.  Its claim:
the same floating-point operations on the equity as the simulator, so every
column that derives from the equity curve is bit for bit the general
kernel's (which ``tests/engines/test_sweep_fast.py`` pins to
``engines.simulate.simulate``), and the standard deviation (one pass instead
of two) agrees to 1e-9.  The cases cover what the kernel special-cases:
flat stretches skipped, a session's last bar (``flat_bars_before_close=0``,
so positions reach the close and re-arming blocks the side), slippage and
both commission kinds, the meta filter, long-only, a risk-free rate, and a
blown account.  Also here: grids that are not Cartesian products (tied
parameters, lists of combinations) and the thread count not changing a
number.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pandas as pd
import pytest

from engines import _sweep_nb as snb
from engines.simulate import Costs, Sizing, Stops, simulate
from engines.sweep import (
    Mirror,
    RESULT_COLUMNS,
    chunked_sweep,
    grid_chunks,
    grid_combinations,
    grid_from_spec,
    session_returns,
    sweep,
)
from ml.exceptions import ParameterError
from risk.limits import DailyLimits
from strategies import ProbabilityThresholdStrategy
from tests.engines.test_sweep import proba, wdo5k  # noqa: F401  (fixtures: 5,000 real WDO bars)

GRID = {"long_threshold": [0.55, 0.7, 0.9], "short_threshold": [0.1, 0.45], "min_holding": [1, 4, 30]}
# the std of the returns is one pass in the fused kernel, two in the general one
ONE_PASS = ("sharpe", "annualized_volatility")

CASES = {
    "defaults": {},
    "costs_and_slippage": dict(costs=Costs(commission_per_contract=1.5, commission_pct=0.0002, slippage_ticks=2)),
    "session_close_rearm": dict(strategy=ProbabilityThresholdStrategy(flat_bars_before_close=0),
                                costs=Costs(slippage_ticks=1)),
    "session_close_no_rearm": dict(strategy=ProbabilityThresholdStrategy(flat_bars_before_close=0),
                                   stops=Stops(rearm=False)),
    "long_only_meta_rf": dict(strategy=ProbabilityThresholdStrategy(allow_short=False, meta_threshold=0.4),
                              meta=True, risk_free=0.1375),
    "three_contracts": dict(sizing=Sizing(contracts=3), costs=Costs(commission_per_contract=0.8)),
    "blown": dict(initial_equity=400.0, sizing=Sizing(contracts=5), costs=Costs(commission_per_contract=5.0)),
}


def _general(**kw):
    """The same sweep through the general kernel: a daily trade cap no run reaches sends it there."""
    return {**kw, "limits": DailyLimits(max_trades_per_day=10 ** 9)}


def _kw(case, wdo5k, proba):
    kw = dict(CASES[case])
    if kw.pop("meta", False):
        kw["meta_proba"] = 1.0 - proba.shift(3)
    return kw


@pytest.mark.parametrize("case", list(CASES))
def test_fused_kernel_equals_general_kernel(wdo5k, proba, case):
    kw = _kw(case, wdo5k, proba)
    fast = sweep(wdo5k, proba, GRID, **kw)
    slow = sweep(wdo5k, proba, GRID, **_general(**kw))
    assert fast.attrs["kernel"] == "fast" and slow.attrs["kernel"] == "general"
    assert fast.index.equals(slow.index)
    for col in RESULT_COLUMNS:
        a = fast[col].to_numpy(dtype=np.float64)
        b = slow[col].to_numpy(dtype=np.float64)
        if col in ONE_PASS or (col == "sortino" and kw.get("risk_free")):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=0, equal_nan=True, err_msg=col)
        else:
            assert np.array_equal(a, b, equal_nan=True), (case, col, np.nanmax(np.abs(a - b)))
    sa = np.asarray(fast.attrs["session_returns"]["values"])
    sb = np.asarray(slow.attrs["session_returns"]["values"])
    assert np.array_equal(sa, sb, equal_nan=True)
    if case == "blown":
        assert fast["account_blown"].any()
    if case.startswith("session_close"):  # positions did reach a session's close
        assert (fast["n_trades"] > 0).all()


def test_fused_rows_equal_simulate(wdo5k, proba):
    """Three combinations of the fused sweep against ``simulate`` on the strategy's sides, column by column."""
    costs = Costs(commission_per_contract=1.5, slippage_ticks=1)
    strat = ProbabilityThresholdStrategy(flat_bars_before_close=0)
    res = sweep(wdo5k, proba, GRID, costs=costs, strategy=strat)
    assert res.attrs["kernel"] == "fast"
    for key in [(0.55, 0.45, 1), (0.7, 0.1, 4), (0.9, 0.45, 30)]:
        params = dict(zip(res.index.names, key))
        sides = ProbabilityThresholdStrategy(**{**strat.get_params(), **params}).sides(proba, wdo5k)
        sim = simulate(wdo5k, sides, costs=costs)
        row = res.loc[key]
        assert row["final_equity"] == pytest.approx(float(sim.equity.iloc[-1]), rel=0, abs=1e-9)
        for k, v in sim.metrics.items():
            if k in RESULT_COLUMNS and isinstance(v, (int, float)) and not isinstance(v, bool):
                got = float(row[k])
                if math.isnan(v):
                    assert math.isnan(got), k
                else:
                    assert got == pytest.approx(v, rel=1e-9, abs=1e-12), k


def test_fused_kernel_does_not_depend_on_the_thread_count(wdo5k, proba):
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = sweep(wdo5k, proba, GRID)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = sweep(wdo5k, proba, GRID)
    finally:
        numba.set_num_threads(before)
    pd.testing.assert_frame_equal(one, many)
    assert one.attrs["session_returns"] == many.attrs["session_returns"]


def test_the_general_kernel_runs_whenever_the_fused_one_cannot(wdo5k, proba):
    assert sweep(wdo5k, proba, {**GRID, "sl_atr": [0.0, 1.0]}).attrs["kernel"] == "general"
    assert sweep(wdo5k, proba, {**GRID, "max_bars": [10]}).attrs["kernel"] == "general"
    assert sweep(wdo5k, proba, GRID, sizing=Sizing("fixed_fraction", fraction=0.01)).attrs["kernel"] == "general"
    assert sweep(wdo5k, proba, GRID, fill_on_close=True).attrs["kernel"] == "general"
    assert sweep(wdo5k, proba, GRID, limits=DailyLimits(max_daily_loss=500.0)).attrs["kernel"] == "general"


# --------------------------------------------------------------------------- grids beyond products


def test_tied_grid_runs_one_combination_per_free_value(wdo5k, proba):
    res = sweep(wdo5k, proba, "long=0.55:0.7:0.05,short=1-long,holding=1,5")
    assert list(res.index) == [(lt, round(1 - lt, 12), h) for lt in (0.55, 0.6, 0.65, 0.7) for h in (1, 5)]
    assert res.attrs["n_trials"] == 8
    # the same rows as the Cartesian sweep's matching combinations
    full = sweep(wdo5k, proba, {"long": [0.55, 0.6, 0.65, 0.7], "short": [0.45, 0.4, 0.35, 0.3],
                                "holding": [1, 5]})
    pd.testing.assert_frame_equal(res, full.loc[res.index], check_like=False)
    assert session_returns(res).shape[1] == 8


def test_list_and_dataframe_grids_run_exactly_their_combinations(wdo5k, proba):
    combos = [{"long": 0.6, "short": 0.3, "holding": 2}, {"long": 0.9, "short": 0.45, "holding": 1}]
    a = sweep(wdo5k, proba, combos)
    b = sweep(wdo5k, proba, pd.DataFrame(combos))
    pd.testing.assert_frame_equal(a, b)
    assert list(a.index) == [(0.6, 0.3, 2), (0.9, 0.45, 1)]
    assert a.attrs["grid"] == {"long_threshold": [0.6, 0.9], "short_threshold": [0.3, 0.45], "min_holding": [2, 1]}
    single = sweep(wdo5k, proba, {"long": [0.9], "short": [0.45], "holding": [1]})
    pd.testing.assert_frame_equal(a.iloc[[1]], single, check_like=False)


def test_grid_errors_name_the_problem():
    with pytest.raises(ParameterError, match="comes twice"):
        grid_combinations([{"long": 0.6}, {"long_threshold": 0.6}])
    with pytest.raises(ParameterError, match="same parameters"):
        grid_combinations([{"long": 0.6}, {"long": 0.7, "short": 0.2}])
    with pytest.raises(ParameterError, match="does not give values"):
        grid_combinations({"short": Mirror("long_threshold")})
    with pytest.raises(ParameterError, match="tied"):
        grid_from_spec("long=0.6,short=1-long,0.3")
    with pytest.raises(TypeError, match="ints"):
        grid_combinations([{"holding": 1.5}])
    with pytest.raises(ParameterError, match="unknown grid parameter"):
        grid_combinations([{"lnog": 0.6}])
    with pytest.raises(ParameterError, match="failed on"):
        grid_combinations({"long": [0.6, 0.7], "short": lambda c: c["holding"]})
    assert grid_combinations({"long": [0.6, 0.7], "short": lambda c: 0.3})[1] == [(0.6, 0.3), (0.7, 0.3)]


def test_chunked_sweep_of_a_tied_grid_resumes(tmp_path, wdo5k, proba):
    spec = "long=0.55:0.75:0.05,short=1-long,holding=1,3"
    assert [len(c) for c in grid_chunks(spec, 4)] == [4, 4, 2]
    first, c1 = chunked_sweep(wdo5k, proba, spec, folder=tmp_path, chunk_size=4)
    again, c2 = chunked_sweep(wdo5k, proba, spec, folder=tmp_path, chunk_size=4)
    assert c1["computed"] == 3 and c2["reused"] == 3 and c2["computed"] == 0
    pd.testing.assert_frame_equal(first, again)
    pd.testing.assert_frame_equal(first, sweep(wdo5k, proba, spec))


def test_fast_kernel_memory_is_bars_plus_combinations():
    """The fused kernel allocates no array of the bars' length: only the outputs."""
    import inspect

    src = inspect.getsource(snb._fast_one_nb)
    assert "np.empty" not in src and "np.zeros" not in src


def test_runner_grid_flag_takes_a_tie():
    """``runners.sweep --grid 'long=...,short=1-long'``: parsed, every combination checked, run.json-ready."""
    import json

    from runners.sweep import _check_grid_values, parse_grid

    grid = parse_grid("long=0.55,0.6,short=1-long,holding=1,5")
    assert grid["long_threshold"] == [0.55, 0.6] and str(grid["short_threshold"]) == "1-long_threshold"
    _check_grid_values(grid, ProbabilityThresholdStrategy(), Stops())
    json.dumps({k: (str(v) if callable(v) else v) for k, v in grid.items()})
    # each tied pair is valid (short < long) though 0.45 alone is not below the base long threshold 0.55
    base = ProbabilityThresholdStrategy(long_threshold=0.4, short_threshold=0.35)
    _check_grid_values(parse_grid("long=0.52,0.55,short=1-long"), base, Stops())
    with pytest.raises(ParameterError, match="--grid"):  # 1 - 0.3 = 0.7 is above the long threshold 0.3
        _check_grid_values(parse_grid("long=0.3,short=1-long"), ProbabilityThresholdStrategy(), Stops())


def test_best_of_grid_null_takes_a_tied_grid_to_workers(wdo5k, proba):
    """A tie written as a lambda cannot be pickled: the null sends plain combinations to joblib's workers."""
    from engines.sweep import best_of_grid_null

    grid = {"long": [0.6, 0.7], "short": lambda c: round(1 - c["long_threshold"], 12)}
    out = best_of_grid_null(wdo5k, proba, grid, n=4, batch_size=2, n_jobs=2, seed=1)
    assert out["n_combinations"] == 2 and len(out["null"]) == 4
    same = best_of_grid_null(wdo5k, proba, "long=0.6,0.7,short=1-long", n=4, batch_size=2, n_jobs=1, seed=1)
    assert out["null"] == same["null"] and out["observed"] == same["observed"]
