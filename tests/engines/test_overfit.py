"""PSR, expected maximum Sharpe ratio, DSR and PBO (CSCV): pinned values, twins, Monte Carlo."""

from __future__ import annotations

import doctest
import itertools
import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from engines import overfit
from engines.overfit import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
)
from ml.exceptions import ParameterError

GAMMA = 0.5772156649015329


def phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def test_docstring_examples():
    result = doctest.testmod(overfit, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 10
    assert result.failed == 0


# --------------------------------------------------------------------------- #
# probabilistic Sharpe ratio
# --------------------------------------------------------------------------- #
def test_psr_normal_returns_by_hand():
    # sr=0.1 per period, n=101, normal: z = 0.1 * sqrt(100) / sqrt(1 + (3-1)/4 * 0.01) = 1 / sqrt(1.005)
    assert probabilistic_sharpe_ratio(0.1, 101) == pytest.approx(phi(1 / math.sqrt(1.005)), abs=1e-12)
    assert probabilistic_sharpe_ratio(0.1, 101) == pytest.approx(0.840741, abs=1e-6)


def test_psr_skew_and_fat_tails_by_hand():
    # skew -1, kurtosis 6: 1 - (-1)(0.1) + (6-1)/4 * 0.01 = 1.1125
    psr = probabilistic_sharpe_ratio(0.1, 101, skew=-1.0, kurtosis=6.0)
    assert psr == pytest.approx(phi(1 / math.sqrt(1.1125)), abs=1e-12)
    assert psr < probabilistic_sharpe_ratio(0.1, 101)
    # benchmark: (0.1 - 0.05) * sqrt(100) / sqrt(1.005)
    assert probabilistic_sharpe_ratio(0.1, 101, sr_benchmark=0.05) == pytest.approx(phi(0.5 / math.sqrt(1.005)))


def test_psr_excess_flag_and_special_values():
    a = probabilistic_sharpe_ratio(0.05, 500, skew=0.3, kurtosis=5.0)
    b = probabilistic_sharpe_ratio(0.05, 500, skew=0.3, kurtosis=2.0, excess=True)
    assert a == pytest.approx(b, abs=1e-15)
    assert probabilistic_sharpe_ratio(0.03, 1000, sr_benchmark=0.03) == pytest.approx(0.5)
    assert probabilistic_sharpe_ratio(-0.1, 101) == pytest.approx(1 - probabilistic_sharpe_ratio(0.1, 101))
    assert isinstance(probabilistic_sharpe_ratio(0.1, 101), float)


def test_psr_broadcasts_arrays():
    srs = np.array([-0.05, 0.0, 0.05, 0.1])
    out = probabilistic_sharpe_ratio(srs, 200)
    assert out.shape == (4,)
    assert np.all(np.diff(out) > 0)
    assert out[1] == 0.5
    np.testing.assert_allclose(out, [probabilistic_sharpe_ratio(float(s), 200) for s in srs])


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"sr": 0.1, "n": 1}, ParameterError, "`n`"),
        ({"sr": 0.1, "n": 100.0}, TypeError, "`n`"),
        ({"sr": 1.5, "n": 100}, ParameterError, "annualised"),
        ({"sr": 0.1, "n": 100, "sr_benchmark": -2.0}, ParameterError, "`sr_benchmark`"),
        ({"sr": float("nan"), "n": 100}, ParameterError, "`sr`"),
        ({"sr": 0.1, "n": 100, "kurtosis": 0.5}, ParameterError, "`kurtosis`"),
        ({"sr": 0.1, "n": 100, "kurtosis": -2.5, "excess": True}, ParameterError, "`kurtosis`"),
        ({"sr": 0.9, "n": 100, "skew": 3.0, "kurtosis": 1.0}, ParameterError, "`skew` and `kurtosis`"),
        ({"sr": 0.1, "n": 100, "skew": "a"}, TypeError, "`skew`"),
        ({"sr": 0.1, "n": 100, "excess": 1}, TypeError, "`excess`"),
    ],
)
def test_psr_bad_args_name_the_parameter(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        probabilistic_sharpe_ratio(**kwargs)


# --------------------------------------------------------------------------- #
# expected maximum Sharpe ratio
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(("n_trials", "pinned"), [(10, 1.574598), (100, 2.530603), (1000, 3.255122)])
def test_expected_max_sharpe_formula(n_trials, pinned):
    inv = NormalDist().inv_cdf
    by_hand = (1 - GAMMA) * inv(1 - 1 / n_trials) + GAMMA * inv(1 - 1 / (n_trials * math.e))
    assert expected_max_sharpe(n_trials, 1.0) == pytest.approx(by_hand, rel=1e-12)
    assert expected_max_sharpe(n_trials, 1.0) == pytest.approx(pinned, abs=1e-6)
    assert expected_max_sharpe(n_trials, 0.04) == pytest.approx(0.2 * by_hand, rel=1e-12)


@pytest.mark.parametrize(("n_trials", "reps"), [(10, 4000), (100, 4000), (1000, 1000)])
def test_expected_max_sharpe_matches_monte_carlo(n_trials, reps):
    rng = np.random.default_rng(n_trials)
    mc = rng.standard_normal((reps, n_trials)).max(axis=1).mean()
    # exact E[max] of N std normals: 1.5388 (10), 2.5076 (100), 3.2414 (1000); the formula is within 2.5%
    assert expected_max_sharpe(n_trials, 1.0) == pytest.approx(mc, rel=0.03)


def test_expected_max_sharpe_edge_cases():
    assert expected_max_sharpe(1, 0.3) == 0.0
    assert expected_max_sharpe(50, 0.0) == 0.0
    vals = [expected_max_sharpe(n, 1.0) for n in (2, 5, 10, 100, 10_000)]
    assert np.all(np.diff(vals) > 0)
    with pytest.raises(ParameterError, match="`n_trials`"):
        expected_max_sharpe(0, 1.0)
    with pytest.raises(TypeError, match="`n_trials`"):
        expected_max_sharpe(10.0, 1.0)
    with pytest.raises(ParameterError, match="`sr_variance`"):
        expected_max_sharpe(10, -0.1)
    with pytest.raises(ParameterError, match="`sr_variance`"):
        expected_max_sharpe(10, float("inf"))


# --------------------------------------------------------------------------- #
# deflated Sharpe ratio
# --------------------------------------------------------------------------- #
def test_dsr_with_one_trial_is_psr():
    res = deflated_sharpe_ratio(sr=0.08, n=250, skew=-0.4, kurtosis=4.5, n_trials=1)
    assert res.psr_benchmark == 0.0
    assert res.sr_variance == 0.0
    assert res.dsr == pytest.approx(probabilistic_sharpe_ratio(0.08, 250, -0.4, 4.5), abs=1e-15)
    assert res.p_value == pytest.approx(1 - res.dsr)


def test_dsr_by_hand():
    v = 0.002
    sr_star = math.sqrt(v) * ((1 - GAMMA) * NormalDist().inv_cdf(1 - 1 / 20)
                              + GAMMA * NormalDist().inv_cdf(1 - 1 / (20 * math.e)))
    res = deflated_sharpe_ratio(sr=0.2, n=400, n_trials=20, sr_variance=v)
    z = (0.2 - sr_star) * math.sqrt(399) / math.sqrt(1 + 0.5 * 0.04)
    assert res.psr_benchmark == pytest.approx(sr_star, rel=1e-12)
    assert res.dsr == pytest.approx(phi(z), abs=1e-12)
    assert res.to_dict()["n_trials"] == 20


def test_dsr_decreases_with_n_trials():
    dsrs = [deflated_sharpe_ratio(sr=0.1, n=500, n_trials=k, sr_variance=0.002).dsr for k in (1, 2, 5, 10, 100, 1000)]
    assert np.all(np.diff(dsrs) < 0)
    assert dsrs[0] == pytest.approx(probabilistic_sharpe_ratio(0.1, 500))


def test_dsr_from_returns_equals_from_moments():
    rng = np.random.default_rng(7)
    r = pd.Series(rng.standard_t(5, 300) * 0.01 + 0.001)
    trials = [0.05, -0.02, 0.01, 0.03, 0.0]
    res = deflated_sharpe_ratio(r, trial_sharpes=trials)
    sr = r.mean() / r.std(ddof=1)
    assert res.sr == pytest.approx(sr, rel=1e-12)
    assert res.n == 300
    assert res.skew == pytest.approx(stats.skew(r), rel=1e-10)
    assert res.kurtosis == pytest.approx(stats.kurtosis(r, fisher=False), rel=1e-10)
    assert res.n_trials == 5  # counted from trial_sharpes, never typed
    assert res.sr_variance == pytest.approx(np.var(trials, ddof=1))
    same = deflated_sharpe_ratio(sr=sr, n=300, skew=stats.skew(r), kurtosis=stats.kurtosis(r), excess=True,
                                 n_trials=5, sr_variance=np.var(trials, ddof=1))
    assert same.dsr == pytest.approx(res.dsr, abs=1e-12)
    # more trials run than recorded: allowed, and deflates more
    assert deflated_sharpe_ratio(r, trial_sharpes=trials, n_trials=50).dsr < res.dsr


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        ((np.ones(5) * 0.01,), {"n_trials": 1}, ParameterError, "constant"),
        ((np.array([0.01, np.nan, 0.02]),), {"n_trials": 1}, ParameterError, "position 1"),
        ((np.zeros((3, 2)),), {"n_trials": 1}, ParameterError, "`returns`"),
        ((np.array([0.01, -0.02]),), {"sr": 0.1, "n": 10, "n_trials": 1}, ParameterError, "not both"),
        ((), {"n_trials": 1}, ParameterError, "`returns`"),
        ((), {"sr": 0.1, "n_trials": 1}, ParameterError, "`n`"),
        ((), {"sr": 2.0, "n": 100, "n_trials": 1}, ParameterError, "annualised"),
        ((), {"sr": 0.1, "n": 100}, ParameterError, "`n_trials`"),
        ((), {"sr": 0.1, "n": 100, "n_trials": 0}, ParameterError, "`n_trials`"),
        ((), {"sr": 0.1, "n": 100, "n_trials": 5}, ParameterError, "`sr_variance`"),
        ((), {"sr": 0.1, "n": 100, "sr_variance": 0.1, "trial_sharpes": [0.1, 0.2]}, ParameterError, "not both"),
        ((), {"sr": 0.1, "n": 100, "n_trials": 2, "trial_sharpes": [0.1, 0.2, 0.0]}, ParameterError,
         "`n_trials` must be >= len"),
        ((), {"sr": 0.1, "n": 100, "trial_sharpes": [0.1]}, ParameterError, "`trial_sharpes`"),
        ((), {"sr": 0.1, "n": 100, "trial_sharpes": [0.1, np.nan]}, ParameterError, "`trial_sharpes`"),
        ((), {"sr": 0.1, "n": 100, "trial_sharpes": [1.2, 2.5, 0.3]}, ParameterError, "annualised"),
        ((), {"sr": 0.1, "n": 100, "n_trials": 10, "sr_variance": 4.0}, ParameterError, "annualised"),
        ((), {"sr": 0.1, "n": 100, "n_trials": 3, "sr_variance": -1.0}, ParameterError, "`sr_variance`"),
        ((), {"sr": [0.1, 0.2], "n": 100, "n_trials": 1}, TypeError, "`sr`"),
    ],
)
def test_dsr_bad_args_name_the_parameter(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        deflated_sharpe_ratio(*args, **kwargs)


def test_psr_calibrated_without_selection():
    """One noise strategy, no selection: PSR > 0.95 about 5% of the time."""
    rng = np.random.default_rng(11)
    reps, t = 4000, 250
    x = rng.standard_normal((reps, t))
    sr = x.mean(axis=1) / x.std(axis=1, ddof=1)
    psr = probabilistic_sharpe_ratio(sr, t, stats.skew(x, axis=1), stats.kurtosis(x, axis=1, fisher=False))
    rate = np.mean(psr > 0.95)
    assert abs(rate - 0.05) < 0.015  # 4.4 standard errors


def test_dsr_deflates_the_best_of_noise_strategies():
    """Best of N=10 noise strategies: PSR(0) is fooled ~40% of the time, DSR < 5% (it is conservative).

    The benchmark is the *expected* maximum Sharpe ratio, so the mean of the
    selected Sharpe ratios matches the mean benchmark.
    """
    rng = np.random.default_rng(5)
    reps, n_strats, t = 1000, 10, 250
    dsr_hits = naive_hits = 0
    best_srs, benchmarks = [], []
    for _ in range(reps):
        x = rng.standard_normal((t, n_strats))
        srs = x.mean(axis=0) / x.std(axis=0, ddof=1)
        j = int(np.argmax(srs))
        res = deflated_sharpe_ratio(x[:, j], trial_sharpes=srs)
        assert res.n_trials == n_strats
        dsr_hits += res.dsr > 0.95
        naive_hits += probabilistic_sharpe_ratio(res.sr, t, res.skew, res.kurtosis) > 0.95
        best_srs.append(res.sr)
        benchmarks.append(res.psr_benchmark)
    assert dsr_hits / reps <= 0.05
    assert naive_hits / reps > 0.3
    assert np.mean(best_srs) == pytest.approx(np.mean(benchmarks), rel=0.06)


# --------------------------------------------------------------------------- #
# PBO: a brute-force twin
# --------------------------------------------------------------------------- #
def brute_force_pbo(x: np.ndarray, s: int, metric=None):
    """Straight from the paper: loops, concatenated rows, scipy ranks."""
    if metric is None:
        def metric(m):
            return m.mean(axis=0) / m.std(axis=0, ddof=1)
    blocks = np.array_split(np.arange(x.shape[0]), s)
    n = x.shape[1]
    logits, is_m, oos_m, best = [], [], [], []
    for combo in itertools.combinations(range(s), s // 2):
        is_rows = np.concatenate([blocks[b] for b in combo])
        oos_rows = np.concatenate([blocks[b] for b in range(s) if b not in combo])
        perf_is, perf_oos = metric(x[is_rows]), metric(x[oos_rows])
        j = int(np.argmax(perf_is))
        w = stats.rankdata(perf_oos)[j] / (n + 1)
        logits.append(math.log(w / (1 - w)))
        is_m.append(perf_is[j])
        oos_m.append(perf_oos[j])
        best.append(j)
    logits = np.array(logits)
    return float(np.mean(logits <= 0)), logits, np.array(is_m), np.array(oos_m), np.array(best)


def test_pbo_hand_computed_s2_n3():
    # blocks: rows 0-1 and rows 2-3.  Means: block A (2, 1, 0.5), block B (0, 1, 3).
    r = np.array([[2.0, 0.5, 0.0], [2.0, 1.5, 1.0], [0.0, 1.0, 3.0], [0.0, 1.0, 3.0]])
    res = probability_of_backtest_overfitting(r, n_partitions=2, metric="mean")
    assert res.n_combinations == 2
    assert res.combinations.tolist() == [[0], [1]]
    # IS=A: best col 0 (mean 2), OOS means (0, 1, 3): col 0 ranks 1 -> w = 1/4 -> ln(1/3)
    # IS=B: best col 2 (mean 3), OOS means (2, 1, 0.5): col 2 ranks 1 -> w = 1/4
    assert res.best_config.tolist() == [0, 2]
    np.testing.assert_allclose(res.logits, [math.log(1 / 3)] * 2)
    np.testing.assert_allclose(res.is_metric, [2.0, 3.0])
    np.testing.assert_allclose(res.oos_metric, [0.0, 0.5])
    assert res.pbo == 1.0
    assert res.prob_loss == 0.0
    # Sharpe: block A: col 0 is constant 2 (+inf), so it wins; OOS col 0 is flat at 0 (Sharpe 0), col 1 flat at 1
    # (+inf), col 2 flat at 3 (+inf): col 0 ranks 1 of 3 again.
    res_sr = probability_of_backtest_overfitting(r, n_partitions=2)
    assert res_sr.best_config[0] == 0
    assert res_sr.logits[0] == pytest.approx(math.log(1 / 3))
    assert res_sr.oos_metric[0] == 0.0


def test_pbo_hand_computed_median_rank_counts_as_overfit():
    # N=3, IS winner ranks 2 of 3 OOS: w = 2/4, logit 0 -> counted in PBO (lambda <= 0)
    r = np.array([[3.0, 1.0, 0.0], [1.0, 0.0, 3.0]])
    res = probability_of_backtest_overfitting(r, n_partitions=2, metric="mean")
    assert res.best_config.tolist() == [0, 2]
    np.testing.assert_allclose(res.logits, [0.0, math.log(1 / 3)])
    assert res.pbo == 1.0


@pytest.mark.parametrize(("t", "s", "n"), [(8, 2, 3), (9, 4, 3), (23, 4, 5), (40, 6, 4), (37, 8, 6)])
def test_pbo_matches_brute_force(t, s, n):
    rng = np.random.default_rng(t * 100 + s * 10 + n)
    x = rng.standard_normal((t, n)) * 0.01 + rng.normal(0, 0.002, n)
    pbo, logits, is_m, oos_m, best = brute_force_pbo(x, s)
    res = probability_of_backtest_overfitting(x, n_partitions=s)
    assert res.n_combinations == math.comb(s, s // 2)
    np.testing.assert_array_equal(res.best_config, best)
    np.testing.assert_allclose(res.logits, logits, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.is_metric, is_m, rtol=1e-9)
    np.testing.assert_allclose(res.oos_metric, oos_m, rtol=1e-9)
    assert res.pbo == pbo
    assert res.prob_loss == np.mean(oos_m < 0)
    # the callable path is the same computation
    res_callable = probability_of_backtest_overfitting(
        x, n_partitions=s, metric=lambda m: m.mean(axis=0) / m.std(axis=0, ddof=1))
    np.testing.assert_allclose(res_callable.logits, res.logits, atol=1e-12)
    np.testing.assert_allclose(res_callable.oos_metric, res.oos_metric, rtol=1e-9)
    # mean metric too
    pbo_m, logits_m, *_ = brute_force_pbo(x, s, metric=lambda m: m.mean(axis=0))
    res_m = probability_of_backtest_overfitting(x, n_partitions=s, metric="mean")
    np.testing.assert_allclose(res_m.logits, logits_m, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 6), s=st.sampled_from([2, 4, 6]),
       extra=st.integers(0, 15), zero_cols=st.integers(0, 2))
def test_pbo_twin_property(seed, n, s, extra, zero_cols):
    """Fast per-block kernel == brute force, also with flat (never trading) columns and ties."""
    rng = np.random.default_rng(seed)
    t = 2 * s + extra
    x = rng.standard_normal((t, n))
    x[:, :min(zero_cols, n - 1)] = 0.0
    pbo, logits, is_m, oos_m, best = brute_force_pbo(x, s, metric=_sharpe_with_flat)
    res = probability_of_backtest_overfitting(x, n_partitions=s)
    np.testing.assert_array_equal(res.best_config, best)
    np.testing.assert_allclose(res.logits, logits, atol=1e-12)
    assert res.pbo == pbo
    # Sharpe is scale-invariant: scaling every return by a positive constant changes nothing
    res_scaled = probability_of_backtest_overfitting(x * 37.5, n_partitions=s)
    np.testing.assert_array_equal(res_scaled.best_config, res.best_config)
    np.testing.assert_allclose(res_scaled.logits, res.logits, atol=1e-12)


def _sharpe_with_flat(m):
    mean, sd = m.mean(axis=0), m.std(axis=0, ddof=1)
    flat = np.where(mean > 0, np.inf, np.where(mean < 0, -np.inf, 0.0))
    return np.where(sd > 0, mean / np.where(sd > 0, sd, 1.0), flat)


# --------------------------------------------------------------------------- #
# PBO: behaviour on constructed data
# --------------------------------------------------------------------------- #
def test_pbo_s16_enumerates_12870_combinations():
    rng = np.random.default_rng(0)
    res = probability_of_backtest_overfitting(rng.standard_normal((160, 4)))
    assert res.n_partitions == 16
    assert res.n_combinations == 12_870 == math.comb(16, 8)
    assert res.combinations.shape == (12_870, 8)
    assert len({tuple(c) for c in res.combinations}) == 12_870
    assert res.block_bounds.tolist() == list(range(0, 161, 10))
    for arr in (res.logits, res.is_metric, res.oos_metric, res.best_config):
        assert arr.shape == (12_870,)
    assert set(res.to_dict()) >= {"pbo", "prob_loss", "n_combinations", "degradation_slope"}


def test_pbo_uneven_blocks_use_every_row():
    res = probability_of_backtest_overfitting(np.random.default_rng(1).standard_normal((23, 3)), n_partitions=4)
    assert res.block_bounds.tolist() == [0, 6, 12, 18, 23]


def test_pbo_pure_noise_is_about_one_half():
    # one data set's PBO varies a lot (combinations overlap): average 100 seeded data sets
    pbos = [probability_of_backtest_overfitting(np.random.default_rng(seed).standard_normal((200, 10)),
                                                n_partitions=8).pbo for seed in range(100)]
    assert np.mean(pbos) == pytest.approx(0.5, abs=0.08)


def test_pbo_real_edge_is_about_zero():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1600, 10))
    x[:, 0] += 0.15
    res = probability_of_backtest_overfitting(x, n_partitions=16)
    assert res.pbo < 0.05
    assert np.mean(res.best_config == 0) > 0.95
    assert res.prob_loss < 0.05


