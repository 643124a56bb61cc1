"""Tests of the parameter sweep (``engines.sweep`` and its kernel ``engines._sweep_nb``).

The sweep kernel must give, for every combination, exactly what the
single-run simulator gives (``simulate`` on the sides of the strategy with
those parameters): same trades, final equity and metrics, to 1e-9.
"""

from __future__ import annotations

import doctest
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from engines.metrics import METRIC_KEYS, daily_returns
from engines.simulate import Costs, Sizing, Stops, simulate
import engines.sweep as sweep_module
from engines.sweep import GRID_PARAMS, RESULT_COLUMNS, grid_from_spec, overfitting, rerun, session_returns, sweep
from ml.data import bars_calendar, continuous_contract, load_bars, sample_path
from ml.exceptions import ParameterError
from strategies import ProbabilityThresholdStrategy

COSTS = Costs(commission_per_contract=1.5, slippage_ticks=1)


@pytest.fixture(scope="module")
def wdo5k():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bars = continuous_contract(load_bars(sample_path("wdo")))
    return bars.iloc[:5000]


@pytest.fixture(scope="module")
def proba(wdo5k):
    """Deterministic, causal pseudo-probability: rolling z-score of the close squashed to (0, 1)."""
    c = wdo5k["close"]
    z = (c - c.rolling(30, min_periods=30).mean()) / c.rolling(30, min_periods=30).std()
    return 1.0 / (1.0 + np.exp(-z))


GRID = {
    "long_threshold": [0.6, 0.75, 0.9],
    "short_threshold": [0.1, 0.3],
    "min_holding": [1, 5, 20],
    "sl_atr": [0.0, 1.5],
    "tp_atr": [0.0, 3.0],
    "trail_atr": [0.0, 2.0],
    "max_bars": [0, 30],
}


@pytest.fixture(scope="module")
def swept(wdo5k, proba):
    return sweep(wdo5k, proba, GRID, costs=COSTS)


def _close(a, b, tol=1e-9):
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def test_shape_index_columns_and_n_trials(swept):
    n = math.prod(len(v) for v in GRID.values())
    assert len(swept) == n == swept.attrs["n_trials"]
    assert list(swept.index.names) == list(GRID)
    assert list(swept.columns) == list(RESULT_COLUMNS)
    assert swept["n_trades"].dtype == np.int64
    assert swept.attrs["periods_per_year"] > 0
    assert swept.index.is_unique


def test_sweep_equals_simulate_on_sampled_combinations(wdo5k, proba, swept):
    rng = np.random.default_rng(7)
    picks = rng.choice(len(swept), size=12, replace=False)
    for j in picks:
        key = swept.index[j]
        p = dict(zip(swept.index.names, key))
        strat = ProbabilityThresholdStrategy(long_threshold=p["long_threshold"],
                                             short_threshold=p["short_threshold"],
                                             min_holding=p["min_holding"])
        stops = Stops(sl_atr=p["sl_atr"] or None, tp_atr=p["tp_atr"] or None,
                      trail_atr=p["trail_atr"] or None, max_bars=p["max_bars"] or None)
        res = simulate(wdo5k, strat.sides(proba, wdo5k), stops=stops, costs=COSTS)
        row = swept.iloc[j]
        assert int(row["n_trades"]) == res.metrics["n_trades"] == int(res.trades["closed"].sum())
        assert _close(float(row["final_equity"]), float(res.equity.iloc[-1]))
        for k in METRIC_KEYS:
            assert _close(float(row[k]), float(res.metrics[k])), (key, k, row[k], res.metrics[k])


def test_some_combinations_trade_and_stops_matter(swept):
    assert (swept["n_trades"] > 0).all()
    with_sl = swept.xs(1.5, level="sl_atr")["final_equity"].to_numpy()
    without = swept.xs(0.0, level="sl_atr")["final_equity"].to_numpy()
    assert not np.allclose(with_sl, without)


