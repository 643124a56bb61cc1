"""The drift statistics against hand-computed numbers and textbook results."""

import math

import numpy as np
import pandas as pd
import pytest

from ml.exceptions import ParameterError
from ml.monitoring import adversarial_auc, bin_edges, ece, ks, paired_session_test, psi, session_bands


def test_psi_by_hand():
    # reference split 50/50 at 0.5; current 25/75: (0.25-0.5) ln(0.5) + (0.75-0.5) ln(1.5)
    ref, cur = [0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 1.0, 1.0]
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert psi(ref, cur, edges=np.array([0.5])) == pytest.approx(expected, rel=1e-12)
    assert psi(ref, ref, edges=np.array([0.5])) == 0.0
    # an empty bin counts as a share of 1e-4, not as infinity
    assert psi(ref, [1.0, 1.0], edges=np.array([0.5])) == pytest.approx(
        (1e-4 - 0.5) * math.log(1e-4 / 0.5) + 0.5 * math.log(2.0), rel=1e-12)
    assert math.isnan(psi([np.nan], [1.0]))


def test_psi_is_near_zero_for_the_same_distribution_and_large_for_a_tripled_scale():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=5000)
    assert psi(ref, rng.normal(size=1000)) < 0.05
    assert psi(ref, 3 * rng.normal(size=1000)) > 0.5
    assert len(bin_edges(ref, 10)) == 9 and len(bin_edges(np.zeros(50))) == 1   # ties merge


def test_ks_by_hand():
    stat, p = ks([1, 2, 3, 4], [3, 4, 5, 6])
    assert stat == 0.5 and 0 < p <= 1
    assert ks([1.0, np.nan, 2.0], [1.0, 2.0]) == ks([1.0, 2.0], [1.0, 2.0])   # NaN dropped
    assert all(math.isnan(v) for v in ks([np.nan], [1.0]))


def test_ece_by_hand_and_against_scikit_learns_calibration_curve():
    # bin of 0.1: outcomes mean 0.5, gap 0.4, half the rows; bin of 0.9: mean 1, gap 0.1, half the rows
    assert ece([0.1, 0.1, 0.9, 0.9], [0, 1, 1, 1]) == pytest.approx(0.5 * 0.4 + 0.5 * 0.1, rel=1e-12)
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(1)
    p = rng.uniform(size=4000)
    y = (rng.uniform(size=4000) < p ** 1.5).astype(float)
    frac, mean_p = calibration_curve(y, p, n_bins=10, strategy="uniform")
    counts = np.histogram(p, bins=np.linspace(0, 1, 11))[0]
    counts = counts[counts > 0]
    assert ece(p, y) == pytest.approx(float(np.sum(counts / counts.sum() * np.abs(frac - mean_p))), rel=1e-9)


def test_adversarial_auc_tells_a_shifted_sample_apart_and_not_the_same_one():
    rng = np.random.default_rng(2)
    ref = rng.normal(size=(600, 3))
    assert abs(adversarial_auc(ref, rng.normal(size=(600, 3))) - 0.5) < 0.08
    assert adversarial_auc(ref, rng.normal(size=(600, 3)) * [1, 1, 3]) > 0.75
    with pytest.raises(ParameterError):
        adversarial_auc(ref, rng.normal(size=(10, 2)))


def test_session_bands_match_normal_theory():
    rng = np.random.default_rng(3)
    r = rng.normal(0.001, 0.01, size=4000)
    bands = session_bands(r, [1, 9], n_draws=20000)
    for h in (1, 9):
        assert bands.loc[h, "q0.5"] == pytest.approx(h * 0.001, abs=0.0015)
        assert bands.loc[h, "q0.05"] == pytest.approx(h * 0.001 - 1.645 * 0.01 * math.sqrt(h), rel=0.05)
        assert bands.loc[h, "q0.95"] == pytest.approx(h * 0.001 + 1.645 * 0.01 * math.sqrt(h), rel=0.05)
    with pytest.raises(ParameterError, match="at least 2"):
        session_bands([0.1], [1])


def test_paired_session_test_against_the_t_table():
    a = pd.Series([0.0] * 5, index=pd.date_range("2024-01-01", periods=5))
    b = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0], index=a.index)
    out = paired_session_test(a, b)
    # mean 3, sd sqrt(2.5): t = 3 / (sqrt(2.5) / sqrt(5)) = 4.2426 with 4 degrees of freedom, one-sided p 0.0066
    assert out["sessions"] == 5 and out["mean_difference"] == 3.0
    assert out["t_test_p"] == pytest.approx(0.0066, abs=2e-4)
    assert out["verdict"].startswith("challenger better")
    worse = paired_session_test(b, a)
    assert worse["t_test_p"] > 0.99 and worse["verdict"].startswith("no evidence")
    # only common sessions count; fewer than 3 cannot be tested
    short = paired_session_test(a.iloc[:2], b)
    assert short["sessions"] == 2 and math.isnan(short["t_test_p"]) and short["verdict"].startswith("not enough")