def test_pbo_mean_reverting_performance_is_about_one():
    """Each config is good in some blocks and equally bad in the others: IS winners are OOS losers."""
    rng = np.random.default_rng(2)
    s, per_block, n = 8, 50, 10
    block_means = rng.normal(0, 0.5, (s, n))
    block_means -= block_means.mean(axis=0)         # every config earns 0 over the whole sample
    noise = rng.standard_normal((s * per_block, n))
    noise -= noise.mean(axis=0)
    x = np.repeat(block_means, per_block, axis=0) + noise
    res_mean = probability_of_backtest_overfitting(x, n_partitions=s, metric="mean")
    assert res_mean.pbo == 1.0                       # IS mean = -OOS mean exactly: the winner is the OOS worst
    np.testing.assert_allclose(res_mean.oos_metric, -res_mean.is_metric, atol=1e-12)
    assert res_mean.prob_loss == 1.0
    res = probability_of_backtest_overfitting(x, n_partitions=s)
    assert res.pbo > 0.9
    assert res.prob_loss > 0.9
    assert res.degradation_slope < 0


def test_pbo_accepts_dataframe_and_callable_metric():
    rng = np.random.default_rng(3)
    df = pd.DataFrame(rng.standard_normal((40, 3)), columns=["fast", "mid", "slow"],
                      index=pd.date_range("2024-01-02 09:00", periods=40, freq="min", tz="America/Sao_Paulo"))

    def total_return(m):
        return m.sum(axis=0)

    res = probability_of_backtest_overfitting(df, n_partitions=4, metric=total_return)
    assert res.metric == "total_return"
    assert res.columns == ["fast", "mid", "slow"]
    np.testing.assert_allclose(res.logits, brute_force_pbo(df.to_numpy(), 4, metric=total_return)[1])