def test_rerun_matches_row_and_builds_vectorbt(wdo5k, proba, swept):
    key = swept["sharpe"].idxmax()
    run = rerun(wdo5k, proba, key, names=swept.index.names, costs=COSTS, portfolio=True)
    assert run.params == dict(zip(swept.index.names, key))
    for k in METRIC_KEYS:
        assert _close(float(swept.loc[key, k]), float(run.result.metrics[k]))
    eq = run.portfolio.equity()
    assert np.allclose(eq.to_numpy(), run.result.equity.to_numpy(), rtol=0, atol=1e-6)
    assert _close(float(eq.iloc[-1]), float(swept.loc[key, "final_equity"]))
    vt = run.portfolio.trades()
    assert int(vt["closed"].sum()) == int(swept.loc[key, "n_trades"])


def test_sizing_fill_on_close_and_risk_free_pass_through(wdo5k, proba):
    kw = dict(costs=Costs(commission_pct=0.0002), sizing=Sizing(method="fixed", contracts=3),
              fill_on_close=True, risk_free=0.1,
              strategy=ProbabilityThresholdStrategy(flat_bars_before_close=0))
    df = sweep(wdo5k, proba, "long=0.7,0.8 short=0.2 holding=3", **kw)
    assert df.attrs["n_trials"] == 2
    for key in df.index:
        run = rerun(wdo5k, proba, key, names=df.index.names, **kw)
        for k in METRIC_KEYS:
            assert _close(float(df.loc[key, k]), float(run.result.metrics[k]))


def test_single_parameter_grid_and_aliases(wdo5k, proba):
    df = sweep(wdo5k, proba, {"long": [0.5, 0.55, 0.6]})
    assert df.index.names == ["long_threshold"] and df.attrs["n_trials"] == 3
    sr = session_returns(df)
    assert list(sr.columns) == list(df.index)
    ovf = overfitting(df)                                  # one swept parameter is enough
    assert ovf["best"] == {"long_threshold": df["sharpe"].idxmax()[0]} and ovf["n_trials"] == 3


# --------------------------------------------------------------------------- grid spec


def test_grid_from_spec_ranges_lists_and_aliases():
    g = grid_from_spec("long_threshold=0.5:0.7:0.02,holding=5,10,20")
    assert g["long_threshold"] == [0.5, 0.52, 0.54, 0.56, 0.58, 0.6, 0.62, 0.64, 0.66, 0.68, 0.7]
    assert g["min_holding"] == [5, 10, 20]
    assert grid_from_spec("sl=1:3:1; tp=2,4 max_bars=10") == {
        "sl_atr": [1, 2, 3], "tp_atr": [2, 4], "max_bars": [10]}
    assert grid_from_spec("short=0.3,0.2:0.25:0.05,0.3") == {"short_threshold": [0.3, 0.2, 0.25]}
    assert set(grid_from_spec("trail=1e-1")) <= set(GRID_PARAMS)
    assert grid_from_spec("stop_atr=1:3:0.5,take_atr=2,trailing_atr=1,time_stop=30") == {
        "sl_atr": [1, 1.5, 2, 2.5, 3], "tp_atr": [2], "trail_atr": [1], "max_bars": [30]}


@pytest.mark.parametrize("spec, match", [
    ("", "empty"),
    ("0.5,holding=5", "before any 'name='"),
    ("long_treshold=0.6", "Did you mean 'long_threshold'"),
    ("holding=5,min_holding=10", "given twice"),
    ("long=abc", "not a number"),
    ("long=0.7:0.6:0.05", "stop"),
    ("long=0.5:0.7:0", "step"),
    ("long=0.5:0.7", "start:stop:step"),
    ("long=", "no value"),
    ("=5", "no parameter name"),
    ("long=nan", "finite"),
])
def test_grid_from_spec_errors(spec, match):
    with pytest.raises(ParameterError, match=match):
        grid_from_spec(spec)


def test_grid_from_spec_type_error():
    with pytest.raises(TypeError):
        grid_from_spec({"long": [0.6]})


def test_sweep_rejects_bad_grids(wdo5k, proba):
    with pytest.raises(ParameterError, match="long_threshold"):
        sweep(wdo5k, proba, {"long_threshold": [0.4]})
    with pytest.raises(ParameterError, match="more than once"):
        sweep(wdo5k, proba, {"long_threshold": [0.6, 0.6]})
    with pytest.raises(TypeError, match="min_holding"):
        sweep(wdo5k, proba, {"min_holding": [1.5]})
    with pytest.raises(ParameterError, match="holds no values"):
        sweep(wdo5k, proba, {"long_threshold": []})
    with pytest.raises(ParameterError, match="empty"):
        sweep(wdo5k, proba, {})
    with pytest.raises(ParameterError, match="unknown grid parameter"):
        sweep(wdo5k, proba, {"stop_loss": [1.0]})
    with pytest.raises(ParameterError, match="proba"):
        sweep(wdo5k, proba.iloc[:-10].to_numpy(), {"long_threshold": [0.6]})


def test_docstring_examples():
    assert doctest.testmod(sweep_module, optionflags=doctest.ELLIPSIS).failed == 0


def test_deterministic_and_thread_independent(wdo5k, proba):
    import numba

    grid = {"long_threshold": [0.6, 0.8], "min_holding": [1, 10], "sl_atr": [0.0, 1.0]}
    a = sweep(wdo5k, proba, grid, costs=COSTS)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        b = sweep(wdo5k, proba, grid, costs=COSTS)
    finally:
        numba.set_num_threads(old)
    pd.testing.assert_frame_equal(a, b)


def test_rerun_accepts_a_dict_and_checks_it(wdo5k, proba):
    run = rerun(wdo5k, proba, {"long": 0.7, "holding": 5}, costs=COSTS)
    assert run.params == {"long_threshold": 0.7, "min_holding": 5} and run.portfolio is None
    df = sweep(wdo5k, proba, {"long_threshold": [0.7], "min_holding": [5]}, costs=COSTS)
    assert _close(float(df["sharpe"].iloc[0]), run.result.metrics["sharpe"])
    with pytest.raises(ParameterError, match="Did you mean"):
        rerun(wdo5k, proba, {"long_thresold": 0.7})
    with pytest.raises(TypeError):
        rerun(wdo5k, proba, [0.7])


# --------------------------------------------------------------------------- session returns, overfitting


def test_session_returns_compound_to_total_return(swept, tmp_path):
    sr = session_returns(swept)
    assert sr.shape == (10, len(swept)) and sr.index.name == "session_date"
    assert sr.columns.equals(swept.index) and sr.index.is_monotonic_increasing
    # derived frames keep every combination run; pandas operations that combine attrs keep working
    assert session_returns(swept.head(3)).equals(sr)
    assert session_returns(pd.concat([swept.head(2), swept.tail(2)])).equals(sr)
    # the result (attrs included) writes to Parquet
    swept.to_parquet(tmp_path / "sweep.parquet")
    back = pd.read_parquet(tmp_path / "sweep.parquet")
    assert session_returns(back).equals(sr)
    total = (1.0 + sr).prod(axis=0) - 1.0
    np.testing.assert_allclose(total.to_numpy(), swept["total_return"].to_numpy(), rtol=0, atol=1e-9)


def test_session_returns_equal_daily_returns_of_simulate(wdo5k, proba, swept):
    sr = session_returns(swept)
    for j in (3, len(swept) - 5):
        key = swept.index[j]
        run = rerun(wdo5k, proba, key, names=swept.index.names, costs=COSTS)
        eq = run.result.equity
        bar_ret = eq / eq.shift(1).fillna(100_000.0) - 1.0
        daily = daily_returns(bar_ret, bars_calendar(wdo5k))
        assert daily.index.equals(sr.index)
        np.testing.assert_allclose(sr[key].to_numpy(), daily.to_numpy(), rtol=0, atol=1e-9)


@pytest.fixture(scope="module")
def swept_free(wdo5k, proba):
    """The GRID without costs: with COSTS every combination bleeds commissions (per-session Sharpe
    down to -2.3), so the trials' expected maximum Sharpe exceeds 1 per session and
    engines.overfit rejects it as "looks annualised" (tested below)."""
    return sweep(wdo5k, proba, GRID)