@pytest.mark.parametrize(
    ("x", "kwargs", "exc", "match"),
    [
        (np.zeros((20, 3)), {"n_partitions": 5}, ParameterError, "`n_partitions` must be even"),
        (np.zeros((20, 3)), {"n_partitions": 0}, ParameterError, "`n_partitions`"),
        (np.zeros((20, 3)), {"n_partitions": 4.0}, TypeError, "`n_partitions`"),
        (np.zeros((6, 3)), {"n_partitions": 8}, ParameterError, "n_periods = 6"),
        (np.zeros((3, 3)), {"n_partitions": 2}, ParameterError, ">= 2 rows per half"),
        (np.zeros((20, 1)), {}, ParameterError, ">= 2 columns"),
        (np.zeros(20), {}, ParameterError, "2-D"),
        (np.zeros((20, 3)), {"n_partitions": 4, "metric": "sharp"}, ParameterError, "did you mean 'sharpe'"),
        (np.zeros((20, 3)), {"n_partitions": 4, "metric": 3}, TypeError, "`metric`"),
        (np.zeros((20, 3)), {"n_partitions": 4, "metric": lambda m: m.mean()}, ParameterError, "3 values"),
        (np.zeros((20, 3)), {"n_partitions": 4, "metric": lambda m: np.full(3, np.nan)}, ParameterError, "NaN"),
    ],
)
def test_pbo_bad_args_name_them(x, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        probability_of_backtest_overfitting(x, **kwargs)


def test_pbo_nan_names_the_column():
    df = pd.DataFrame(np.zeros((20, 3)), columns=["a", "b", "c"])
    df.loc[7, "b"] = np.nan
    df.loc[9, "c"] = np.inf
    with pytest.raises(ParameterError, match=r"column 'b' .*nan at 7 \(row 7\).*2 columns affected"):
        probability_of_backtest_overfitting(df, n_partitions=4)
    arr = np.zeros((20, 3))
    arr[3, 2] = np.nan
    with pytest.raises(ParameterError, match="column 2 .*row 3"):
        probability_of_backtest_overfitting(arr, n_partitions=4)


def test_per_period_checked_lets_genuine_large_per_period_sharpes_through():
    """A steady loser has a per-session Sharpe below -1: the 'looks annualised'
    guard must stay on by default but be skippable by callers that computed it."""
    import numpy as np
    import pytest

    from engines.overfit import deflated_sharpe_ratio
    from ml.exceptions import ParameterError

    trials = [-2.2, -1.9, 0.1, 0.3, -1.5]
    with pytest.raises(ParameterError, match="annualised"):
        deflated_sharpe_ratio(sr=0.3, n=48, trial_sharpes=trials)
    res = deflated_sharpe_ratio(sr=0.3, n=48, trial_sharpes=trials, per_period_checked=True)
    assert 0.0 <= res.dsr <= 1.0 and res.sr_variance == pytest.approx(np.var(trials, ddof=1))