def test_overfitting_counts_trials_automatically(swept_free):
    swept = swept_free
    out = overfitting(swept)
    assert out["n_trials"] == len(swept) == math.prod(len(v) for v in GRID.values())
    assert out["n_sessions"] == 10 and out["n_partitions"] == 10
    assert 0.0 <= out["dsr"] <= 1.0 and _close(out["p_value"], 1.0 - out["dsr"])
    assert 0.0 <= out["pbo"] <= 1.0 and 0.0 <= out["prob_loss"] <= 1.0
    assert out["best"] == dict(zip(swept.index.names, swept["sharpe"].idxmax()))
    assert out["n_pbo_configs"] + out["n_constant_dropped"] == len(swept)
    # filtering rows keeps the number of trials run (PITFALLS 22)
    top = swept.nlargest(5, "sharpe")
    assert overfitting(top)["n_trials"] == len(swept)
    assert overfitting(swept, n_partitions=4)["n_partitions"] == 4


def test_overfitting_errors_and_constant_combinations(wdo5k, proba, swept):
    with pytest.raises(ParameterError, match="sweep"):
        overfitting(pd.DataFrame({"sharpe": [1.0]}))
    with pytest.raises(ParameterError, match="even"):
        overfitting(swept, n_partitions=3)
    # with costs, steady losers have per-session Sharpe ratios below -1: still a valid DSR
    costly = overfitting(swept)
    assert costly["n_trials"] == 288 and 0.0 <= costly["dsr"] <= 1.0 and 0.0 <= costly["pbo"] <= 1.0
    few = sweep(wdo5k.iloc[:1000], proba.iloc[:1000], {"long_threshold": [0.6, 0.7]}, costs=COSTS)
    n = len(session_returns(few))
    assert n < 4
    with pytest.raises(ParameterError, match=f"at least 4 sessions.*{n} session"):
        overfitting(few)
    # a threshold never reached: no trades, flat at 0 -> dropped from PBO, Sharpe 0 in the trials
    df = sweep(wdo5k, proba, {"long_threshold": [0.6, 0.75, 0.9999999], "short_threshold": [1e-7, 0.3]})
    flat = df["n_trades"] == 0
    assert flat.sum() == 1
    out = overfitting(df)
    assert out["n_trials"] == 6 and out["n_constant_dropped"] == 1 and out["n_pbo_configs"] == 5
    assert 0.0 <= out["pbo"] <= 1.0


def test_noise_grid_has_a_high_dsr_p_value():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bars = continuous_contract(load_bars(sample_path("wdo")))
    noise = pd.Series(np.random.default_rng(0).uniform(size=len(bars)), index=bars.index)
    df = sweep(bars, noise, {"long_threshold": [0.6, 0.7, 0.8], "min_holding": [5, 20, 60]})
    out = overfitting(df)
    assert out["n_trials"] == 9 and out["n_partitions"] == 16
    assert out["p_value"] > 0.5, out


# --------------------------------------------------------------------------- best-of-grid null

NULL_GRID = {"long_threshold": [0.6, 0.75], "short_threshold": [0.25, 0.4], "min_holding": [1, 5]}


def test_best_of_grid_null_gives_a_future_knowing_probability_the_smallest_p(wdo5k):
    """An oracle that knows the next fill-to-fill move is the best of every grid: no rotation of its
    probabilities comes near it, so p = 1 / (n + 1), the smallest the test can give."""
    from engines.sweep import best_of_grid_null

    o = wdo5k["open"].to_numpy()
    move = np.full(len(o), np.nan)
    move[:-2] = o[2:] - o[1:-1]            # decided at bar t, filled at t+1's open, marked at t+2's open
    oracle = pd.Series(np.where(np.isnan(move), np.nan, np.where(move > 0, 0.95, 0.05)), index=wdo5k.index)
    res = best_of_grid_null(wdo5k, oracle, NULL_GRID, n=19, seed=1)
    assert res["p_value"] == pytest.approx(1 / 20)
    assert res["observed"] > max(res["null"])
    assert res["n_combinations"] == 8 and len(res["null"]) == 19


def test_best_of_grid_null_is_never_kinder_than_the_single_combination_null(wdo5k, proba):
    """The same rotations scored by the whole grid's best can only beat the observed best more often
    than when scored by the chosen combination alone: the adjusted p-value >= the naive one."""
    from engines.sweep import best_of_grid_null

    adjusted = best_of_grid_null(wdo5k, proba, NULL_GRID, n=25, seed=4, costs=COSTS)
    swept = sweep(wdo5k, proba, NULL_GRID, costs=COSTS)
    best = swept["sharpe"].idxmax()
    single = best_of_grid_null(wdo5k, proba, {k: [v] for k, v in zip(swept.index.names, best)}, n=25, seed=4,
                               costs=COSTS)
    assert adjusted["observed"] == pytest.approx(single["observed"]) == pytest.approx(swept["sharpe"].max())
    assert all(a >= s for a, s in zip(adjusted["null"], single["null"]))
    assert adjusted["p_value"] >= single["p_value"]
    # the p-value arithmetic on the null it returned
    null = np.array(adjusted["null"])
    assert adjusted["p_value"] == pytest.approx((1 + np.sum(null >= adjusted["observed"])) / 26)


def test_best_of_grid_null_is_deterministic_whatever_the_jobs(wdo5k, proba):
    from engines.sweep import best_of_grid_null

    a = best_of_grid_null(wdo5k, proba, NULL_GRID, n=6, seed=9, costs=COSTS)
    b = best_of_grid_null(wdo5k, proba, NULL_GRID, n=6, seed=9, costs=COSTS, n_jobs=2, batch_size=2)
    assert a == b
    assert best_of_grid_null(wdo5k, proba, NULL_GRID, n=6, seed=10, costs=COSTS)["null"] != a["null"]
    assert a["min_offset"] == int(pd.Series(bars_calendar(wdo5k).sessions(wdo5k.index).session).value_counts().max())


def test_best_of_grid_null_errors(wdo5k, proba):
    from engines.sweep import best_of_grid_null

    with pytest.raises(ParameterError, match="did you mean 'sharpe'"):
        best_of_grid_null(wdo5k, proba, NULL_GRID, n=2, metric="sharp")
    with pytest.raises(ParameterError, match="`n`"):
        best_of_grid_null(wdo5k, proba, NULL_GRID, n=0)
    two = wdo5k.iloc[:900]          # under two sessions: no rotation leaves every bar's own session
    with pytest.raises(ParameterError, match="fewer than 3 sessions"):
        best_of_grid_null(two, proba.iloc[:900], NULL_GRID, n=2)


# --------------------------------------------------------------------------- chunked, resumable


def test_chunked_sweep_equals_one_sweep_and_resumes(wdo5k, proba, tmp_path):
    """The library's resumable sweep (issue 13, item 4): chunks concatenate to exactly what one sweep()
    returns; a second call reuses every chunk; other costs recompute them all and drop the old ones."""
    from engines.sweep import chunked_sweep, grid_chunks, overfitting

    grid = {"long_threshold": [0.6, 0.75], "min_holding": [1, 5, 20], "sl_atr": [0.0, 1.5]}
    whole = sweep(wdo5k, proba, grid, costs=COSTS)
    chunks = grid_chunks(grid, 4)
    assert [math.prod(len(v) for v in c.values()) for c in chunks] == [2] * 6
    merged, counters = chunked_sweep(wdo5k, proba, grid, folder=tmp_path / "chunks", chunk_size=4, costs=COSTS)
    assert counters == {"total": 6, "reused": 0, "computed": 6, "stale_removed": 0, "chunk_size": 4}
    pd.testing.assert_frame_equal(merged, whole)
    assert merged.attrs["session_returns"] == whole.attrs["session_returns"]
    assert overfitting(merged)["dsr"] == pytest.approx(overfitting(whole)["dsr"])
    again, counters = chunked_sweep(wdo5k, proba, grid, folder=tmp_path / "chunks", chunk_size=4, costs=COSTS,
                                    n_jobs=2)
    assert counters["reused"] == 6 and counters["computed"] == 0
    pd.testing.assert_frame_equal(again, whole)
    other, counters = chunked_sweep(wdo5k, proba, grid, folder=tmp_path / "chunks", chunk_size=4,
                                    costs=Costs(commission_per_contract=3.0, slippage_ticks=1))
    assert counters["reused"] == 0 and counters["stale_removed"] == 6
    assert (other["final_equity"] < whole["final_equity"]).any()
